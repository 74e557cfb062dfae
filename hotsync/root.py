"""The root every path lives under: ``/`` on a real host, a folder for a sandbox host.

This is the only module that joins a host path to the root. Everyone else asks
``root.path("/etc/rsyncd.conf")`` and gets the real location.
"""

import os
from pathlib import Path, PurePosixPath
from typing import Optional

from .errors import UsageError
from .frozen import frozen

ROOT_ENVIRONMENT_VARIABLE = "HOTSYNC_ROOT"


@frozen
class Root:
    """A host's file system, seen from inside (host paths) and outside (real paths)."""

    base: Path

    @property
    def is_sandbox(self) -> bool:
        return self.base != Path("/")

    def path(self, host_path: str) -> Path:
        """The real location of an absolute host path such as ``/etc/hotsync.conf``."""
        pure = PurePosixPath(host_path)
        if not pure.is_absolute():
            raise ValueError(f"host path must be absolute: {host_path}")
        if ".." in pure.parts:
            raise ValueError(f"host path must not contain '..': {host_path}")
        relative = pure.relative_to("/")
        return self.base / relative if relative.parts else self.base

    def host_path(self, real_path: Path) -> str:
        """The host path of a real location inside this root (inverse of ``path``)."""
        relative = Path(real_path).resolve().relative_to(self.base)
        return "/" + relative.as_posix() if relative.parts else "/"

    def __str__(self) -> str:
        return str(self.base)


def resolve_root(option: Optional[str] = None) -> Root:
    """The root from ``--root``, else ``$HOTSYNC_ROOT``, else ``/``."""
    chosen = option or os.environ.get(ROOT_ENVIRONMENT_VARIABLE) or "/"
    base = Path(chosen).expanduser()
    if not base.is_absolute():
        base = Path.cwd() / base
    base = base.resolve()
    if base.exists() and not base.is_dir():
        raise UsageError(f"root {base} is not a directory")
    return Root(base)
