"""Restore points on the slave: one per push, at a cost that follows what changed.

Each push runs with ``--backup --backup-dir`` (rsync 3.1.2 has both): the slave's rsync moves
the previous version of every file the push replaces or deletes into a folder of the push's
own, ``restore-points/incoming/<push name>``, instead of dropping it. The master sends, within
the push, the list of the files the push adds (``push-added``, from the brake's comparison;
a batch of the continuous push sends ``batch-added``, and waits for the next full push's point).
When the push ends, the slave's ``post-xfer exec`` turns both into a point named after its
time (``sealing``: pushes that overlap on the slave share one point)::

    restore-points/20261201T201500Z/files/...   what the push replaced or deleted, as it was before
    restore-points/20261201T201500Z/added.json  what the push added
    restore-points/20261201T201500Z/point.json  time, counts, size

A point stands for the tree as the push left it. The tree at point P is the tree now, where
each file that a later push touched takes the state the first of those pushes found: its
saved copy (``files/``), or absent when that push added it. Dumps and the configuration
backup are files of the push like the others, so each point holds them too.

Pruning follows a retention grid (the plan's ``restore_points_keep``, setting
``RestorePointsKeep``; default: every point for 2 hours, one an hour for 2 days, one a day for
14 days, one a week for 8 weeks) and a free-space floor (``RestorePointsFreeSpace``, default
10%: the oldest first, never the newest). Dropping a point in the middle merges what it saved into the next one
(whose saved copies give way to the older ones), so every point kept stays exact.
"""

import json
import os
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..frozen import frozen
from ..paths import STATE_FOLDER
from ..plan import DEFAULT_RESTORE_POINTS_FREE_PERCENT, DEFAULT_RESTORE_POINTS_KEEP
from ..root import Root
from .dumps import DUMP_RECORD_PATH

POINTS_FOLDER = f"{STATE_FOLDER}/restore-points"
INCOMING_FOLDER = f"{POINTS_FOLDER}/incoming"
PUSH_ADDED_PATH = f"{STATE_FOLDER}/push-added"
# The continuous push's batches send theirs here: only a full push's list asks for a point.
BATCH_ADDED_PATH = f"{STATE_FOLDER}/batch-added"
POINT_NAME_FORMAT = "%Y%m%dT%H%M%SZ"
# What each span of the plan's grid keeps: every point, then one an hour, a day, a week.
GRID_INTERVALS = (0, 3600, 86400, 7 * 86400)


def grid_of(keep: Sequence[int]) -> Tuple[Tuple[int, int], ...]:
    """The (age limit, interval) bands of a grid given as the plan's four spans in seconds."""
    return tuple(zip(keep, GRID_INTERVALS))


DEFAULT_GRID = grid_of(DEFAULT_RESTORE_POINTS_KEEP)
FREE_SPACE_FLOOR_PERCENT = DEFAULT_RESTORE_POINTS_FREE_PERCENT
# HotSync's own files in a push: not the admin's data, never restored.
OWN_FILES = (PUSH_ADDED_PATH.lstrip("/"), BATCH_ADDED_PATH.lstrip("/"), DUMP_RECORD_PATH.lstrip("/"))


@frozen
class Point:
    name: str
    epoch: int
    added: int = 0
    changed: int = 0
    removed: int = 0
    size: int = 0
    rsync_exit: int = 0

    def describe(self) -> Dict:
        return {"name": self.name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.epoch)),
                "epoch": self.epoch, "added": self.added, "changed": self.changed, "removed": self.removed,
                "size": self.size, "complete": self.rsync_exit in (0, 23, 24, 25)}


# --- on the slave


def point_folder(root: Root, name: str) -> Path:
    return root.path(POINTS_FOLDER) / name


def list_points(root: Root) -> List[Point]:
    """The restore points, oldest first."""
    folder = root.path(POINTS_FOLDER)
    points = []
    try:
        entries = sorted(os.listdir(str(folder)))
    except OSError:
        return []
    for name in entries:
        try:
            data = json.loads((folder / name / "point.json").read_text("utf-8"))
            points.append(Point(name, int(data["epoch"]), int(data.get("added", 0)), int(data.get("changed", 0)),
                                int(data.get("removed", 0)), int(data.get("size", 0)), int(data.get("rsync_exit", 0))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(points, key=lambda point: (point.epoch, point.name))


def read_added(root: Root, name: str) -> Set[str]:
    try:
        return set(json.loads((point_folder(root, name) / "added.json").read_text("utf-8")))
    except (OSError, ValueError):
        return set()


def saved_files(folder: Path) -> List[str]:
    """The files a point saved, relative to its ``files/`` folder."""
    names = []
    for parent, _folders, files in os.walk(str(folder)):
        for file_name in files:
            names.append(os.path.relpath(os.path.join(parent, file_name), str(folder)))
    return names


# --- pruning


def kept_by_grid(points: Sequence[Point], now: float, grid=DEFAULT_GRID) -> Set[str]:
    """The points the retention grid keeps: every one in the first band, then the newest per
    interval of each band; the newest point always."""
    kept: Set[str] = set()
    seen_buckets: Set[Tuple[int, int]] = set()
    for point in sorted(points, key=lambda item: -item.epoch):
        age = now - point.epoch
        for band, (limit, interval) in enumerate(grid):
            if age <= limit:
                bucket = (band, int(point.epoch // interval) if interval else point.epoch)
                if interval == 0 or bucket not in seen_buckets:
                    kept.add(point.name)
                    seen_buckets.add(bucket)
                break
    if points:
        kept.add(max(points, key=lambda item: item.epoch).name)
    return kept


def prune(root: Root, now: float, grid=DEFAULT_GRID, floor_percent: int = FREE_SPACE_FLOOR_PERCENT) -> List[str]:
    """Drop the points the grid does not keep, then the oldest while free space is under the floor."""
    dropped = []
    points = list_points(root)
    kept = kept_by_grid(points, now, grid)
    for point in points:
        if point.name not in kept:
            drop_point(root, point.name)
            dropped.append(point.name)
    points = list_points(root)
    while len(points) > 1 and free_percent(root.path(POINTS_FOLDER)) < floor_percent:
        drop_point(root, points[0].name)
        dropped.append(points[0].name)
        points = points[1:]
    return dropped


def free_percent(path: Path) -> float:
    info = os.statvfs(str(path))
    return 100.0 * info.f_bavail / info.f_blocks if info.f_blocks else 100.0


def drop_point(root: Root, name: str) -> None:
    """Forget point ``name``; the next point takes over what it saved, so older points stay exact."""
    points = [point.name for point in list_points(root)]
    index = points.index(name)
    if index + 1 < len(points):
        merge_into_next(root, name, points[index + 1], oldest=index == 0)
    shutil.rmtree(str(point_folder(root, name)), ignore_errors=True)


def merge_into_next(root: Root, name: str, following: str, oldest: bool) -> None:
    """The next point's record of events now starts where ``name``'s did: its own saved copies and
    additions give way to ``name``'s. When ``name`` is the oldest point, nothing before it needs
    them: the next point's saved copies are dropped instead."""
    older, newer = point_folder(root, name), point_folder(root, following)
    if oldest:
        shutil.rmtree(str(newer / "files"), ignore_errors=True)
        (newer / "files").mkdir(mode=0o700)
        write_file_atomic(newer / "added.json", "[]\n", mode=0o600, durable=False)
        return
    older_added = read_added(root, name)
    older_saved = set(saved_files(older / "files"))
    for saved in older_saved | older_added:
        superseded = newer / "files" / saved
        if superseded.is_file() or superseded.is_symlink():
            superseded.unlink()
    for saved in older_saved:
        destination = newer / "files" / saved
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.rename(str(older / "files" / saved), str(destination))
    newer_added = {entry for entry in read_added(root, following) if entry not in older_saved}
    merged = sorted(newer_added | older_added)
    write_file_atomic(newer / "added.json", json.dumps(merged) + "\n", mode=0o600, durable=False)


# --- restoring


def parse_time(text: str) -> Optional[float]:
    """``2026-12-01T20:15:00Z``, ``2026-12-01T20:15`` (UTC), a point's name, or seconds since the epoch."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    for pattern in (POINT_NAME_FORMAT, "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%MZ",
                    "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return float(_utc_epoch(time.strptime(text, pattern)))
        except ValueError:
            continue
    return None


def _utc_epoch(parts: time.struct_time) -> int:
    import calendar

    return calendar.timegm(parts)


def point_at(points: Sequence[Point], moment: float) -> Optional[Point]:
    """The last point made at or before ``moment``."""
    earlier = [point for point in points if point.epoch <= moment]
    return earlier[-1] if earlier else None


@frozen
class FileAtPoint:
    name: str  # relative to the root
    source: Optional[str]  # the host file holding its content then; None: it did not exist


def files_at(root: Root, target: Point, host_path: str, unchanged_too: bool = True) -> List[FileAtPoint]:
    """Every file under ``host_path`` now or at ``target``, with where its content at ``target`` is;
    without ``unchanged_too`` only those a push changed since (no walk of the tree)."""
    prefix = host_path.strip("/")
    later = [point for point in list_points(root) if point.epoch > target.epoch or
             (point.epoch == target.epoch and point.name > target.name)]
    first_event: Dict[str, Optional[str]] = {}
    for point in later:
        folder = point_folder(root, point.name)
        for name in read_added(root, point.name):
            if _under(name, prefix):
                first_event.setdefault(name, None)
        for name in saved_files(folder / "files"):
            if _under(name, prefix):
                first_event.setdefault(name, str(folder / "files" / name))
    result = {}
    current = root.path("/" + prefix) if prefix else root.path("/")
    for name in (_current_files(current, root) if unchanged_too else ()):
        if _under(name, prefix) and name not in first_event and name not in OWN_FILES:
            result[name] = FileAtPoint(name, str(root.path("/" + name)))
    for name, source in first_event.items():
        if name not in OWN_FILES:
            result[name] = FileAtPoint(name, source)
    return [result[name] for name in sorted(result)]


def _under(name: str, prefix: str) -> bool:
    return not prefix or name == prefix or name.startswith(prefix + "/")


def _current_files(path: Path, root: Root) -> List[str]:
    base = str(root.path("/")).rstrip("/")
    points_folder = str(root.path(POINTS_FOLDER))
    if path.is_file() or path.is_symlink():
        return [os.path.relpath(str(path), base)]
    names = []
    for parent, folders, files in os.walk(str(path)):
        folders[:] = [entry for entry in folders if os.path.join(parent, entry) != points_folder]
        names += [os.path.relpath(os.path.join(parent, entry), base) for entry in files]
    return names


def restore(root: Root, target: Point, host_path: str, to: Optional[Path], dry_run: bool) -> List[str]:
    """Bring ``host_path`` back as it was at ``target``: in place, or under ``to``. Returns what it did."""
    prefix = host_path.strip("/")
    parent = prefix.rpartition("/")[0]
    actions = []
    for entry in files_at(root, target, host_path, unchanged_too=to is not None):
        if to is not None:
            destination = to / os.path.relpath(entry.name, parent or ".")
        else:
            destination = root.path("/" + entry.name)
        if entry.source is None:
            if to is None and os.path.lexists(str(destination)):
                actions.append(f"remove {destination}")
                if not dry_run:
                    destination.unlink()
            continue
        if to is None and entry.source == str(destination):
            continue  # unchanged since the point
        actions.append(f"restore {destination}")
        if not dry_run:
            copy_file(Path(entry.source), destination)
    return actions


def rewind(root: Root, moment_text: str, dry_run: bool = False) -> str:
    """The whole synced tree back to the last point at or before ``moment_text`` (promotion ``--at``)."""
    target = point_for(root, moment_text)
    actions = restore(root, target, "/", None, dry_run)
    verb = "would go" if dry_run else "went"
    return f"{verb} back to the restore point of {target.describe()['time']}: {len(actions)} file(s) restored or removed"


def point_for(root: Root, moment_text: str) -> Point:
    """The point ``--at moment_text`` names; a ``HotsyncError`` saying why when there is none.

    A point's own name picks that point, also one of two made in the same second
    (``20261201T201500Z-2``); any other text is a time.
    """
    points = list_points(root)
    named = [point for point in points if point.name == moment_text.strip()]
    if named:
        return named[0]
    moment = parse_time(moment_text)
    if moment is None:
        raise HotsyncError(f"cannot read the time {moment_text!r} (e.g. 2026-12-01T20:15:00Z, or a point's name"
                           " as 'hotsync restore-points' lists it)")
    target = point_at(points, moment)
    if target is None:
        raise HotsyncError(f"no restore point at or before {moment_text} ('hotsync restore-points' lists them)")
    return target


def copy_file(source: Path, destination: Path) -> None:
    """Copy with mode, times and (as root) owner, replacing ``destination`` whole."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    info = os.lstat(str(source))
    temporary = destination.with_name(f".{destination.name}.hotsync-restore")
    if os.path.islink(str(source)):
        os.symlink(os.readlink(str(source)), str(temporary))
    else:
        shutil.copy2(str(source), str(temporary))
        if os.geteuid() == 0:
            os.chown(str(temporary), info.st_uid, info.st_gid)
    os.replace(str(temporary), str(destination))
