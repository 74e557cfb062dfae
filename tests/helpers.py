"""Helpers the test modules import (tests/ is on sys.path; the package under test is the installed one)."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_hotsync_process(*arguments, environment=None, timeout=120, program="hotsync") -> Outcome:
    """Run the installed console script as a real process (as cron or an admin would)."""
    executable = Path(sys.executable).parent / program
    full_environment = dict(os.environ)
    full_environment.update(environment or {})
    finished = subprocess.run(
        [str(executable), *[str(argument) for argument in arguments]],
        capture_output=True,
        text=True,
        env=full_environment,
        timeout=timeout,
    )
    return Outcome(finished.returncode, finished.stdout, finished.stderr)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_hash(top: Path) -> dict:
    """Every file, link and folder under ``top`` with its content digest and mode (what an admin would diff)."""
    import hashlib

    entries = {}
    top = Path(top)
    for path in sorted(top.rglob("*")):
        relative = str(path.relative_to(top))
        status = path.lstat()
        if path.is_symlink():
            entries[relative] = ("link", os.readlink(path))
        elif path.is_file():
            entries[relative] = ("file", oct(status.st_mode & 0o7777), hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            entries[relative] = ("dir", oct(status.st_mode & 0o7777))
    return entries


def admin(root: Path, *arguments) -> Outcome:
    """What an admin types on host ``root``: ``hotsync --root ROOT ARGS`` as a real process; must succeed."""
    outcome = run_hotsync_process("--root", root, *arguments)
    assert outcome.code == 0, f"hotsync {' '.join(map(str, arguments))} failed: {outcome.err}{outcome.out}"
    return outcome


def admin_in_process(root: Path, *arguments) -> None:
    """Like ``admin`` but in this process (fast set-up steps whose output the test ignores)."""
    from hotsync.cli import main

    code = main(["--root", str(root), *[str(argument) for argument in arguments]])
    assert code == 0, f"hotsync {' '.join(map(str, arguments))} failed"


def set_up_host(root: Path, role: str, peer: str = "127.0.0.1", password: str = "correct-horse-battery",
                tunnel_port: int = 0, rsync_port: int = 0) -> None:
    """Install HotSync into ``root`` and configure it the way an admin does, without starting anything."""
    admin(root, "install", "--quiet")
    peer_prop = "SlaveHost" if role == "master" else "MasterHost"
    settings = ["hotsync", "role", role, peer_prop, peer]
    if tunnel_port:
        settings += ["SlavePort", str(tunnel_port)]
    admin(root, "config", "setprop", *settings)
    rsyncd = ["rsyncd", "password", password]
    if rsync_port:
        rsyncd += ["TCPPort", str(rsync_port)]
    admin(root, "config", "setprop", *rsyncd)


def pbkdf2_key(password: str) -> str:
    """The tunnel key both hosts must derive from ``password``, worked out here and not by
    HotSync: PBKDF2-HMAC-SHA256, 600,000 rounds, the fixed salt (changing any of them would
    cut the tunnel between hosts on different versions)."""
    import hashlib

    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"hotsync stunnel pre-shared key v2", 600000).hex()
