"""How the slave turns pushes into restore points without pulling a folder from under a push.

A push's transfer can overlap another one on the slave: the next push starts while the
daemon still runs the last one's ``post-xfer exec`` (the master's lock ends with its rsync,
before the slave's seal), or a receiver whose master died still runs when the next push comes.
So:

* Each push saves what it replaces into a folder of its own,
  ``restore-points/incoming/<push name>`` (the master names it, ``new_push_name``: the time
  it started and its process id, so the names sort as the pushes started), and its list of
  added files (``push-added``) carries that name. A later push that replaces ``push-added``
  keeps the earlier list in its own folder, as any file it replaces. A batch of the
  continuous push sends its list as ``batch-added``, kept the same way: its push joins the
  point the next full push asks for, with what it added.
* Before a transfer starts, the daemon's ``pre-xfer exec`` notes it as running (an empty
  ``/var/run/nethserver-hotsync/transfers/<RSYNC_PID>``, written under the lock by a shell line,
  or by ``hotsync-slave begin-push`` after the fence's check); the daemon waits for it, so the
  transfer writes nothing before it is noted.
* After a transfer, its ``post-xfer exec`` forgets it and seals only when no other noted
  transfer still runs: the last one to end seals every push waiting, in one point (a point may
  cover overlapping pushes). Where two of them saved or added the same file, the push that
  started first tells how the file was before the point.

Noting, checking and sealing happen under one lock, so a transfer either starts before a seal
decides (and the seal waits for it) or after the seal moved every folder away (and gets its
own).

``RSYNC_PID`` is the same number for both commands of one transfer: in rsync 3.1.2 the
process that transfers, in newer ones the process that waits for it and then runs ``post-xfer
exec``. Either way it lives while the transfer does, and a noted process that is gone, or that
started after its note was written (another process with the number of one that ended without
its post-xfer exec), no longer counts.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set

from ..digits import ascii_number
from ..files import write_file_atomic
from ..frozen import frozen
from ..paths import POINTS_LOCK_PATH, TRANSFERS_FOLDER
from ..root import Root
from .lock import hold_lock_file
from .points import (
    BATCH_ADDED_PATH,
    DEFAULT_GRID,
    FREE_SPACE_FLOOR_PERCENT,
    INCOMING_FOLDER,
    OWN_FILES,
    POINT_NAME_FORMAT,
    PUSH_ADDED_PATH,
    Point,
    point_folder,
    prune,
    saved_files,
)

# What new_push_name makes; nothing else in incoming is taken for a push's folder.
PUSH_NAME = re.compile(r"[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9]{1,10}")
_SAVED_PUSH_ADDED = PUSH_ADDED_PATH.lstrip("/")
_ADDED_LISTS = (PUSH_ADDED_PATH, BATCH_ADDED_PATH)
# A noted process started before its note was written; one that started more than this many
# seconds later took the number of a transfer that ended without its post-xfer exec.
PID_REUSE_MARGIN = 5.0


# --- on the master


def new_push_name(now: Optional[float] = None) -> str:
    """A name for one push, unique on its master and sorting as the pushes started."""
    moment = time.time() if now is None else now
    seconds = int(moment)
    micro = int((moment - seconds) * 1000000)
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(seconds))}.{micro:06d}Z-{os.getpid()}"


def backup_options(push_name: str) -> List[str]:
    """What the master adds to a push so the slave keeps the replaced versions (relative to the module)."""
    return ["--backup", f"--backup-dir={INCOMING_FOLDER.lstrip('/')}/{push_name}"]


def write_push_added(root: Root, push_name: str, added_names: Sequence[str], path: str = PUSH_ADDED_PATH) -> None:
    """On the master: the files this push adds, sent along with it (the slave files them in the
    point); a batch of the continuous push writes them to ``BATCH_ADDED_PATH``."""
    content = json.dumps({"push": push_name, "added": sorted(added_names)}, ensure_ascii=True) + "\n"
    write_file_atomic(root.path(path), content, mode=0o600, durable=False)


# --- on the slave: the transfers running


def begin_transfer(root: Root, environment: Mapping[str, str]) -> None:
    """``pre-xfer exec``: note the transfer ``RSYNC_PID`` names as running (an empty file named
    after it). The daemon of a slave that has no fence writes the same note with a shell line
    (templates/rsyncd.conf.j2): no Python starts before each push."""
    pid = ascii_number(environment.get("RSYNC_PID", ""))
    if pid is None:
        return
    with hold_points_lock(root):
        write_file_atomic(_transfer_path(root, pid), "", mode=0o600, durable=False)


def hold_points_lock(root: Root):
    return hold_lock_file(root.path(POINTS_LOCK_PATH))


def _transfer_path(root: Root, pid: int) -> Path:
    return root.path(TRANSFERS_FOLDER) / str(pid)


def forget_transfer(root: Root, pid: Optional[int]) -> None:
    if pid is not None:
        try:
            _transfer_path(root, pid).unlink()
        except FileNotFoundError:
            pass


def transfers_running(root: Root) -> List[int]:
    """The noted transfers still running; the notes of those gone are dropped."""
    running = []
    folder = root.path(TRANSFERS_FOLDER)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        pid = ascii_number(entry.name)
        try:
            noted = entry.stat().st_mtime
        except OSError:
            continue
        started = process_started(pid) if pid is not None else None
        if pid is not None and started is not None and started <= noted + PID_REUSE_MARGIN:
            running.append(pid)
        else:
            entry.unlink()
    return running


def process_started(pid: int) -> Optional[float]:
    """When process ``pid`` started (epoch seconds), None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
        boot = next(line for line in Path("/proc/stat").read_text("ascii", "replace").splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    fields = stat.rpartition(")")[2].split()  # the command name in parentheses may hold spaces
    ticks = ascii_number(fields[19], 20) if len(fields) >= 20 and fields[0] not in ("Z", "X") else None
    booted = ascii_number(boot.split()[-1], 20)
    if ticks is None or booted is None:
        return None
    return booted + ticks / os.sysconf("SC_CLK_TCK")


# --- on the slave: sealing


@frozen
class PendingPush:
    name: str  # "" for what an older master saved straight into incoming
    folder: Optional[Path]  # what it saved, relative names below it; None: it replaced nothing
    saved: tuple  # names relative to ``folder`` (and to the root)
    added: tuple


def seal_point(root: Root, rsync_exit: int, now: float, grid=DEFAULT_GRID,
               floor_percent: int = FREE_SPACE_FLOOR_PERCENT, transfer: Optional[int] = None) -> Optional[Point]:
    """``post-xfer exec`` of transfer ``transfer``: when no other transfer runs, turn what the
    pushes waiting saved and added into one point, then prune.

    Only pushes that made a point (their master sends the list of added files) get one;
    otherwise (an older master, a continuous push's batch) what they saved waits for the next.
    """
    with hold_points_lock(root):
        forget_transfer(root, transfer)
        if transfers_running(root):
            return None  # the last transfer to end seals this push too
        if not _lists_waiting(root):
            return None  # nothing asked for a point yet (a continuous push's batch): no walk
        pushes = pending_pushes(root)
        point = _seal(root, pushes, rsync_exit, now)
        prune(root, now, grid, floor_percent)
    return point


def pending_pushes(root: Root) -> List[PendingPush]:
    """The pushes not yet in a point, in the order they started."""
    incoming = root.path(INCOMING_FOLDER)
    entries = sorted(os.listdir(str(incoming))) if incoming.is_dir() else []
    folders = {name: incoming / name for name in entries if PUSH_NAME.fullmatch(name) and (incoming / name).is_dir()}
    older = [name for name in entries if name not in folders]
    lists = _added_lists(root, [incoming, *folders.values()])
    pushes = []
    if older or "" in lists:
        saved = [name for entry in older for name in _saved_under(incoming, entry)]
        pushes.append(PendingPush("", incoming if older else None, tuple(saved), tuple(lists.get("", ()))))
    for name in sorted((set(folders) | set(lists)) - {""}):
        folder = folders.get(name)
        saved = saved_files(folder) if folder is not None else []
        pushes.append(PendingPush(name, folder, tuple(saved), tuple(lists.get(name, ()))))
    return pushes


def _lists_waiting(root: Root) -> bool:
    """Whether a push's list of added files waits: in the tree, or kept by a later push."""
    if root.path(PUSH_ADDED_PATH).is_file():
        return True
    incoming = root.path(INCOMING_FOLDER)
    return incoming.is_dir() and any((incoming / name / _SAVED_PUSH_ADDED).is_file() for name in os.listdir(str(incoming)))


def _saved_under(incoming: Path, entry: str) -> List[str]:
    path = incoming / entry
    if path.is_dir() and not path.is_symlink():
        return [os.path.join(entry, name) for name in saved_files(path)]
    return [entry]


def _added_lists(root: Root, folders: Sequence[Path]) -> Dict[str, List[str]]:
    """Every list of added files waiting, by push: those in the tree, and those a later push
    replaced (kept in its folder)."""
    lists: Dict[str, List[str]] = {}
    paths = [base / own.lstrip("/") for base in [root.path("/"), *folders] for own in _ADDED_LISTS]
    for path in paths:
        try:
            content = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(content, list):  # an older master's list, without its push's name
            lists.setdefault("", []).extend(str(name) for name in content)
        elif isinstance(content, dict) and PUSH_NAME.fullmatch(str(content.get("push"))):
            lists.setdefault(str(content["push"]), []).extend(str(name) for name in content.get("added") or ())
    return lists


def _seal(root: Root, pushes: Sequence[PendingPush], rsync_exit: int, now: float) -> Point:
    target = _new_point_folder(root, now)
    files = target / "files"
    added = _gather(pushes, files)
    if not files.exists():
        files.mkdir(mode=0o700)
    for own in OWN_FILES:
        if os.path.lexists(str(files / own)):
            os.unlink(str(files / own))
    write_file_atomic(target / "added.json", json.dumps(added) + "\n", mode=0o600, durable=False)
    for own in _ADDED_LISTS:
        try:
            root.path(own).unlink()  # sealed: the next push sends its own
        except FileNotFoundError:
            pass
    try:
        root.path(INCOMING_FOLDER).rmdir()
    except OSError:
        pass  # never made, or it holds what no HotSync push put there
    saved = [name for name in saved_files(files) if name not in OWN_FILES]
    removed = sum(1 for name in saved if not os.path.lexists(str(root.path("/" + name))))
    size = sum(os.lstat(str(files / name)).st_size for name in saved)
    # A file a batch added and a later one deleted stays in added.json (its saved copy is no
    # state before the point), but the point did not add it.
    still_there = sum(1 for name in added if os.path.lexists(str(root.path("/" + name))))
    point = Point(target.name, int(now), still_there, len(saved) - removed, removed, size, rsync_exit)
    record = {key: value for key, value in point.describe().items() if key != "name"}
    record["rsync_exit"] = rsync_exit
    write_file_atomic(target / "point.json", json.dumps(record, indent=2) + "\n", mode=0o600, durable=False)
    return point


def _new_point_folder(root: Root, now: float) -> Path:
    name = time.strftime(POINT_NAME_FORMAT, time.gmtime(now))
    target = point_folder(root, name)
    number = 1
    while target.exists():
        number += 1
        target = point_folder(root, f"{name}-{number}")
    target.mkdir(parents=True, mode=0o700)
    return target


def _gather(pushes: Sequence[PendingPush], files: Path) -> List[str]:
    """Move what ``pushes`` saved into ``files``; returns what they added. For a file several
    of them touched, the first push's copy or addition stands for the file before the point."""
    seen: Set[str] = set()
    added: List[str] = []
    for push in pushes:
        earlier = set(seen)
        fresh = [name for name in push.added if name not in seen and name not in OWN_FILES]
        added += fresh
        seen.update(fresh)
        if push.folder is None:
            continue
        saved = [name for name in push.saved if name not in OWN_FILES]
        if push.name and not files.exists() and earlier.isdisjoint(saved):
            os.rename(str(push.folder), str(files))  # the usual case: one push, one rename
        else:
            for name in saved:
                if name not in earlier:
                    _move(push.folder / name, files / name)
            _remove_saved(push)
        seen.update(saved)
    return added


def _move(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.rename(str(source), str(destination))


def _remove_saved(push: PendingPush) -> None:
    """Drop what is left of ``push``'s folder (for an older master's, only what it saved)."""
    assert push.folder is not None
    if push.name:
        shutil.rmtree(str(push.folder), ignore_errors=True)
        return
    for entry in {name.split("/", 1)[0] for name in push.saved}:
        path = push.folder / entry
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(str(path), ignore_errors=True)
        elif os.path.lexists(str(path)):
            os.unlink(str(path))

