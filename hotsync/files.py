"""The one way HotSync writes a file: atomically, durably, with a known mode and owner.

A reader (or a crash) sees either the old or the new complete file, never a mix:
``write_file_atomic`` for content HotSync holds, ``atomic_target`` for a file another
program writes (a database dump). Logs and the brake's journal are the exception, appended to by ``append_lines``.

A file that replaces another always gets a later modification time, in whole seconds, than
the one it replaces (``advance_mtime``): rsync's quick check sees a file as unchanged when
its size and its time in seconds are the same, so a dump rewritten in the same second with
the same size would otherwise never reach the slave. (rsync's ``--modify-window=-1``, which
compares nanoseconds, is no way out: rsync 3.1.2 reads it as "every two times are equal".)
"""

import grp
import hashlib
import os
import pwd
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union


def write_file_atomic(
    path: Path,
    content: Union[str, bytes],
    mode: int = 0o644,
    owner: Union[str, int, None] = None,
    group: Union[str, int, None] = None,
    durable: bool = True,
) -> None:
    """Replace ``path`` with ``content``: temp file in the same folder, fsync, rename, fsync folder.

    The mode is set on the temp file before any byte is written, so a secret is never
    readable by others, not even for an instant. ``owner``/``group`` are names or numeric
    ids; they are applied only when running as root (a sandbox run by a normal user keeps
    its own).
    ``durable=False`` skips the two fsyncs, for a run's scratch files that a crash may lose:
    on a busy disk each fsync can cost tens of milliseconds, on every sync.
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, mode)
        if os.geteuid() == 0 and (owner is not None or group is not None):
            os.fchown(handle, _user_id(owner), _group_id(group))
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        advance_mtime(Path(temp_name), modification_time(path))
        os.replace(temp_name, path)
    except BaseException:
        _remove_quietly(temp_name)
        raise
    if durable:
        sync_directory(path.parent)


# Logs are read by root alone: they quote paths, host names and the programs' own errors,
# never a secret, but nothing else on the host needs to read them.
LOG_MODE = 0o600


def append_to_log(path: Path, text: str) -> None:
    """Append ``text`` (whole lines) to the log ``path``, created with ``LOG_MODE`` when missing."""
    append_lines(path, text.encode("utf-8", "replace"), LOG_MODE)


def append_lines(path: Path, data: bytes, mode: int) -> None:
    """Append ``data`` (whole lines) to ``path``, created with ``mode`` when missing.

    Logs and the manifest's journal grow by appending, which ``write_file_atomic`` cannot do;
    a single ``write`` on an ``O_APPEND`` descriptor keeps the lines of writers at the same
    time whole, and a crash can cut only the last line short.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_target(path: Path, mode: int, suffix: str = "", keep_unchanged: bool = False) -> Iterator[Path]:
    """A new empty temp file beside ``path``, with ``mode`` already, for a program to write.

    When the block ends without an error the temp file replaces ``path``, durably (fsync
    of the file, rename, fsync of the folder); otherwise it is removed and ``path`` stays
    as it was. ``suffix`` ends the temp file's name, so a crash's leftover can be told
    apart. A program that reopens the file by name keeps its mode. With ``keep_unchanged``
    a temp file holding exactly the bytes ``path`` holds (with the same mode) is removed
    instead: ``path`` keeps its time, so rsync sees nothing to send.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        try:
            os.fchmod(handle, mode)
        finally:
            os.close(handle)
        yield Path(temp_name)
        if keep_unchanged and same_file_content(Path(temp_name), path):
            os.unlink(temp_name)
            return
        advance_mtime(Path(temp_name), modification_time(path))
        _fsync_file(temp_name)
        os.replace(temp_name, path)
    except BaseException:
        _remove_quietly(temp_name)
        raise
    sync_directory(path.parent)


def same_file_content(new: Path, old: Path) -> bool:
    """Whether the regular file ``old`` exists with ``new``'s mode, size and bytes."""
    try:
        old_status = os.lstat(old)
    except FileNotFoundError:
        return False
    new_status = os.stat(new)
    if not stat.S_ISREG(old_status.st_mode) or old_status.st_size != new_status.st_size:
        return False
    if stat.S_IMODE(old_status.st_mode) != stat.S_IMODE(new_status.st_mode):
        return False
    with open(new, "rb") as first, open(old, "rb") as second:
        for block in iter(lambda: first.read(1 << 20), b""):
            if second.read(len(block)) != block:
                return False
    return True


def modification_time(path: Path) -> Optional[float]:
    """``path``'s modification time, or None when there is no such file."""
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def advance_mtime(path: Path, replaced: Optional[float]) -> None:
    """Move ``path``'s modification time to a later second than ``replaced`` (the time of the
    file it replaces, None when there is none) unless it is there already: max(now, replaced + 1 s).

    Every rewrite then carries a time no earlier version had, so whichever version the slave
    holds, rsync's quick check (size and time in seconds) sees the new one as different.
    """
    if replaced is None:
        return
    status = os.stat(path)
    if int(status.st_mtime) > int(replaced):
        return
    os.utime(path, (status.st_atime, float(int(replaced) + 1)))


def file_status(path: Path) -> Optional[os.stat_result]:
    """``os.stat`` of ``path``, or None when there is no such file."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def advance_mtime_if_rewritten(path: Path, before: Optional[os.stat_result]) -> None:
    """``advance_mtime`` for a file another program may have replaced since ``before`` (its
    ``file_status`` then): a file left as it was keeps its time."""
    after = file_status(path)
    if before is None or after is None:
        return
    if (after.st_ino, after.st_mtime_ns, after.st_size) != (before.st_ino, before.st_mtime_ns, before.st_size):
        advance_mtime(path, before.st_mtime)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of the file ``path``, read a block at a time (a dump or an archive may be large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_differs(path: Path, content: Union[str, bytes], mode: int) -> bool:
    """True when writing ``content`` with ``mode`` to ``path`` would change anything."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        if (Path(path).stat().st_mode & 0o7777) != mode:
            return True
        return Path(path).read_bytes() != data
    except FileNotFoundError:
        return True


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_file(name: str) -> None:
    descriptor = os.open(name, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _user_id(name: Union[str, int, None]) -> int:
    if isinstance(name, int):
        return name
    return pwd.getpwnam(name).pw_uid if name else -1


def _group_id(name: Union[str, int, None]) -> int:
    if isinstance(name, int):
        return name
    return grp.getgrnam(name).gr_gid if name else -1


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
