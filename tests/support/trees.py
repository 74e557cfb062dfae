"""One fingerprint of a folder tree: what an admin would diff (contents, modes, links), computed
by the tests themselves, not by HotSync's own digest helpers."""

import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Tuple

# Daemon logs and pid files change whenever a daemon is contacted; they are not the data.
DAEMON_STATE = ("/var/log", "/var/run")


def tree_digest(top: Path, within: Optional[Iterable[str]] = None, leave_out: Iterable[str] = (),
                owners_and_times: bool = False) -> Dict[str, tuple]:
    """Every entry under ``top`` by its path from ``top`` (``/etc/x``): ``("link", target)``,
    ``("dir", mode)`` or ``("file", mode, sha256)``.

    ``within``: only these host paths (folders) are walked; ``leave_out``: host paths skipped
    with all they hold; ``owners_and_times``: each entry also carries its owner, group, size
    and modification time (a tree nobody touched, not only one with the same contents).
    """
    top = Path(top)
    skipped = {_host_path(path) for path in leave_out}
    digest = {}
    for start in (within if within is not None else ("/",)):
        for path in _walk(top, top / start.lstrip("/"), skipped):
            digest[_host_path("/" + str(path.relative_to(top)))] = _entry(path, owners_and_times)
    return digest


def _host_path(text: str) -> str:
    return "/" + text.strip("/")


def _walk(top: Path, start: Path, skipped: set) -> Iterator[Path]:
    """Every path below ``start`` (links not followed), leaving out the ``skipped`` folders."""
    if not start.is_dir() or start.is_symlink():
        return
    for folder, folders, files in os.walk(start):
        base = Path(folder)
        folders[:] = sorted(name for name in folders
                            if _host_path("/" + str((base / name).relative_to(top))) not in skipped)
        for name in folders + sorted(files):
            yield base / name


def file_digest(path: Path) -> str:
    """The SHA-256 of one file's content, read a block at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path, owners_and_times: bool) -> tuple:
    status = path.lstat()
    if path.is_symlink():
        entry: Tuple = ("link", os.readlink(path))
    elif path.is_file():
        entry = ("file", oct(status.st_mode & 0o7777), file_digest(path))
    else:
        entry = ("dir", oct(status.st_mode & 0o7777))
    if owners_and_times:
        entry += (status.st_uid, status.st_gid, status.st_size, status.st_mtime_ns)
    return entry


# The options that tell a tree nobody touched: owners and times too, daemon logs and pid files left out.
UNTOUCHED = {"leave_out": DAEMON_STATE, "owners_and_times": True}
