"""What changed under a set of folders, from Linux's inotify, for the continuous push.

inotify is reached through ``ctypes`` on the C library (no new dependency, and Python 3.6's
standard library has no binding). A watch covers one folder, not its tree, so ``Watcher``
adds one per folder, and one for each folder that appears later (created, or moved in):
a folder's files that were written before its watch existed are reported by walking it
once the watch is in place, so nothing written into a new folder is missed.

What comes out is paths, not events: ``changed`` (write it to the slave again) or
``deleted`` (remove it there), and ``overflow`` when the kernel's queue overflowed and
events were lost: then only a full push is sure to carry everything.
"""

import ctypes
import ctypes.util
import errno
import os
import select
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import HotsyncError

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

WATCHED = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF)
_EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)
_READ_SIZE = 1 << 16

CHANGED = "changed"
DELETED = "deleted"
OVERFLOW = "overflow"

Change = Tuple[str, str]  # (kind, absolute path); the path is "" for an overflow


def _libc():
    library = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    library.inotify_init1.argtypes = [ctypes.c_int]
    library.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    library.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    return library


class Watcher:
    """inotify watches over every folder under ``roots`` (paths that are not folders, or do
    not exist yet, are watched through their parent: a file include, or a folder an admin
    has yet to create)."""

    def __init__(self, roots: Sequence[str]):
        self._libc = _libc()
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise HotsyncError(f"cannot watch for changes: inotify_init1: {os.strerror(ctypes.get_errno())}")
        self._folders: Dict[int, str] = {}  # watch descriptor -> folder
        self._roots = tuple(os.path.normpath(root) for root in roots)
        for root in self._roots:
            self._watch_tree(root if os.path.isdir(root) else os.path.dirname(root) or "/")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *_exception) -> None:
        self.close()

    def fileno(self) -> int:
        return self._fd

    @property
    def folders_watched(self) -> int:
        return len(self._folders)

    def read(self, timeout: Optional[float]) -> List[Change]:
        """The changes the kernel has queued, waiting up to ``timeout`` seconds for the first
        (None: until there is one); [] when none came."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return []
        return [change for change in self._decode(data) if self._wanted(change)]

    def _decode(self, data: bytes) -> Iterable[Change]:
        offset = 0
        while offset + _EVENT_HEADER.size <= len(data):
            descriptor, mask, _cookie, length = _EVENT_HEADER.unpack_from(data, offset)
            offset += _EVENT_HEADER.size
            name = os.fsdecode(data[offset:offset + length].rstrip(b"\0"))
            offset += length
            yield from self._interpret(descriptor, mask, name)

    def _interpret(self, descriptor: int, mask: int, name: str) -> Iterable[Change]:
        if mask & IN_Q_OVERFLOW:
            yield OVERFLOW, ""
            return
        if mask & IN_IGNORED:
            self._folders.pop(descriptor, None)
            return
        folder = self._folders.get(descriptor)
        if folder is None or not name:
            return  # the folder's own deletion or move: its parent reports it by name
        path = os.path.join(folder, name)
        if mask & (IN_DELETE | IN_MOVED_FROM):
            yield DELETED, path
        elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
            yield CHANGED, path
            yield from ((CHANGED, inside) for inside in self._watch_tree(path))
        elif mask & (IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB):
            yield CHANGED, path

    def _wanted(self, change: Change) -> bool:
        kind, path = change
        return kind == OVERFLOW or any(path == root or path.startswith(root.rstrip("/") + "/")
                                       for root in self._roots)

    def _watch_tree(self, top: str) -> List[str]:
        """Watch ``top`` and every folder under it; every path found under it (for a folder
        that appeared whole, each is new to the slave)."""
        found: List[str] = []
        if not self._add_watch(top):
            return found
        for folder, subfolders, files in os.walk(top):
            for name in subfolders:
                path = os.path.join(folder, name)
                found.append(path)
                if not os.path.islink(path):
                    self._add_watch(path)
            found.extend(os.path.join(folder, name) for name in files)
        return found

    def _add_watch(self, folder: str) -> bool:
        descriptor = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), WATCHED | IN_ONLYDIR | IN_DONT_FOLLOW)
        if descriptor < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):
                return False  # gone again before its watch: its parent reports the deletion
            raise HotsyncError(f"cannot watch {folder}: {os.strerror(code)}"
                               + (" (raise fs.inotify.max_user_watches)" if code == errno.ENOSPC else ""))
        self._folders[descriptor] = folder
        return True
