"""One master push, start to end: ``run_sync`` is the runtime's entry point.

lock → lists (rules, list files, plugins) → the rules' programs to run before the push →
dumps → configuration backup → existing includes → delete guard → push → status,
``LastSyncTS``, log → mail. The slave's rsync
daemon stamps its own sync marker once the push has ended (``status.stamp_marker``).
Each step's failure is collected and the following steps still run where that is safe
(a failed dump still lets files sync); the result says everything that went wrong. A
program run before the push that fails is a warning, not an error: the push still runs, as
fresh data matter more than the file that program should have refreshed. A run
that an exception ends, a bug included, is recorded and mailed as a failed run as well.
A dry run makes no dump and no backup, writes nothing on either host (a crash's traceback
aside, in the log) and takes no lock.
"""

import tempfile
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..frozen import asdict, field, frozen
from ..host import host_for
from ..plan import Action, Plan
from ..root import Root
from .backup import make_config_backup
from .brake import (
    BrakeVerdict,
    held_pause,
    judge,
    leave_out,
    manifest_after_push,
    produced_by_hotsync,
    release_pause,
    scan_commands,
    scan_files,
    with_entropy,
)
from .conditions import InstalledPackages
from .dumps import DUMP_RECORD_PATH, DumpResult, make_dumps, record_dumps
from .failure import failure_recorded
from .fence import generation_options
from .guard import Baseline, GuardDecision, baseline_after, decide_guard
from .lists import SyncLists, build_lists, excludes_that_can_match, split_existing
from .lock import hold_sync_lock
from .manifest import read_manifest, real_name, write_manifest
from .metrics import write_metrics
from .notify import send_failure_mail
from .points import PUSH_ADDED_PATH
from .push import PushResult, build_push_command, connection_lost, push_tree, source_folder
from .sealing import new_push_name, write_push_added
from .status import append_log, iso_time, read_status, stored_count, write_last_sync, write_status

STATUS_RECORD_VERSION = 1


@frozen
class SyncResult:
    """How a run ended. ``outcome``: ``ok``, ``failed``, ``overlapping`` (another run held the lock)."""

    outcome: str  # or ``paused``: the brake stopped the push before anything was sent; or
    # ``unreached`` (asked for by ``quiet_unreached``): the slave's daemon did not answer, nothing recorded
    errors: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()
    changes: Tuple[str, ...] = ()  # dry run: what would change on the slave
    record: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome not in ("failed", "paused", "unreached")


def check_plan_can_sync(plan: Plan) -> None:
    """Refuse, with what to do, a plan this host cannot push with."""
    if plan.role != "master":
        role = plan.role or "no role"
        raise HotsyncError(f"this host is not the master (role: {role}); sync runs on the master only")
    if not plan.enabled:
        raise HotsyncError("HotSync is disabled on this host ('config setprop hotsync status enabled' to enable it)")
    if not plan.slave_host:
        raise HotsyncError("remote host is not configured ('config setprop hotsync SlaveHost ADDRESS')")


def run_sync(
    root: Root,
    plan: Plan,
    dry_run: bool = False,
    force_delete: bool = False,
    progress_stream: Optional[IO[str]] = None,
    force: bool = False,
    quiet_unreached: bool = False,
) -> SyncResult:
    """Run one push of ``root`` to the plan's slave.

    ``force``: push even what the brake would pause (and let deletions through the guard).
    ``quiet_unreached``: a push that does not reach the slave's daemon (its tunnel restarting
    while the continuous push starts) is not recorded nor mailed: outcome ``unreached``, for
    the caller to try again.

    Raises ``HotsyncError`` for an unusable plan, and for a run that an exception ended
    (``RunCrashed`` for an unexpected one) after recording it as a failed run.
    """
    check_plan_can_sync(plan)
    if dry_run:
        with failure_recorded(root, "a dry run"):  # records nothing but a crash's traceback
            return _run_steps(root, plan, True, force_delete or force, None, force)
    with hold_sync_lock(root) as held:
        if not held:
            return SyncResult("overlapping")
        started = time.time()
        with failure_recorded(root, "the sync", lambda message: _record_failure(root, plan, started, message)):
            return _run_steps(root, plan, False, force_delete or force, progress_stream, force, quiet_unreached)


def _run_steps(root: Root, plan: Plan, dry_run: bool, force_delete: bool, progress_stream, force: bool = False,
               quiet_unreached: bool = False) -> SyncResult:
    started = time.time()
    previous = read_status(root)
    packages = InstalledPackages(root)
    errors: List[str] = []
    warnings: List[str] = []
    with tempfile.TemporaryDirectory(prefix="hotsync-") as temporary:
        workdir = Path(temporary)
        lists = build_lists(root, plan, workdir, packages, dry_run)
        errors += [str(failure) for failure in lists.plugin_failures]
        warnings += lists.warnings
        dumps: Tuple[DumpResult, ...] = ()
        backup_message = ""
        if not dry_run:
            warnings += run_before_push(root, lists.actions)
            dumps = make_dumps(root, lists.dumps) if plan.databases_enabled else ()
            errors += [result.describe() for result in dumps if not result.ok and not result.skipped]
            warnings += [result.describe() for result in dumps if result.skipped]
            warnings += _record_dumps(root, plan, dumps)
            backup_message = _make_backup(root, packages, errors)
        existing, _missing, invalid = split_existing(root, lists.includes)
        warnings += [f"ignored include entry {entry!r}: not an absolute host path" for entry in invalid]
        decision = decide_guard(root, lists.includes, Baseline.from_status(previous),
                                plan.limits.max_delete_percent, force_delete)
        errors += decision.reasons
        includes = _without_protected(existing, decision)
        if plan.restore_points and not dry_run:
            includes = includes + [PUSH_ADDED_PATH]
        if not dry_run and root.path(DUMP_RECORD_PATH).is_file():
            includes = includes + [DUMP_RECORD_PATH]
        list_files = _write_push_lists(workdir, lists, includes, decision)
        produced = produced_by_hotsync([dump.target for dump in lists.dumps])
        before, now, verdict, scan_error = _brake(root, plan, workdir, list_files, includes, force_delete, produced)
        warnings += [scan_error] if scan_error else []
        watch_pause = None if force else held_pause(root)
        if watch_pause is not None and (verdict is None or not verdict.paused):
            verdict = watch_pause  # the continuous push paused: only a forced push goes on
        if verdict is not None and verdict.paused and dry_run:
            warnings.append("the brake would pause this push: " + verdict.message())
        elif verdict is not None and verdict.paused and not force:
            return _pause(root, plan, previous, started, verdict, dumps, backup_message, warnings)
        push_name = new_push_name()
        if plan.restore_points and not dry_run:
            write_push_added(root, push_name, [real_name(name) for name in now if before is None or name not in before])
        push = _push(root, plan, list_files, decision, dry_run, progress_stream, push_name)
        if quiet_unreached and not push.completed and connection_lost(push.exit_code, " ".join(push.errors)):
            append_log(root, f"a full push did not reach the slave, to be tried again: {'; '.join(push.errors)}")
            return SyncResult("unreached", push.errors, tuple(warnings), (), {"rsync_exit": push.exit_code})
        if push.completed and not dry_run and not scan_error:
            write_manifest(root, manifest_after_push(before, now, decision.protected_roots))
        if push.completed and not dry_run and force:
            release_pause(root)
        errors += push.errors
        warnings += push.warnings
        record = _record(plan, previous, started, time.time(), errors, warnings, push, dumps, backup_message, dry_run)
        record["guard"] = _guard_record(root, previous, includes, decision, push)
        if dry_run:
            return SyncResult(record["result"], tuple(errors), tuple(warnings), push.changes, record)
    return _finish(root, plan, record, errors, warnings)


def run_before_push(root: Root, actions: Sequence[Action]) -> List[str]:
    """Run each rule's ``before push`` program on this host, in plan order; a warning for each
    that fails (its exit and the end of its output), never an exception."""
    warnings = []
    host = host_for(root)
    for action in actions:
        try:
            host.run_program(action.arguments)
        except HotsyncError as error:
            where = f" ({action.origin})" if action.origin else ""
            warnings.append(f"before push: {error}{where}; the push went on with what it last made")
    return warnings


def _record_dumps(root: Root, plan: Plan, dumps: Sequence[DumpResult]) -> List[str]:
    """Keep when each dump last succeeded, for the slave's readiness; a warning when it cannot."""
    try:
        record_dumps(root, dumps, time.time(), plan.databases_enabled)
    except OSError as error:
        return [f"could not record the dumps for the slave: {error}"]
    return []


def _make_backup(root: Root, packages: InstalledPackages, errors: List[str]) -> str:
    try:
        return make_config_backup(root, packages)
    except (HotsyncError, OSError) as error:
        errors.append(f"configuration backup failed: {error}")
        return ""


def _without_protected(includes: Tuple[str, ...], decision: GuardDecision) -> List[str]:
    protected = set(decision.protected_roots)
    return [entry for entry in includes if (entry.rstrip("/") or "/") not in protected]


PushLists = Tuple[Path, Path, Optional[Path]]


def _write_push_lists(workdir: Path, lists: SyncLists, includes, decision: GuardDecision) -> PushLists:
    """The push's include, exclude and guard files (the brake's scan reads the same)."""
    include_file, exclude_file = workdir / "push.include", workdir / "push.exclude"
    write_file_atomic(include_file, "".join(f"{entry}\n" for entry in includes), mode=0o600, durable=False)
    excludes = excludes_that_can_match(lists.excludes, includes)
    write_file_atomic(exclude_file, "".join(f"{entry}\n" for entry in excludes), mode=0o600, durable=False)
    guard_file = None
    if decision.protected_roots:
        guard_file = workdir / "push.guard"
        write_file_atomic(guard_file, decision.filter_rules(), mode=0o600, durable=False)
    return include_file, exclude_file, guard_file


def _brake(root, plan, workdir, list_files: PushLists, includes, force_delete: bool, produced):
    """(the manifest of the last push or None, the files the push would consider, the brake's
    verdict or None, the scan's error or "").

    No verdict without a manifest of the last push (nothing to compare with) or without a scan.
    """
    commands = scan_commands(*list_files, source_folder(root), _empty_folder(workdir))
    scan, before = scan_files(commands, workdir, lambda: read_manifest(root))
    if scan.error:
        return before, {}, None, scan.error
    now = with_entropy(Path(source_folder(root)), scan.files, before or {})
    if before is None:
        return before, now, None, ""
    # --force-delete lets the deletions through the brake too; its other traits still pause
    max_delete = 100 if force_delete else plan.limits.max_delete_percent
    verdict = judge(leave_out(before, produced), leave_out(now, produced), includes, max_delete,
                    plan.limits.max_rewrite_percent)
    return before, now, verdict, ""


def _empty_folder(workdir: Path) -> Path:
    folder = workdir / "brake-scan"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _pause(root, plan, previous, started, verdict: BrakeVerdict, dumps, backup_message, warnings) -> SyncResult:
    """Record, mail and report a push the brake paused: nothing was sent."""
    message = verdict.message()
    record = _record(plan, previous, started, time.time(), [message], warnings, PushResult(None, False), dumps,
                     backup_message, False)
    record["result"] = "paused"
    record["brake"] = {"files_before": verdict.files_before, "deleted": verdict.deleted,
                       "rewritten": verdict.rewritten, "added": verdict.added,
                       "reasons": list(verdict.reasons), "examples": list(verdict.examples)}
    record["guard"] = previous.get("guard") or {}
    return _finish(root, plan, record, [message], list(warnings))


def record_pause(root: Root, plan: Plan, verdict: BrakeVerdict, started: float) -> SyncResult:
    """Record, mail and report a pause the continuous push's brake found: as a full push's."""
    return _pause(root, plan, read_status(root), started, verdict, (), "", [])


def _push(root, plan, list_files: PushLists, decision: GuardDecision, dry_run, progress_stream,
          push_name: str) -> PushResult:
    include_file, exclude_file, guard_file = list_files
    argv = build_push_command(
        root, plan, include_file, exclude_file, guard_file=guard_file, max_delete=decision.max_delete,
        dry_run=dry_run, progress=progress_stream is not None, generation_options=generation_options(root),
        push_name=push_name,
    )
    return push_tree(root, plan, argv, decision.max_delete, progress_stream)


def _record(plan, previous, started, finished, errors, warnings, push: PushResult, dumps, backup_message, dry_run):
    """The status record of a run (plain JSON data, no secret)."""
    result = "failed" if errors else "ok"
    last_success = finished if result == "ok" else previous.get("last_success_epoch")
    return {
        "version": STATUS_RECORD_VERSION,
        "role": plan.role,
        "slave_host": plan.slave_host,
        "dry_run": dry_run,
        "started": iso_time(started),
        "started_epoch": int(started),
        "finished": iso_time(finished),
        "finished_epoch": int(finished),
        "duration_seconds": round(finished - started, 3),
        "result": result,
        "errors": list(errors),
        "warnings": list(warnings),
        "rsync_exit": push.exit_code,
        "files_total": push.stats.files_total,
        "files_transferred": push.stats.files_transferred,
        "bytes_transferred": push.stats.bytes_transferred,
        "bytes_sent": push.stats.bytes_sent,
        "files_deleted": push.stats.files_deleted,
        "dumps": [asdict(result) for result in dumps],
        "config_backup": backup_message,
        "last_success_epoch": int(last_success) if last_success else None,
        "last_success": iso_time(last_success) if last_success else None,
        "failures_total": stored_count(previous.get("failures_total")) + (1 if result == "failed" else 0),
    }


def _guard_record(root, previous, includes, decision: GuardDecision, push: PushResult) -> Dict[str, Any]:
    """The guard's baseline for the next run: renewed only by a completed push."""
    previous_baseline = Baseline.from_status(previous)
    if push.completed:
        baseline = baseline_after(root, includes, decision, push.stats.files_total, previous_baseline,
                                  push.delete_cap_hit)
    else:
        baseline = previous_baseline
    return {
        "files_total": baseline.files_total,
        "nonempty_roots": list(baseline.nonempty_roots),
        "armed": baseline.armed,
        "max_delete": decision.max_delete,
        "protected_roots": list(decision.protected_roots),
    }


def _finish(root: Root, plan: Plan, record: Dict[str, Any], errors: List[str], warnings: List[str]) -> SyncResult:
    """Mail on failure, then record the run: status, ``LastSyncTS`` on success, one log line."""
    if errors and plan.notify:
        outcome = "paused a push" if record["result"] == "paused" else "failed"
        problem = send_failure_mail(plan.notify, plan.slave_host, errors, record["started"], outcome)
        if problem:
            warnings.append(problem)
            record["warnings"] = list(warnings)
    write_status(root, record)
    if record["result"] == "ok":
        write_last_sync(root, record["finished_epoch"])
    append_log(root, summarize(record))
    write_metrics(root, plan)
    return SyncResult(record["result"], tuple(errors), tuple(warnings), (), record)


def _record_failure(root: Root, plan: Plan, started: float, message: str) -> None:
    """Record a run that an exception ended as failed: status, log line, mail."""
    previous = read_status(root)
    record = _record(plan, previous, started, time.time(), [message], [], PushResult(None, False), (), "", False)
    record["guard"] = previous.get("guard") or {}  # the delete guard's baseline stays the last complete push's
    _finish(root, plan, record, [message], [])


def summarize(record: Dict[str, Any]) -> str:
    """One line about a run, for the log and the terminal."""
    text = (
        f"sync {record['result']} in {record['duration_seconds']:.1f} s: "
        f"{record['files_transferred']} file(s) sent ({record['bytes_sent']} bytes over the tunnel), "
        f"{record['files_deleted']} deleted on the slave"
    )
    if record["errors"]:
        text += f"; {len(record['errors'])} error(s): " + " | ".join(record["errors"])
    return text
