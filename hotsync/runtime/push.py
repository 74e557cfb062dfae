"""The push: one ``rsync`` process through the tunnel to the slave's rsync daemon.

The command line: ``-r -a -H -A`` (tree, attributes, hard links, ACLs), ``--delete-delay``
(deletions after the transfer: measured about 3x faster than ``--delete`` with 1 % changed,
for the same result), ``--files-from`` and ``--exclude-from``, no compression unless the plan
asks (zlib doubles a first sync on a LAN), an I/O ``--timeout`` so a stalled transfer ends,
the password through ``--password-file`` (never argv), and ``--bwlimit`` when the plan caps
what a push sends. rsync writes each file to a temp
name and renames it, so a file on the slave is always its old or its new complete version.

Every option means the same from rsync 3.1.2 (NethServer 7) to today's, on either end;
where a newer rsync offers more, the choice follows the version the plan recorded
(``push_display_options``). Two are left out on purpose: ``--modify-window=-1`` (a
nanosecond comparison from 3.1.3 on, "every two times are equal" on a 3.1.2 slave: a
rewritten dump of the same size would never be sent; HotSync gives every rewrite a later
time instead, see ``hotsync.files``) and ``--early-input`` (3.2.4; the promotion generation
travels as ``--checksum-seed``, see ``fence.py``).

Exit codes: 0 success; 24 (files vanished during the run, normal on a live server) success
with a warning; 23 failure naming the files; 25 the delete guard's cap stopped deletions;
anything else a failure with rsync's own message.
"""

import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, List, Optional, Sequence, Tuple, cast

from ..errors import last_lines
from ..frozen import field, frozen
from ..paths import STUNNEL_LOG
from ..plan import Plan, Transport
from ..root import Root
from ..tool_versions import at_least
from .diagnose import explain_push_failure, tunnel_log_since, tunnel_log_size
from .fence import own_generation, refusal_reason
from .sealing import backup_options, new_push_name

# --info=del lists each deletion: the only count a receiving rsync 3.1.2 gives (see parse_stats).
RSYNC_TREE_OPTIONS = ("-r", "-a", "-H", "-A", "--delete-delay", "--info=del")
# Without it each rsync connection through the tunnel waits twice for a delayed ACK
# (about 40 ms each); it only pays off when stunnel and rsyncd set it too.
RSYNC_SOCKET_OPTIONS = "--sockopts=TCP_NODELAY"
# The whole file list up front, so the percentage means the whole run (rsync >= 3.1.0).
OVERALL_PROGRESS_OPTIONS = ("--info=progress2", "--no-inc-recursive")
OVERALL_PROGRESS_SINCE = (3, 1, 0)
EXIT_PARTIAL = 23
EXIT_VANISHED = 24
EXIT_MAX_DELETE = 25
EXIT_TIMEOUT = 30
# Exits after which the transfer ran to its end (the slave holds a complete, if imperfect, copy).
COMPLETED_EXITS = (0, EXIT_PARTIAL, EXIT_VANISHED, EXIT_MAX_DELETE)
NAMED_FILES_SHOWN = 10


@frozen
class TransferStats:
    """What rsync's ``--stats`` reported."""

    files_total: int = 0  # files, folders and links the push considered
    files_transferred: int = 0
    files_deleted: int = 0
    bytes_transferred: int = 0  # size of the files sent (before the delta algorithm)
    bytes_sent: int = 0  # bytes that actually went through the tunnel


@frozen
class PushResult:
    exit_code: Optional[int]  # None: rsync never ran
    completed: bool
    errors: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()
    stats: TransferStats = field(default_factory=TransferStats)
    changes: Tuple[str, ...] = ()  # itemized changes (dry run)
    delete_cap_hit: bool = False  # --max-delete refused deletions


def push_display_options(rsync_version: str) -> List[str]:
    """How rsync shows a push's progress on a terminal: one overall percentage where it can."""
    return list(OVERALL_PROGRESS_OPTIONS) if at_least(rsync_version, OVERALL_PROGRESS_SINCE) else ["--progress"]


PREVIEW_MODULE_SUFFIX = "-preview"


def rsync_destination(transport: Transport, dry_run: bool = False) -> str:
    """The slave's module, reached through the local end of the tunnel.

    A dry run goes to the preview module: the same folder, but the slave stamps its sync
    marker only after a real push.
    """
    module = transport.module + (PREVIEW_MODULE_SUFFIX if dry_run else "")
    return f"rsync://{transport.user}@127.0.0.1:{transport.rsync_port}/{module}/"


def source_folder(root: Root) -> str:
    """The root as rsync's source: list entries are relative to it."""
    return str(root.base).rstrip("/") + "/"


def build_push_command(
    root: Root,
    plan: Plan,
    include_file: Path,
    exclude_file: Path,
    *,
    guard_file: Optional[Path] = None,
    max_delete: Optional[int] = None,
    dry_run: bool = False,
    progress: bool = False,
    generation_options: Sequence[str] = (),
    delete_missing: bool = False,
    checksum: bool = False,
    push_name: str = "",
) -> List[str]:
    """The argv of the main push (no secret in it: the password is in the plan's 0600 file).

    ``delete_missing``: a listed path that does not exist is deleted on the slave (the
    continuous push lists the deleted paths; ``--delete-missing-args`` is in rsync 3.1.0 on).
    ``checksum``: files of the same size are compared by content, not by time: the continuous
    push lists files it saw change, and rsync's quick check takes a rewrite of the same size
    within the same second as the version the slave has for no change at all.

    ``generation_options`` carry this master's promotion generation to the slave, which
    checks it to fence off a stale master (``fence.generation_options``).

    ``push_name`` names the slave's folder for what this push replaces (``sealing``; a new
    one when empty).
    """
    argv = ["rsync", *RSYNC_TREE_OPTIONS, f"--files-from={include_file}", *generation_options]
    if guard_file is not None:
        argv.append(f"--filter=merge {guard_file}")  # protect rules first: the first match wins
    argv.append(f"--exclude-from={exclude_file}")
    if max_delete is not None:
        argv.append(f"--max-delete={max_delete}")
    if delete_missing:
        argv.append("--delete-missing-args")
    if checksum:
        argv.append("--checksum")
    if plan.compress:
        argv.append("-z")
    if plan.limits.bwlimit:
        # A bare number is KiB/s in every rsync (units came in 3.1.0): the plan keeps KiB/s.
        argv.append(f"--bwlimit={plan.limits.bwlimit}")
    if plan.restore_points and not dry_run:
        argv += backup_options(push_name or new_push_name())
    argv += [f"--timeout={plan.limits.io_timeout}", f"--password-file={root.path(plan.transport.password_file)}"]
    argv += [RSYNC_SOCKET_OPTIONS, "--stats"]
    if dry_run:
        argv += ["--dry-run", "--itemize-changes"]
    elif progress:
        argv += push_display_options(plan.tools.rsync)
    argv += [source_folder(root), rsync_destination(plan.transport, dry_run)]
    return argv


def push_tree(
    root: Root,
    plan: Plan,
    argv: Sequence[str],
    max_delete: Optional[int] = None,
    progress_stream: Optional[IO[str]] = None,
) -> PushResult:
    """Run the push and judge its outcome."""
    missing = missing_password_file(root, plan)
    if missing:
        return PushResult(exit_code=-1, completed=False, errors=(missing,))
    log_offset = tunnel_log_size(root, STUNNEL_LOG)
    code, output, error_output = run_rsync(argv, progress_stream)
    tunnel_log = tunnel_log_since(root, STUNNEL_LOG, log_offset) if code not in COMPLETED_EXITS else ""
    errors, warnings = judge_exit(root, plan, code, error_output, max_delete, output, tunnel_log)
    return PushResult(
        exit_code=code,
        completed=code in COMPLETED_EXITS,
        errors=errors,
        warnings=warnings,
        stats=parse_stats(output),
        changes=parse_changes(output) if "--dry-run" in argv else (),
        delete_cap_hit=bool(deletions_skipped(error_output)) or code == EXIT_MAX_DELETE,
    )


# rsync's exits when the connection to the slave's daemon failed or broke: 5, the daemon never
# greeted; 10, socket I/O; 12, the stream broke; 35, no daemon connection in time.
CONNECTION_EXITS = (5, 10, 12, 35)


def connection_lost(exit_code: Optional[int], errors: str) -> bool:
    """Whether a push failed because the tunnel or the slave's daemon did not answer, or stopped
    answering (a tunnel restarting), rather than because of what the slave said (``@ERROR``:
    a refused password, an unknown module, the fence)."""
    return exit_code in CONNECTION_EXITS and "@ERROR" not in errors


def missing_password_file(root: Root, plan: Plan) -> str:
    """An error when the password file the plan names is absent, else ""."""
    if root.path(plan.transport.password_file).is_file():
        return ""
    return (
        f"no rsync password file at {plan.transport.password_file}: set the password "
        "('config setprop rsyncd password ...') and run 'hotsync compile'"
    )


def run_rsync(argv: Sequence[str], progress_stream: Optional[IO[str]] = None) -> Tuple[int, str, str]:
    """Run rsync; returns its exit code, stdout and stderr.

    Not ``run_command``: the progress shown on a terminal must be read while rsync runs,
    and a push has no overall time limit (the I/O timeout bounds a stall instead). stderr
    goes to a file so neither pipe can fill up and block rsync. The C locale keeps the
    numbers of ``--stats`` parseable.
    """
    environment = dict(os.environ, LC_ALL="C")
    environment.pop("RSYNC_PASSWORD", None)  # the plan's password file is the only source
    chunks: List[bytes] = []
    with tempfile.TemporaryFile() as error_file:
        try:
            process = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=error_file, env=environment
            )
        except OSError as error:
            return 127, "", f"cannot start rsync: {error.strerror}"
        # stdout=PIPE with the default buffering: a BufferedReader, whose read1 returns what is there
        stdout = cast(io.BufferedReader, process.stdout)
        try:
            while True:
                chunk = stdout.read1(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                if progress_stream is not None:
                    show_progress(chunk.decode("utf-8", "replace"), progress_stream)
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            stdout.close()
        if progress_stream is not None:
            progress_stream.write("\n")
            progress_stream.flush()
        error_file.seek(0)
        error_output = error_file.read().decode("utf-8", "replace")
    return code, b"".join(chunks).decode("utf-8", "surrogateescape"), error_output


def show_progress(text: str, stream: IO[str]) -> None:
    """Echo rsync's overall progress lines (``--info=progress2``) on one terminal line."""
    for piece in re.split(r"[\r\n]", text):
        if re.search(r"\d+%", piece):
            stream.write("\r" + piece.strip().ljust(70))
            stream.flush()


def judge_exit(
    root: Root, plan: Plan, code: int, error_output: str, max_delete: Optional[int], output: str = "",
    tunnel_log: str = "",
) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(errors, warnings) for rsync's exit code, with rsync's own words; a push that did not
    reach the slave's daemon first says why and what to do (``diagnose.py``, from rsync's
    words and ``tunnel_log``, this push's lines of the tunnel's log).

    The delete cap is recognised by rsync's message, not only by exit 25: pushing to a
    daemon, rsync 3.5 reports the skipped deletions but exits 0.
    """
    refusal = "" if code in COMPLETED_EXITS else refusal_reason(error_output, output, own_generation(root))
    if refusal:
        # The slave's fence said why, in words meant for the admin: nothing else matters.
        return (refusal,), ()
    errors = []
    skipped = deletions_skipped(error_output)
    if skipped or code == EXIT_MAX_DELETE:
        errors.append(
            f"delete guard: this push would delete more than {plan.limits.max_delete_percent} % of the "
            f"slave's files; {max_delete} deletion(s) were made and {skipped or 'the other'} refused. "
            "Check the master's data, then run 'hotsync sync --force-delete' if the deletions are intended"
        )
    if code in (0, EXIT_MAX_DELETE):
        return tuple(errors), ()
    if code == EXIT_VANISHED:
        names = named_files(root, error_output, "vanished")
        vanished = f"{len(names) or 'some'} file(s) vanished during the transfer (normal on a live server)"
        return tuple(errors), (vanished + _listing(names),)
    if code == EXIT_PARTIAL:
        names = named_files(root, error_output)
        return tuple(errors) + (f"some files could not be transferred (rsync exit 23){_listing(names)}",), ()
    if code == EXIT_TIMEOUT:
        stalled = (f"the transfer stalled for more than {plan.limits.io_timeout} s and was stopped: "
                   f"{last_lines(error_output) or 'no output'}")
        return tuple(errors) + (stalled,), ()
    message = f"rsync failed (exit {code}): {last_lines(error_output) or 'no output'}"
    explanation = explain_push_failure(plan, error_output, tunnel_log)
    if explanation:
        message = f"{explanation} [{message}]"
    return tuple(errors) + (message,), ()


_SKIPPED_DELETIONS = re.compile(r"Deletions stopped due to --max-delete limit \((\d+) skipped\)")


def deletions_skipped(error_output: str) -> int:
    """How many deletions rsync's ``--max-delete`` refused (0 when it did not stop any)."""
    found = _SKIPPED_DELETIONS.search(error_output)
    return int(found.group(1)) if found else 0


_QUOTED = re.compile(r'"([^"]+)"')


def named_files(root: Root, error_output: str, keyword: str = "") -> List[str]:
    """Host paths quoted in rsync's messages (only lines containing ``keyword``)."""
    prefix = str(root.base).rstrip("/")
    names = []
    for line in error_output.splitlines():
        if keyword and keyword not in line:
            continue
        for quoted in _QUOTED.findall(line):
            if prefix and quoted.startswith(prefix + "/"):
                quoted = quoted[len(prefix):]
            elif not quoted.startswith("/"):
                quoted = "/" + quoted
            names.append(quoted)
    return list(dict.fromkeys(names))


def _listing(names: List[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:NAMED_FILES_SHOWN])
    more = len(names) - NAMED_FILES_SHOWN
    return f": {shown}" + (f" and {more} more" if more > 0 else "")


_STATS = {
    "files_total": re.compile(r"^Number of files: ([\d,]+)", re.M),
    "files_transferred": re.compile(r"^Number of regular files transferred: ([\d,]+)", re.M),
    "files_deleted": re.compile(r"^Number of deleted files: ([\d,]+)", re.M),
    "bytes_transferred": re.compile(r"^Total transferred file size: ([\d,]+)", re.M),
    "bytes_sent": re.compile(r"^Total bytes sent: ([\d,]+)", re.M),
}


_DELETION = re.compile(r"^\*?deleting +\S", re.M)


def parse_stats(output: str) -> TransferStats:
    """The numbers of rsync's ``--stats`` block (zeros for what is absent).

    A receiving rsync 3.1.2 does not report its deletions to the sender (its count stays 0):
    they are then counted from the lines ``--info=del`` prints, one a deletion.
    """
    values = {}
    for name, pattern in _STATS.items():
        found = pattern.search(output)
        values[name] = int(found.group(1).replace(",", "")) if found else 0
    values["files_deleted"] = values["files_deleted"] or len(_DELETION.findall(output))
    return TransferStats(**values)


_ITEM = re.compile(r"^(\*deleting|[<>ch.][fdLDSp][^\s]{7,10})\s+(.+)$")


def parse_changes(output: str) -> Tuple[str, ...]:
    """rsync's itemized lines as ``CODE /host/path`` (what a dry run would change)."""
    changes = []
    for line in output.splitlines():
        found = _ITEM.match(line)
        if found:
            changes.append(f"{found.group(1):<11} /{found.group(2).lstrip('/')}")
    return tuple(changes)


def progress_wanted() -> bool:
    """Progress only for a person at a terminal; never under cron."""
    return sys.stdout.isatty()
