"""One host builder: a sandbox host installed and configured the way an admin does it
(``install``, ``config setprop``), and every process it started stopped at the end of the test,
whether the test passed or failed.

Fixtures: ``sandbox`` (an empty root), ``host`` (a sandbox root whose daemons are stopped
afterwards) and ``make_host`` (builds ``Host`` objects, stopped afterwards).
"""

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pytest

from support.passwords import PASSWORD
from support.runner import TIMEOUT, VENV_BIN, Outcome, run_hotsync, start_hotsync


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_file(path: Path, content: Union[str, bytes], mode: Optional[int] = 0o644) -> Path:
    """``content`` into ``path`` (its folders made), with ``mode`` (None: as the umask leaves it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    if mode is not None:
        os.chmod(path, mode)
    return path


@dataclass
class Host:
    """One host as its admin sees it: a sandbox root, an address, and for a host in a network
    namespace (``namespace``) its own network stack and database servers (``databases``)."""

    root: Path
    name: str = "host"
    address: str = "127.0.0.1"
    namespace: str = ""
    databases: Any = None
    tunnel_port: int = 0
    rsync_port: int = 0
    started: List[subprocess.Popen] = field(default_factory=list)

    # --- commands typed on this host

    def inside(self) -> Tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespace) if self.namespace else ()

    def environment(self) -> Dict[str, str]:
        """What a login shell on a namespace host has: the installed scripts on PATH, a UTF-8 locale."""
        if not self.namespace:
            return {}
        return {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LC_ALL": "C.UTF-8"}

    def run(self, *arguments, program: str = "hotsync", in_process: bool = False,
            timeout: float = TIMEOUT) -> Outcome:
        """``PROGRAM --root ROOT ARGS`` typed on this host; the outcome, whatever it is."""
        return run_hotsync("--root", self.root, *arguments, program=program, in_process=in_process,
                           timeout=timeout, inside=self.inside(), environment=self.environment())

    def admin(self, *arguments, program: str = "hotsync", in_process: bool = False,
              timeout: float = TIMEOUT) -> Outcome:
        """What the admin types on this host; it must succeed."""
        outcome = self.run(*arguments, program=program, in_process=in_process, timeout=timeout)
        assert outcome.code == 0, f"{self.name}: {program} {' '.join(map(str, arguments))} failed " \
                                  f"({outcome.code}): {outcome.err}{outcome.out}"
        return outcome

    def start(self, *arguments, program: str = "hotsync") -> subprocess.Popen:
        """Start a command in the background, in its own process group; killed at the end of the test."""
        process = start_hotsync("--root", self.root, *arguments, program=program, inside=self.inside(),
                                environment=self.environment())
        self.started.append(process)
        return process

    def in_namespace(self, argv: Sequence, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        finished = subprocess.run([*self.inside(), *[str(part) for part in argv]], capture_output=True, text=True,
                                  timeout=timeout)
        if check and finished.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, argv))} failed ({finished.returncode}): "
                                 f"{finished.stderr}{finished.stdout}")
        return finished

    # --- its files

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def write(self, host_path: str, content: Union[str, bytes], mode: Optional[int] = 0o644) -> Path:
        return write_file(self.path(host_path), content, mode)

    # --- set up and torn down

    def configure(self, role: str, peer: str = "127.0.0.1", password: str = PASSWORD, in_process: bool = False,
                  settings: Sequence = ()) -> "Host":
        """What the admin does on a new host: ``install``, then the role, the peer, the shared
        password and this host's ports (when set) with ``config setprop``; ``settings`` are more
        ``hotsync`` properties. Nothing is compiled or started."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.admin("install", "--quiet", in_process=in_process)
        peer_property = "SlaveHost" if role == "master" else "MasterHost"
        role_settings = ["hotsync", "role", role, peer_property, peer, *settings]
        if self.tunnel_port:
            role_settings += ["SlavePort", self.tunnel_port]
        self.admin("config", "setprop", *role_settings, in_process=in_process)
        rsyncd = ["rsyncd", "password", password]
        if self.rsync_port:
            rsyncd += ["TCPPort", self.rsync_port]
        self.admin("config", "setprop", *rsyncd, in_process=in_process)
        return self

    def stop_everything(self) -> None:
        """Stop what this host runs: the commands it started, its services, and then any process
        left whose command line names its root (a daemon the supervisor lost track of)."""
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.root.exists():
            self.run("services", "stop", timeout=60, in_process=not self.namespace)
        kill_processes_of(self.root)


def processes_of(root: Path) -> List[int]:
    """Live processes (not this one) with ``root`` or a path below it among their arguments;
    read from /proc by the tests themselves. Only a test's own folder names processes: "/" or a
    relative path would name every process of the machine."""
    assert Path(root).is_absolute() and len(Path(root).parts) > 2, f"not a test host's root: {root}"
    text = str(root)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            words = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if state != "Z" and any(word == text or text + "/" in word for word in words):
            found.append(int(entry.name))
    return found


def kill_processes_of(root: Path) -> None:
    """SIGKILL every process of ``root`` and wait (a little) until they are gone."""
    kill_until_gone(lambda: processes_of(root), attempts=50, pause=0.05)


def kill_until_gone(find_pids: Callable[[], List[int]], attempts: int, pause: float) -> None:
    """SIGKILL what ``find_pids`` lists, again and again, until it lists nothing (or attempts run out)."""
    for _attempt in range(attempts):
        pids = find_pids()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(pause)


class HostBuilder:
    """Makes hosts under one folder and stops every one of them at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.hosts: List[Host] = []

    def __call__(self, name: str = "host", role: Optional[str] = None, peer: str = "127.0.0.1",
                 password: str = PASSWORD, tunnel_port: int = 0, rsync_port: int = 0, root: Optional[Path] = None,
                 in_process: bool = False, settings: Sequence = (), kind: type = Host, **host_fields) -> Any:
        """A ``Host`` (or ``kind``, a subclass) named ``name`` (its root ``FOLDER/NAME`` unless
        given), configured for ``role`` (see ``Host.configure``) when a role is given."""
        host = kind(Path(root) if root else self.folder / name, name=name, tunnel_port=tunnel_port,
                    rsync_port=rsync_port, **host_fields)
        self.hosts.append(host)  # before anything can fail: a half-built host is stopped too
        host.root.mkdir(parents=True, exist_ok=True)
        if role:
            host.configure(role, peer=peer, password=password, in_process=in_process, settings=settings)
        return host

    def stop_everything(self) -> None:
        for host in self.hosts:
            host.stop_everything()


@pytest.fixture
def make_host(tmp_path):
    """Build hosts (``make_host(name, role=..., tunnel_port=...)``); whatever they started is
    stopped after the test, passed or failed."""
    builder = HostBuilder(tmp_path)
    try:
        yield builder
    finally:
        builder.stop_everything()


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """An empty sandbox root."""
    root = tmp_path / "host"
    root.mkdir()
    return root


@pytest.fixture
def host(sandbox, make_host) -> Path:
    """A sandbox root whose daemons are always stopped at the end, whatever the test did."""
    make_host(root=sandbox)
    return sandbox
