"""The include and exclude lists of one push.

In order: the active rules' own paths and their list files (``/etc/backup-data.d/*.include``
and friends), minus the excludes an active rule withdraws (``unexclude``); then the plugins
in the plan's plugin folder, run as ``script INCLUDE_FILE EXCLUDE_FILE``, which may append to
or edit both files; then the fixed entries no plugin may remove. Once the dumps and the
configuration backup are made, ``split_existing`` keeps only include entries that exist.
The cost follows the number of rules and list lines, never the number of files on disk:
nothing here walks a tree.
"""

import fnmatch
import glob
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, List, Sequence, Tuple

from .. import paths
from ..errors import last_lines
from ..files import write_file_atomic
from ..frozen import frozen
from ..plan import Action, Dump, Plan
from ..root import Root
from .backup import CONFIG_BACKUP_FILES
from .conditions import InstalledPackages, RuleState, evaluate_rules
from .dumps import PARTIAL_SUFFIX

# Excluded after the plugins ran, as the original did: the backup folder (only the
# configuration backup inside it is pushed), the e-smith databases (each host keeps its
# own role and settings) and the logs.
FIXED_EXCLUDES = tuple(paths.as_folder(folder) for folder in (paths.BACKUP_FOLDER, paths.DATABASE_FOLDER,
                                                                paths.LOG_FOLDER))

# HotSync's own state and the files compiled for one role: pushing the master's copy would
# overwrite the slave's plan, status, schedule, tunnel and daemon settings. Excluded files
# are also protected from deletion on the slave. The rules under /etc/hotsync/ do travel,
# so a promoted slave has the admin's own rules.
RUNTIME_EXCLUDES = (
    paths.as_folder(paths.STATE_FOLDER),
    paths.as_folder(paths.RUN_FOLDER),
    paths.as_folder(paths.SANDBOX_FOLDER),
    paths.LOCK_PATH,
    paths.HOTSYNC_CONF,
    paths.CRON_FILE,
    paths.RSYNCD_CONF,
    paths.RSYNCD_SECRETS,
    paths.as_folder(paths.STUNNEL_FOLDER),
    f"*{PARTIAL_SUFFIX}",  # a dump left half-written by a crash
)


@frozen
class PluginFailure:
    """A plugin that failed or ran out of time; the sync goes on without its changes' guarantee."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.name} {self.message}"


@frozen
class SyncLists:
    """What one push transfers, and what the rules decided on the way."""

    includes: Tuple[str, ...]  # host paths, in order, no duplicates (not yet checked for existence)
    excludes: Tuple[str, ...]  # rsync exclude patterns
    rules: Tuple[RuleState, ...]
    dumps: Tuple[Dump, ...]  # of the active rules
    actions: Tuple[Action, ...]  # the active rules' programs to run before the push, in plan order
    warnings: Tuple[str, ...]
    plugin_failures: Tuple[PluginFailure, ...]


@frozen
class RuleLists:
    includes: Tuple[str, ...]
    excludes: Tuple[str, ...]
    warnings: Tuple[str, ...]


def build_lists(
    root: Root, plan: Plan, workdir: Path, packages: InstalledPackages, dry_run: bool = False
) -> SyncLists:
    """Evaluate the rules now, run the plugins and return the push's lists.

    ``workdir`` is a private folder for the plugins' list files. Plugin failures are
    collected, never raised.
    """
    states = evaluate_rules(root, plan, packages)
    active = [state.rule for state in states if state.active]
    from_rules = collect_rule_lists(root, states)
    include_file, exclude_file = workdir / "include", workdir / "exclude"
    write_file_atomic(include_file, _as_lines(from_rules.includes), mode=0o600, durable=False)
    write_file_atomic(exclude_file, _as_lines(from_rules.excludes), mode=0o600, durable=False)
    failures = run_plugins(root, plan, include_file, exclude_file, dry_run)
    includes = _unique(read_list_file(include_file) + list(CONFIG_BACKUP_FILES))
    excludes = _unique(read_list_file(exclude_file) + list(FIXED_EXCLUDES) + list(runtime_excludes(plan)))
    warnings = list(from_rules.warnings)
    for rule in active:
        warnings.extend(f"{rule.name}: {text}" for text in rule.warnings)
    return SyncLists(
        includes=tuple(includes),
        excludes=tuple(excludes),
        rules=states,
        dumps=tuple(dump for rule in active for dump in rule.dumps),
        actions=_unique_programs(action for rule in active for action in rule.before_push),
        warnings=tuple(warnings),
        plugin_failures=failures,
    )


def runtime_excludes(plan: Plan) -> Tuple[str, ...]:
    """The fixed runtime excludes plus the secret files the plan names."""
    return RUNTIME_EXCLUDES + (plan.transport.password_file, plan.transport.psk_file)


def collect_rule_lists(root: Root, states: Sequence[RuleState]) -> RuleLists:
    """The active rules' includes and excludes (with their list files), unexcludes applied."""
    includes: List[str] = []
    excludes: List[str] = []
    withdrawn: List[str] = []
    warnings: List[str] = []
    for state in states:
        if not state.active:
            continue
        rule = state.rule
        includes.extend(entry.path for entry in rule.include)
        excludes.extend(entry.path for entry in rule.exclude)
        withdrawn.extend(entry.path for entry in rule.unexclude)
        for pattern in rule.include_lists:
            includes.extend(read_include_list_files(root, pattern.path, warnings))
        for pattern in rule.exclude_lists:
            excludes.extend(read_list_files(root, pattern.path, warnings))
    kept = [entry for entry in excludes if not is_withdrawn(entry, withdrawn)]
    return RuleLists(tuple(_unique(includes)), tuple(_unique(kept)), tuple(warnings))


def is_withdrawn(exclude: str, unexcludes: Iterable[str]) -> bool:
    """An exclude is withdrawn by an unexclude naming the same path (trailing ``/`` ignored) or a glob matching it."""
    bare = exclude.rstrip("/")
    return any(bare == pattern.rstrip("/") or fnmatch.fnmatchcase(bare, pattern.rstrip("/")) for pattern in unexcludes)


def read_list_files(root: Root, pattern: str, warnings: List[str]) -> List[str]:
    """The entries of every list file matching the host glob ``pattern``, files in name order."""
    return [entry for entry, _where in list_file_entries(root, pattern, warnings)]


def read_include_list_files(root: Root, pattern: str, warnings: List[str]) -> List[str]:
    """Like ``read_list_files``, for include lists: an entry that is not an absolute host path
    is left out with a warning that names its place, never its text. A rule may point at a
    file that is not a list (``include from "/etc/shadow"``): its lines must not reach the
    status file, the log or a mail."""
    entries = []
    for entry, where in list_file_entries(root, pattern, warnings):
        if is_host_path(root, entry):
            entries.append(entry)
        else:
            warnings.append(f"{where}: ignored an entry that is not an absolute host path")
    return entries


def is_host_path(root: Root, entry: str) -> bool:
    """Whether ``entry`` names a path of the host (absolute, not climbing with ``..``)."""
    try:
        root.path(entry)
    except ValueError:
        return False
    return True


def list_file_entries(root: Root, pattern: str, problems: List[str]) -> List[Tuple[str, str]]:
    """(entry, ``LISTFILE:LINE``) of every list file matching the host glob ``pattern``, files in
    name order; what cannot be read is said in ``problems``. ``hotsync explain`` shows the places."""
    try:
        real_pattern = str(root.path(pattern))
    except ValueError as error:
        problems.append(f"ignored list files {pattern!r}: {error}")
        return []
    entries: List[Tuple[str, str]] = []
    for name in sorted(glob.glob(real_pattern)):
        real = Path(name)
        host = "/" + real.relative_to(root.base).as_posix()  # lexical: a linked list file stays named as listed
        try:
            text = real.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            problems.append(f"cannot read list file {host}: {error.strerror}")
            continue
        entries.extend((entry, f"{host}:{number}") for number, entry in numbered_entries(text))
    return entries


def read_list_file(path: Path) -> List[str]:
    """The entries of one list file."""
    return [entry for _number, entry in numbered_entries(path.read_text(encoding="utf-8", errors="surrogateescape"))]


def numbered_entries(text: str) -> List[Tuple[int, str]]:
    """(line number, entry) of a list file's text: blank lines and ``#`` comments skipped, blanks stripped."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]


def split_existing(root: Root, includes: Iterable[str]) -> Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]:
    """Include entries split into existing, missing and invalid (one ``lstat`` each).

    Invalid entries are those that are not absolute host paths (or climb with ``..``).
    """
    existing: List[str] = []
    missing: List[str] = []
    invalid: List[str] = []
    for entry in includes:
        try:
            real = root.path(entry)
        except ValueError:
            invalid.append(entry)
            continue
        (existing if os.path.lexists(real) else missing).append(entry)
    return tuple(existing), tuple(missing), tuple(invalid)


_WILDCARDS = ("*", "?", "[")


def excludes_that_can_match(excludes: Iterable[str], includes: Iterable[str]) -> Tuple[str, ...]:
    """The exclude entries that can match something the push sends or may delete.

    rsync tests every file against every rule, on the master and again on the slave when
    it looks for deletions, and deletes only inside the included folders. An anchored
    rule for a place outside every include root (the rule of a package whose data is
    not synced, the runtime's own files) can never match there: leaving it out changes
    nothing but the time. A rule that is not a plain absolute path (a wildcard, a pattern
    without a leading ``/``, an rsync rule prefix) is always kept.
    """
    roots = [entry.rstrip("/") for entry in includes]
    kept = []
    for entry in excludes:
        bare = entry.rstrip("/")
        plain = entry.startswith("/") and not any(mark in entry for mark in _WILDCARDS)
        if not plain or not bare or any(_related(bare, root) for root in roots):
            kept.append(entry)
    return tuple(kept)


def _related(first: str, second: str) -> bool:
    """Whether one host path is the other or lies inside it ("" is ``/``)."""
    return first == second or first.startswith(second + "/") or second.startswith(first + "/")


def find_plugins(root: Root, plan: Plan) -> List[Path]:
    """Executable regular files of the plugin folder, in name order (hidden files skipped)."""
    folder = root.path(plan.plugin_dir)
    if not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.iterdir())
        if not path.name.startswith(".") and path.is_file() and os.access(path, os.X_OK)
    ]


def run_plugins(
    root: Root, plan: Plan, include_file: Path, exclude_file: Path, dry_run: bool
) -> Tuple[PluginFailure, ...]:
    """Run every plugin on the two list files; a failing or hung plugin is reported by name."""
    failures = []
    for plugin in find_plugins(root, plan):
        message = run_plugin(plugin, include_file, exclude_file, root, plan.limits.plugin_timeout, dry_run)
        if message:
            failures.append(PluginFailure(plugin.name, message))
    return tuple(failures)


def run_plugin(
    plugin: Path, include_file: Path, exclude_file: Path, root: Root, timeout: float, dry_run: bool
) -> str:
    """Run one plugin; "" when it succeeded, else what went wrong.

    Not ``run_command``: a plugin is usually a shell script whose own children (a hung
    ``sleep``, a stuck client) keep running after the script is killed and would keep a
    captured pipe open forever. So the plugin gets its own process group, killed as a
    whole at the deadline, and writes its output to a file instead of a pipe.
    """
    environment = dict(os.environ, HOTSYNC_ROOT=str(root.base), HOTSYNC_DRY_RUN="1" if dry_run else "0")
    with tempfile.TemporaryFile() as output:
        try:
            process = subprocess.Popen(
                [str(plugin), str(include_file), str(exclude_file)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=str(root.base),
                start_new_session=True,
            )
        except OSError as error:
            return f"could not start: {error.strerror}"
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return f"did not finish within {timeout:g} s and was stopped"
        except BaseException:
            _kill_group(process)  # the run itself is being stopped: take the plugin along
            raise
        _kill_group(process)  # leftovers of a finished plugin must not outlive the run
        if code != 0:
            output.seek(0)
            detail = last_lines(output.read().decode("utf-8", "replace")) or "no output"
            return f"failed (exit {code}): {detail}"
    return ""


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _unique_programs(actions: Iterable[Action]) -> Tuple[Action, ...]:
    """Each program once (the first rule naming it), however many active rules name it."""
    seen = set()
    unique = []
    for action in actions:
        if action.arguments not in seen:
            seen.add(action.arguments)
            unique.append(action)
    return tuple(unique)


def _unique(entries: Iterable[str]) -> List[str]:
    return list(dict.fromkeys(entries))


def _as_lines(entries: Iterable[str]) -> str:
    return "".join(f"{entry}\n" for entry in entries)
