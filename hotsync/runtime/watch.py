"""Continuous push: what changed under the includes reaches the slave seconds later.

``run_watch`` watches the includes of the plan's active rules (``inotify.Watcher``), gathers
the changed and deleted paths until the tree has been quiet for a short settle time (or a
batch has waited ``LONGEST_WAIT``), and pushes only those paths through the same tunnel,
daemon, marker and fence as the full push: ``--files-from`` of the paths, and rsync's
``--delete-missing-args`` (rsync 3.1.0 on) so a listed path that no longer exists is deleted
on the slave. The push's excludes and the delete guard apply to each batch: a path under a
root the guard protects is kept back, and ``--max-delete`` caps the batch's deletions.

A file still being written gets more events after its batch left; it goes out again in a
later batch, once it is quiet. A kernel queue overflow loses events: the next push is then
a full one (``run_sync``), as is the first, which carries what changed while nothing watched.

The runs take the sync lock like every push, so a scheduled full push and a batch never run
at once; a batch waits for the lock while its changes keep gathering.

What is pending is written to ``WATCH_STATE_PATH`` as it changes, for ``hotsync status``:
the backlog and the time of the oldest change not yet on the slave (the recovery point).
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
from .conditions import InstalledPackages
from .fence import generation_options
from .guard import Baseline, decide_guard
from .inotify import CHANGED, DELETED, OVERFLOW, Change, Watcher
from .lists import build_lists, excludes_that_can_match
from .lock import hold_sync_lock
from .push import PushResult, build_push_command, push_tree
from .status import append_log, read_status, render_json

WATCH_STATE_PATH = f"{STATE_FOLDER}/watch.json"
SETTLE_SECONDS = 0.1
# A tree that never goes quiet (a log written every 50 ms) still goes out this often.
LONGEST_WAIT = 1.0
# How often the state file is renewed while nothing happens (its age shows the watcher lives).
IDLE_STATE_SECONDS = 30.0


@frozen
class Batch:
    changed: Tuple[str, ...]  # host paths
    deleted: Tuple[str, ...]
    oldest_epoch: float  # when the oldest of its changes was seen


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


def run_watch(root: Root, plan: Plan, full_push: Callable[[], Any], settle: float = SETTLE_SECONDS,
              until: Callable[[], bool] = lambda: False) -> None:
    """Watch and push until ``until()`` says stop (the command runs until a signal ends it).

    ``full_push`` runs one whole push (``run_sync``): first, and after a queue overflow.
    """
    base = str(root.base)
    with tempfile.TemporaryDirectory(prefix="hotsync-watch-") as temporary:
        workdir = Path(temporary)
        lists = build_lists(root, plan, workdir, InstalledPackages(root), dry_run=True)
        pending = Pending()
        with Watcher(watched_roots(root, lists.includes)) as watcher:
            pending.want_full_push(time.time())
            written = 0.0
            last_shown: Tuple[int, bool, Optional[float]] = (-1, False, None)
            while not until():
                changes = watcher.read(settle if len(pending) or pending.full_push else IDLE_STATE_SECONDS)
                pending.add((change for change in changes
                             if not excluded(host_path(change[1], base), lists.excludes)), time.time())
                now = time.time()
                if pending.full_push and now - pending.last_event >= settle:
                    pending.full_push, pending.full_since = False, None
                    pending.kinds.clear()  # the whole push carries them
                    pending.first_seen.clear()
                    full_push()
                elif pending.due(now, settle):
                    _push_pending(root, plan, lists, pending, workdir, base)
                shown = (len(pending), pending.full_push, pending.oldest())
                if shown != last_shown or now - written >= IDLE_STATE_SECONDS:
                    write_watch_state(root, pending, watcher.folders_watched)
                    written, last_shown = now, shown


def _push_pending(root: Root, plan: Plan, lists, pending: Pending, workdir: Path, base: str) -> None:
    with hold_sync_lock(root) as held:
        if not held:
            return  # a full push is running: the changes keep gathering, it may carry them
        batch = pending.take(base)
        result = push_batch(root, plan, lists, batch, workdir)
    if result.errors:
        retried = "" if result.completed else ", to be tried again"
        append_log(root, f"watch: a push of {len(batch.changed)} change(s) and {len(batch.deleted)} deletion(s)"
                         f" failed{retried}: {'; '.join(result.errors)}")
    if not result.completed:
        pending.give_back(batch, base)
        time.sleep(1.0)  # a slave that is down must not be hammered


def push_batch(root: Root, plan: Plan, lists, batch: Batch, workdir: Path) -> PushResult:
    """Push the batch's paths (and delete its deleted ones) on the slave, through the
    guard: paths under a protected root are left for the full push to judge."""
    decision = decide_guard(root, lists.includes, Baseline.from_status(read_status(root)),
                            plan.limits.max_delete_percent, False)
    protected = tuple(entry.rstrip("/") + "/" for entry in decision.protected_roots)
    entries = [path for path in batch.changed + batch.deleted if not path.startswith(protected)]
    include_file, exclude_file = workdir / "batch.include", workdir / "batch.exclude"
    write_file_atomic(include_file, "".join(f"{entry}\n" for entry in entries), mode=0o600, durable=False)
    excludes = excludes_that_can_match(lists.excludes, lists.includes)
    write_file_atomic(exclude_file, "".join(f"{entry}\n" for entry in excludes), mode=0o600, durable=False)
    argv = build_push_command(root, plan, include_file, exclude_file, max_delete=decision.max_delete,
                              generation_options=generation_options(root), delete_missing=True)
    return push_tree(root, plan, argv, decision.max_delete)


def write_watch_state(root: Root, pending: Pending, folders: int) -> None:
    oldest = pending.oldest()
    state = {
        "pid": os.getpid(),
        "updated_epoch": round(time.time(), 3),
        "backlog": len(pending) + (1 if pending.full_push else 0),
        "full_push_pending": pending.full_push,
        "oldest_pending_epoch": round(oldest, 3) if oldest is not None else None,
        "folders_watched": folders,
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
