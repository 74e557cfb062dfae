"""One HotSync run at a time: a kernel lock (``flock``) on ``/var/lock/hotsync.lock``.

A master's sync takes it; on a slave, the upkeep, fixperm and promotion take it, so the
upkeep never runs beside a promotion. The slave's restore points have a lock of their own
(``hold_lock_file``, see ``points``).

The kernel drops the lock when the holding process ends, however it ends, so a
crashed run can never leave a stale lock behind (the original's lock directory could).
"""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..paths import LOCK_PATH
from ..root import Root


@contextmanager
def hold_sync_lock(root: Root, waiting: Optional[Callable[[], None]] = None) -> Iterator[bool]:
    """Try to take the root's sync lock without waiting.

    Yields True while this process holds the lock, False when another run holds it
    (the caller should then end quietly). With ``waiting``, a busy lock is waited for
    instead: ``waiting`` is called once first (to say so), and the result is always True.
    """
    with hold_lock_file(root.path(LOCK_PATH), waiting, wait=waiting is not None) as held:
        yield held


@contextmanager
def hold_lock_file(path: Path, waiting: Optional[Callable[[], None]] = None, wait: bool = True) -> Iterator[bool]:
    """Hold the kernel lock named by ``path``: yields True while held; False when another
    process holds it and ``wait`` is off. ``waiting`` is called once before a wait.

    The lock file is never written: it only names the lock, so it is opened directly
    rather than through ``write_file_atomic``.
    Its descriptor is not inherited by child processes (Python's default), so a
    leftover rsync cannot keep the lock after its parent died.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            if waiting is not None:
                waiting()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock
