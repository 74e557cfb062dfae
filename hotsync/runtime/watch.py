"""Continuous push: what changed under the includes reaches the slave seconds later.

``run_watch`` watches the includes of the plan's active rules (``inotify.Watcher``), gathers
the changed and deleted paths until the tree has been quiet for a short settle time (or a
batch has waited ``LONGEST_WAIT``), and pushes only those paths through the same tunnel,
daemon, marker and fence as the full push: ``--files-from`` of the paths, and rsync's
``--delete-missing-args`` (rsync 3.1.0 on) so a listed path that no longer exists is deleted
on the slave. The push's excludes and the delete guard apply to each batch: a path under a
root the guard protects is kept back, and ``--max-delete`` caps the batch's deletions. The
brake judges each batch first (``batch_brake.py``): a batch that looks like a mass change is
not sent, and the pause is held until the admin forces a push (``hotsync --force``); the
watch keeps gathering meanwhile, and goes on once the forced push released the pause. A batch
with files that look encrypted, too few for a verdict but a tenth of the way there, waits
(``SUSPICION_HOLD_SECONDS``) for more of them: ransomware that encrypts a file at a time on a
small tree meets the brake before its first file reaches the slave (``batch_brake.signs_in``).

A file still being written gets more events after its batch left; it goes out again in a
later batch, once it is quiet. A kernel queue overflow loses events: the next push is then
a full one (``run_sync``), as is the first, which carries what changed while nothing watched.
The first waits until the slave's daemon greets through the tunnel (the save event restarts
the watch before the tunnel): a push that does not reach it is tried again, with a short
backoff, keeping what it carried; during the first minute without a recorded failure or mail.

The runs take the sync lock like every push, so a scheduled full push and a batch never run
at once; a batch waits for the lock while its changes keep gathering.

What is pending is written to ``WATCH_STATE_PATH`` as it changes, for ``hotsync status``:
the backlog and the time of the oldest change not yet on the slave (the recovery point).
The metrics file shows them too: rewritten after a batch, a change of the backlog and, while
changes wait, as their age grows, but never more often than every ``METRICS_SECONDS`` (a
stream of writes makes many batches a second).
"""

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..files import write_file_atomic
from ..frozen import frozen
from ..paths import STATE_FOLDER
from ..plan import Plan
from ..root import Root
from .batch_brake import BatchBrake
from .brake import BrakeVerdict, hold_pause, pause_is_held, produced_by_hotsync
from .conditions import InstalledPackages
from .diagnose import daemon_answers
from .fence import generation_options
from .guard import Baseline, decide_guard
from .inotify import CHANGED, DELETED, OVERFLOW, Change, Watcher
from .lists import build_lists, excludes_that_can_match
from .lock import hold_sync_lock
from .manifest import real_name
from .points import BATCH_ADDED_PATH
from .push import PushResult, build_push_command, connection_lost, push_tree
from .sealing import new_push_name, write_push_added
from .status import append_log, read_status, render_json

WATCH_STATE_PATH = f"{STATE_FOLDER}/watch.json"
SETTLE_SECONDS = 0.1
# A tree that never goes quiet (a log written every 50 ms) still goes out this often: with the
# brake's look at the batch and the push itself, a change is on the slave within a second.
LONGEST_WAIT = 0.75
# How often the state file is renewed while nothing happens (its age shows the watcher lives).
IDLE_STATE_SECONDS = 30.0
# A push that did not reach the slave is tried again this soon, then twice as late up to the longest.
FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 5.0
# How long after its start the watch takes a slave that does not answer for its tunnel or daemon
# still starting (the save event restarts the watch before stunnel): no failure recorded, no mail.
START_GRACE_SECONDS = 60.0
# While the brake holds the pushes, how often the watch looks whether a forced push released it.
PAUSED_CHECK_SECONDS = 1.0
# A batch with files that look encrypted (or like ransom notes), too few for the brake but a
# tenth of the way there, waits this long for more: ransomware that encrypts a file at a time
# then reaches the brake's thresholds before its first file reaches the slave. Ordinary edits
# never wait.
SUSPICION_HOLD_SECONDS = 10.0
# The least time between two rewrites of the metrics file by the watch.
METRICS_SECONDS = 5.0


@frozen
class Batch:
    changed: Tuple[str, ...]  # host paths
    deleted: Tuple[str, ...]
    oldest_epoch: float  # when the oldest of its changes was seen


@frozen
class Carried:
    """What was pending when a full push started."""

    kinds: Dict[str, str]
    first_seen: Dict[str, float]
    full_since: Optional[float]


class Pending:
    """Changes seen and not yet on the slave: the latest kind of each path, and when the
    path was first seen changing."""

    def __init__(self) -> None:
        self.kinds: Dict[str, str] = {}
        self.first_seen: Dict[str, float] = {}
        self.full_push = False
        self.full_since: Optional[float] = None
        self.last_event = 0.0

    def add(self, changes: Iterable[Change], now: float) -> None:
        for kind, path in changes:
            self.last_event = now
            if kind == OVERFLOW:
                self.want_full_push(now)
                continue
            self.kinds[path] = kind
            self.first_seen.setdefault(path, now)

    def want_full_push(self, now: float) -> None:
        self.full_push = True
        if self.full_since is None:
            self.full_since = now

    def __len__(self) -> int:
        return len(self.kinds)

    def oldest(self) -> Optional[float]:
        moments = list(self.first_seen.values()) + ([self.full_since] if self.full_since is not None else [])
        return min(moments) if moments else None

    def due(self, now: float, settle: float) -> bool:
        oldest = self.oldest()
        if oldest is None:
            return False
        return now - self.last_event >= settle or now - oldest >= LONGEST_WAIT

    def take(self, base: str) -> Batch:
        """The pending paths as a batch of host paths (``base``: the root's folder), emptied."""
        oldest = self.oldest() or time.time()
        deleted = topmost(sorted(host_path(path, base) for path, kind in self.kinds.items() if kind == DELETED))
        gone = tuple(path.rstrip("/") + "/" for path in deleted)
        # A file written into a folder that then left: its folder's deletion covers it, and
        # rsync 3.1.2 refuses a missing argument whose parent folder is missing.
        changed = sorted(host_path(path, base) for path, kind in self.kinds.items()
                         if kind == CHANGED and (os.path.lexists(path) or not host_path(path, base).startswith(gone)))
        self.kinds.clear()
        self.first_seen.clear()
        return Batch(tuple(changed), tuple(deleted), oldest)

    def hand_over(self) -> "Carried":
        """Everything pending, emptied: a full push carries it."""
        carried = Carried(dict(self.kinds), dict(self.first_seen), self.full_since)
        self.kinds.clear()
        self.first_seen.clear()
        self.full_push, self.full_since = False, None
        return carried

    def take_back(self, carried: "Carried", full_push: bool = True) -> None:
        """A full push that did not reach the slave: what it carried is pending again, with
        the full push unless ``full_push`` is False (newer changes of a path win)."""
        for path, kind in carried.kinds.items():
            self.kinds.setdefault(path, kind)
        for path, moment in carried.first_seen.items():
            self.first_seen[path] = min(self.first_seen.get(path, moment), moment)
        if not full_push:
            return
        self.want_full_push(carried.full_since if carried.full_since is not None else time.time())
        if carried.full_since is not None and self.full_since is not None:
            self.full_since = min(self.full_since, carried.full_since)

    def give_back(self, batch: Batch, base: str) -> None:
        """A batch that did not reach the slave: pending again (newer changes of its paths win)."""
        for kind, paths in ((CHANGED, batch.changed), (DELETED, batch.deleted)):
            for path in paths:
                real = base.rstrip("/") + path
                self.kinds.setdefault(real, kind)
                self.first_seen[real] = min(self.first_seen.get(real, batch.oldest_epoch), batch.oldest_epoch)


def host_path(path: str, base: str) -> str:
    """The host path of ``path`` seen under the root's folder ``base``."""
    prefix = base.rstrip("/")
    return path[len(prefix):] if prefix and path.startswith(prefix + "/") else path


def topmost(paths: List[str]) -> List[str]:
    """``paths`` without those inside another of them: deleting a folder deletes its content,
    and rsync 3.1.2 refuses a missing argument whose parent folder is missing too."""
    kept: List[str] = []
    for path in sorted(paths):
        if not any(path.startswith(parent.rstrip("/") + "/") for parent in kept):
            kept.append(path)
    return kept


def excluded(path: str, excludes: Iterable[str]) -> bool:
    """Whether a host path falls under one of the plain (pattern-free) absolute excludes: HotSync's
    own state and logs change on every push and must not start another. rsync judges the rest."""
    for entry in excludes:
        if entry.startswith("/") and not any(character in entry for character in "*?["):
            if path == entry.rstrip("/") or path.startswith(entry.rstrip("/") + "/"):
                return True
    return False


def watched_roots(root: Root, includes: Iterable[str]) -> List[str]:
    return [str(root.path(entry.rstrip("/") or "/")) for entry in includes if entry.startswith("/")]


def run_watch(root: Root, plan: Plan, full_push: Callable[[bool], Any], settle: float = SETTLE_SECONDS,
              until: Callable[[], bool] = lambda: False) -> None:
    """Watch and push until ``until()`` says stop (the command runs until a signal ends it).

    ``full_push(starting)`` runs one whole push (``run_sync``): first, and after a queue
    overflow; ``starting`` (the watch's first minute): a push that does not reach the slave's
    daemon is neither recorded nor mailed (outcome ``unreached``), it is tried again.
    """
    with tempfile.TemporaryDirectory(prefix="hotsync-watch-") as temporary:
        workdir = Path(temporary)
        lists = build_lists(root, plan, workdir, InstalledPackages(root), dry_run=True)
        with Watcher(watched_roots(root, lists.includes)) as watcher:
            ContinuousPush(root, plan, lists, workdir, full_push).run(watcher, settle, until)


class MetricsPace:
    """Rewrites the metrics file when owed one, at most once every ``METRICS_SECONDS``."""

    def __init__(self, write: Callable[[], str], tell: Callable[[str], None],
                 interval: float = METRICS_SECONDS) -> None:
        self.write, self.tell, self.interval = write, tell, interval
        self.owed = False
        self.written = float("-inf")
        self.problem = ""  # the last write's: told once, not at every write

    def wait(self, now: float) -> float:
        """How long the watch may sleep before the metrics are due (infinity when none is owed)."""
        return max(self.written + self.interval - now, 0.0) if self.owed else float("inf")

    def write_when_due(self, now: float) -> None:
        if not self.owed or now - self.written < self.interval:
            return
        problem = self.write()
        self.owed, self.written = False, now
        if problem and problem != self.problem:
            self.tell(f"watch: {problem}")
        self.problem = problem


class Backoff:
    """When a push that did not reach the slave may be tried again: soon, then less often."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.next_try = 0.0

    def failed(self, now: float) -> None:
        self.delay = min(max(self.delay * 2, FIRST_RETRY_SECONDS), LONGEST_RETRY_SECONDS)
        self.next_try = now + self.delay

    def succeeded(self) -> None:
        self.delay = self.next_try = 0.0

    def wait(self, moment: float) -> None:
        """No push before ``moment`` (the backoff itself stays as it is)."""
        self.next_try = max(self.next_try, moment)

    def ready(self, now: float) -> bool:
        return now >= self.next_try


class ContinuousPush:
    """The watch's state between two reads of the kernel's events: what is pending, when a
    push may be tried again, the brake's memory, whether the brake holds the pushes."""

    def __init__(self, root: Root, plan: Plan, lists, workdir: Path, full_push: Callable[[bool], Any]):
        self.root, self.plan, self.lists, self.workdir = root, plan, lists, workdir
        self.base = str(root.base)
        self.full_push = full_push
        self.pending = Pending()
        self.backoff = Backoff()
        produced = produced_by_hotsync([dump.target for dump in lists.dumps])
        self.brake = BatchBrake(root, plan, produced)
        self.started = time.time()
        self.paused = False
        self.waiting_logged = False
        self.unreached_reported = False  # a full push that did not reach the slave was recorded and mailed
        self.suspicion_logged: Optional[float] = None  # the batch (its oldest change) last said held

    def run(self, watcher: Watcher, settle: float, until: Callable[[], bool]) -> None:
        from .metrics import write_metrics  # here: ``hotsync status`` imports this module, and metrics it

        self.pending.want_full_push(time.time())
        written = 0.0
        last_shown: Tuple[int, bool, Optional[float], bool] = (-1, False, None, False)
        metrics = MetricsPace(lambda: write_metrics(self.root, self.plan, log_problem=False),
                              lambda line: append_log(self.root, line))
        while not until():
            changes = watcher.read(min(self._wait(settle), metrics.wait(time.time())))
            self.pending.add((change for change in changes
                              if not excluded(host_path(change[1], self.base), self.lists.excludes)), time.time())
            now = time.time()
            self.paused = pause_is_held(self.root)
            if not self.paused and self.backoff.ready(now) and self._push_what_is_due(now, settle):
                metrics.owed = True  # a batch's end
            shown = (len(self.pending), self.pending.full_push, self.pending.oldest(), self.paused)
            if shown != last_shown or now - written >= IDLE_STATE_SECONDS:
                write_watch_state(self.root, self.pending, watcher.folders_watched, self.paused)
                written, last_shown = now, shown
                metrics.owed = True
            metrics.owed = metrics.owed or bool(len(self.pending))  # the recovery point's age grows
            metrics.write_when_due(time.time())

    def _wait(self, settle: float) -> float:
        """How long to wait for the kernel's next events."""
        if self.paused:
            return PAUSED_CHECK_SECONDS  # how soon a forced push is noticed
        if not len(self.pending) and not self.pending.full_push:
            return IDLE_STATE_SECONDS
        return max(settle, min(self.backoff.next_try - time.time(), LONGEST_RETRY_SECONDS))

    def _push_what_is_due(self, now: float, settle: float) -> bool:
        """Push what is due; whether a push (full or a batch) was due."""
        if self.pending.full_push and now - self.pending.last_event >= settle:
            self._push_all(now)
        elif not self.pending.full_push and self.pending.due(now, settle):
            self._push_batch()
        else:
            return False
        return True

    def _push_all(self, now: float) -> None:
        """The full push, once the slave's daemon answers through the tunnel; what is pending
        stays pending when the push does not reach it."""
        starting = now - self.started < START_GRACE_SECONDS
        if (starting or self.unreached_reported) and not daemon_answers(self.plan.transport.rsync_port):
            self._wait_for_the_slave(now)
            return
        carried = self.pending.hand_over()
        result = self.full_push(starting)
        if result.outcome == "overlapping":
            # A scheduled full push holds the lock: it carries the tree, but may have listed it
            # before these changes; they go out as a batch once it is done.
            self.pending.take_back(carried, full_push=False)
            return
        if result.outcome == "unreached" or (result.outcome == "failed" and connection_lost(
                result.record.get("rsync_exit"), " ".join(result.errors))):
            self.pending.take_back(carried)
            self.unreached_reported = self.unreached_reported or result.outcome == "failed"
            self._wait_for_the_slave(time.time())
            return
        self.backoff.succeeded()
        self.waiting_logged = self.unreached_reported = False

    def _wait_for_the_slave(self, now: float) -> None:
        self.backoff.failed(now)
        if not self.waiting_logged:
            append_log(self.root, "watch: the slave's rsync daemon does not answer through the tunnel yet; "
                                  f"the full push is tried again every {LONGEST_RETRY_SECONDS:.0f} s at most")
            self.waiting_logged = True

    def _push_batch(self) -> None:
        with hold_sync_lock(self.root) as held:
            if not held:
                return  # a full push is running: the changes keep gathering, it may carry them
            batch = self.pending.take(self.base)
            started = time.time()
            outcome = push_batch(self.root, self.plan, self.lists, batch, self.workdir, self.brake,
                                 hold_signs=started - batch.oldest_epoch < SUSPICION_HOLD_SECONDS)
            if outcome.verdict is not None:
                # Here, not at the top: ``hotsync status`` imports this module, and the full
                # push's module (dumps, backup) would cost each of its runs.
                from .sync import record_pause

                hold_pause(self.root, outcome.verdict)
                record_pause(self.root, self.plan, outcome.verdict, started)
        if outcome.result is None:
            self.pending.give_back(batch, self.base)
            self._report_held(outcome, batch)
            return
        result = outcome.result
        if result.errors:
            retried = "" if result.completed else ", to be tried again"
            append_log(self.root, f"watch: a push of {len(batch.changed)} change(s) and {len(batch.deleted)} "
                                  f"deletion(s) failed{retried}: {'; '.join(result.errors)}")
        if result.completed:
            self.backoff.succeeded()
        else:
            self.pending.give_back(batch, self.base)
            self.backoff.failed(time.time())  # a slave that is down must not be hammered

    def _report_held(self, outcome: "BatchOutcome", batch: Batch) -> None:
        if outcome.verdict is not None:
            append_log(self.root, "watch: paused; the changes wait on the master until 'hotsync --force' pushes")
            return
        # Judged again each second: the batch goes when more of the kind makes it a mass change
        # (paused), or when it has waited SUSPICION_HOLD_SECONDS without.
        self.backoff.wait(time.time() + PAUSED_CHECK_SECONDS)
        if batch.oldest_epoch != self.suspicion_logged:
            self.suspicion_logged = batch.oldest_epoch
            shown = ", ".join("/" + real_name(name) for name in outcome.held[:3])
            append_log(self.root, f"watch: held a batch for up to {SUSPICION_HOLD_SECONDS:.0f} s, its files look "
                                  f"encrypted, emptied or like ransom notes: {shown}")


@frozen
class BatchOutcome:
    """How a batch went: paused by the brake (``verdict``), held for a while (``held``, the
    files that looked suspicious) or pushed (``result``)."""

    verdict: Optional[BrakeVerdict] = None
    held: Tuple[str, ...] = ()
    result: Optional[PushResult] = None


def push_batch(root: Root, plan: Plan, lists, batch: Batch, workdir: Path, brake: BatchBrake,
               hold_signs: bool = False) -> BatchOutcome:
    """Push the batch's paths (and delete its deleted ones) on the slave, through the guard
    (paths under a protected root are left for the full push to judge) and the brake: a batch
    it pauses is not sent, nor one that shows ransomware's signs when ``hold_signs``."""
    decision = decide_guard(root, lists.includes, Baseline.from_status(read_status(root)),
                            plan.limits.max_delete_percent, False)
    protected = tuple(entry.rstrip("/") + "/" for entry in decision.protected_roots)
    entries = [path for path in batch.changed + batch.deleted if not path.startswith(protected)]
    include_file, exclude_file = workdir / "batch.include", workdir / "batch.exclude"
    write_file_atomic(include_file, "".join(f"{entry}\n" for entry in entries), mode=0o600, durable=False)
    excludes = excludes_that_can_match(lists.excludes, lists.includes)
    write_file_atomic(exclude_file, "".join(f"{entry}\n" for entry in excludes), mode=0o600, durable=False)
    scan_folder = workdir / "brake-scan"
    scan_folder.mkdir(mode=0o700, exist_ok=True)
    judged = brake.judge(entries, batch.deleted, (include_file, exclude_file), scan_folder)
    if judged.verdict is not None and judged.verdict.paused:
        return BatchOutcome(verdict=judged.verdict)
    if judged.signs and hold_signs:
        return BatchOutcome(held=judged.signs)
    if judged.error:
        append_log(root, f"watch: {judged.error}; the batch went out unjudged")
    push_name = new_push_name()
    added = brake.added_by(judged.changes)
    if plan.restore_points and added:
        # what the batch adds joins the next point, so a restore to an earlier one leaves it out
        write_push_added(root, push_name, [real_name(name) for name in added], BATCH_ADDED_PATH)
        entries.append(BATCH_ADDED_PATH)
        write_file_atomic(include_file, "".join(f"{entry}\n" for entry in entries), mode=0o600, durable=False)
    argv = build_push_command(root, plan, include_file, exclude_file, max_delete=decision.max_delete,
                              generation_options=generation_options(root), delete_missing=True, checksum=True,
                              push_name=push_name)
    result = push_tree(root, plan, argv, decision.max_delete)
    if result.completed and not judged.error:
        brake.record(judged.changes)
    return BatchOutcome(result=result)


def write_watch_state(root: Root, pending: Pending, folders: int, paused: bool = False) -> None:
    oldest = pending.oldest()
    state = {
        "pid": os.getpid(),
        "updated_epoch": round(time.time(), 3),
        "backlog": len(pending) + (1 if pending.full_push else 0),
        "full_push_pending": pending.full_push,
        "oldest_pending_epoch": round(oldest, 3) if oldest is not None else None,
        "folders_watched": folders,
        "paused": paused,
    }
    write_file_atomic(root.path(WATCH_STATE_PATH), render_json(state), mode=0o644, durable=False)


def continuous_report(root: Root, now: float) -> Dict[str, Any]:
    """The continuous push as ``hotsync status`` shows it ({} when it never ran here):
    whether it runs, the backlog, and the recovery point: the age of the oldest change
    not yet on the slave (0 when none waits)."""
    try:
        state = json.loads(root.path(WATCH_STATE_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict):
        return {}
    updated, oldest = state.get("updated_epoch"), state.get("oldest_pending_epoch")
    running = isinstance(updated, (int, float)) and now - updated <= 2 * IDLE_STATE_SECONDS + 5 \
        and _alive(state.get("pid"))
    return {
        "running": running,
        "backlog": state.get("backlog") if isinstance(state.get("backlog"), int) else None,
        "rpo_seconds": round(max(now - oldest, 0.0), 1) if isinstance(oldest, (int, float)) else 0.0,
        "updated_epoch": updated,
        "paused": state.get("paused") is True,
    }


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
