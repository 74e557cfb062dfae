"""Give synced paths their owner without letting the owners of those paths steer root.

The slave runs as root over trees that service users (asterisk, vmail...) can write. A
walk that lists names and then changes them by path lets such a user swap a folder for a
symbolic link in between and have root hand over a file anywhere on the host. So every
step here goes through directory descriptors:

* the folder holding a path is opened one name at a time from the root; a symbolic link
  on the way is followed only when it lies in a folder that only root can write (an
  admin who moved a data folder to another disk keeps working), else the path is
  refused (``UnsafeLink``);
* entries are changed by name inside their open folder, never following a link (a link
  gets its own owner, as ``lchown`` gave it);
* a folder is entered only by opening its name with ``O_NOFOLLOW | O_DIRECTORY`` and
  checking it is the folder just listed; anything replaced in between is skipped.

A path given itself as a symbolic link is changed itself and never followed, wherever it
points. Entries that disappear during the walk are skipped: the tree is live.

Hard links are left to the kernel: with ``fs.protected_hardlinks`` (on by default) a user
can only link a file they may already read and write into their tree.
"""

import errno
import fnmatch
import os
import stat
from pathlib import PurePosixPath
from typing import Iterator, List, Optional, Tuple

from ..errors import HotsyncError
from ..root import Root

# Opens a folder by name and fails (ENOTDIR) on a symbolic link, a file, a FIFO...
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
MAX_LINKS = 40  # as the kernel's own limit on links in one path
# Errors of an entry that changed between listing and use: it is skipped, not reported.
CHANGED_MEANWHILE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)

Ids = Tuple[int, int]


class UnsafeLink(HotsyncError):
    """A symbolic link on the way to a path lies in a folder other users can write."""


def change_owners(root: Root, host_path: str, ids: Ids, recursive: bool, pattern: str) -> int:
    """Give ``host_path`` the owner and group ``ids``: the path itself when there is no
    ``pattern``, its whole tree when ``recursive``, and with a ``pattern`` only the
    entries whose name matches it (direct entries, or the whole tree when recursive).

    Returns how many entries changed owner (entries already right are not touched, so
    they keep their ctime). Raises ``FileNotFoundError`` or ``NotADirectoryError`` when the
    path does not exist, ``UnsafeLink`` when reaching it would follow a link another user
    controls, ``OSError`` when an entry cannot be changed.
    """
    root.path(host_path)  # refuses a relative path or one with '..'
    parts = PurePosixPath(host_path).parts[1:]
    holder = open_host_folder(root, parts[:-1])
    try:
        return _change_path(holder, parts[-1] if parts else ".", ids, recursive, pattern)
    finally:
        os.close(holder)


def open_host_folder(root: Root, names: Tuple[str, ...]) -> int:
    """A descriptor of the folder ``names`` (components under the root), opened one name
    at a time; a symbolic link is followed only from a folder only root can write."""
    folder = os.open(str(root.base), os.O_RDONLY | os.O_DIRECTORY)
    pending: List[str] = list(names)
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            target = _link_target(folder, name)
            if target is None:
                folder = _enter(folder, os.open(name, FOLDER_FLAGS, dir_fd=folder))
                continue
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/" + "/".join(names))
            pending = [part for part in target.split("/") if part not in ("", ".")] + pending
            if target.startswith("/"):
                folder = _enter(folder, os.open("/", os.O_RDONLY | os.O_DIRECTORY))
        return folder
    except BaseException:
        os.close(folder)
        raise


def _link_target(folder: int, name: str) -> Optional[str]:
    """Where the link ``name`` points, or None when it is not a link; ``UnsafeLink`` when a
    user other than root could have put it there (the folder is theirs or they may write it)."""
    if name == ".." or not stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
        return None
    holder = os.fstat(folder)
    if holder.st_uid != 0 or holder.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeLink(f"the symbolic link '{name}' on the way lies in a folder other users can write: "
                         "not followed, owners left as they are")
    return os.readlink(name, dir_fd=folder)


def _enter(folder: int, inner: int) -> int:
    os.close(folder)
    return inner


def _change_path(holder: int, name: str, ids: Ids, recursive: bool, pattern: str) -> int:
    """The owner fix of the entry ``name`` of the open folder ``holder`` (see ``change_owners``)."""
    status = os.stat(name, dir_fd=holder, follow_symlinks=False)
    changed = 0
    if not pattern:
        changed += _change_entry(holder, name, status, ids)
        if not recursive:
            return changed
    folder = open_listed_folder(holder, name, status)
    if folder is None:  # not a folder (a link is never followed), or replaced just now
        return changed
    try:
        for parent, entry, entry_status in walk_entries(folder, recursive):
            if not pattern or fnmatch.fnmatch(entry, pattern):
                changed += _change_entry(parent, entry, entry_status, ids)
    finally:
        os.close(folder)
    return changed


def walk_entries(top: int, recursive: bool) -> Iterator[Tuple[int, str, os.stat_result]]:
    """(descriptor of its folder, name, ``lstat``) of each entry of the open folder ``top``,
    and of every folder under it when ``recursive``; sorted by name, each folder's entry
    before its content.

    A folder is entered through ``open_listed_folder``: a link is never followed and a
    folder replaced after it was listed is not entered. Descriptors are held for the
    folders on the current branch only, and closed when the walk ends, however it ends.
    """
    stack = [(top, iter(_list(top)))]
    try:
        while stack:
            folder, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if folder != top:
                    os.close(folder)
                continue
            status = _entry_status(folder, name)
            if status is None:
                continue
            yield folder, name, status
            inner = open_listed_folder(folder, name, status) if recursive else None
            if inner is not None:
                stack.append((inner, iter(_list(inner))))
    finally:
        for folder, _names in stack:
            if folder != top:
                os.close(folder)


def open_listed_folder(holder: int, name: str, status: os.stat_result) -> Optional[int]:
    """A descriptor of the folder ``name`` in ``holder`` when it still is the folder that
    ``status`` (its ``lstat``) describes; None for anything else (never a link's target)."""
    if not stat.S_ISDIR(status.st_mode):
        return None
    try:
        folder = os.open(name, FOLDER_FLAGS, dir_fd=holder)
    except OSError as error:
        if error.errno in CHANGED_MEANWHILE:
            return None
        raise
    if not os.path.samestat(os.fstat(folder), status):
        os.close(folder)
        return None
    return folder


def _list(folder: int) -> List[str]:
    return sorted(os.listdir(folder))


def _entry_status(folder: int, name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _change_entry(folder: int, name: str, status: os.stat_result, ids: Ids) -> int:
    """Change the entry itself (a link is not followed) when its owner differs; 1 when changed."""
    if (status.st_uid, status.st_gid) == ids:
        return 0
    try:
        os.chown(name, ids[0], ids[1], dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    return 1
