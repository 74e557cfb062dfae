"""Two sandbox hosts on loopback, a master and its slave, with the real tunnel and daemon.

Built the way an admin builds them: ``install``, ``config setprop``, ``compile`` and
``services start`` on each root. Test modules import the ``host_pair`` fixture from here.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from support.hosts import free_port
from support.passwords import PASSWORD

from hotsync.cli import main as hotsync_main
from hotsync.frozen import replace
from hotsync.plan import Plan, Rule, load_plan, save_plan
from hotsync.root import Root
from hotsync.runtime.status import MARKER_PATH



@dataclass
class HostPair:
    master: Path
    slave: Path

    @property
    def master_root(self) -> Root:
        return Root(self.master)

    @property
    def slave_root(self) -> Root:
        return Root(self.slave)

    def on_master(self, host_path: str) -> Path:
        return self.master_root.path(host_path)

    def on_slave(self, host_path: str) -> Path:
        return self.slave_root.path(host_path)

    def marker_version(self) -> Optional[Tuple[int, int]]:
        """Which marker the slave holds now (each stamp replaces the file): None when none."""
        try:
            info = os.stat(self.on_slave(MARKER_PATH))
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns

    def wait_for_new_marker(self, previous: Optional[Tuple[int, int]], timeout: float = 15) -> Dict:
        """The slave's sync marker once it is not ``previous`` any more: the slave's daemon
        stamps it just after a push ended, when the master's command may already be done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            version = self.marker_version()
            if version is not None and version != previous:
                return json.loads(self.on_slave(MARKER_PATH).read_text())
            time.sleep(0.05)
        raise AssertionError(f"the slave stamped no new marker within {timeout} s")

    def master_plan(self) -> Plan:
        return load_plan(self.master_root)

    def change_master_plan(self, **changes) -> Plan:
        """Rewrite the master's compiled plan (the runtime reads only the plan)."""
        plan = replace(self.master_plan(), **changes)
        save_plan(self.master_root, plan)
        return plan

    def add_master_rule(self, rule: Rule) -> Plan:
        plan = self.master_plan()
        return self.change_master_plan(rules=plan.rules + (rule,))

    def include_on_master(self, *host_paths: str) -> None:
        """Declare paths to sync the NethServer way: a backup-data include file."""
        listing = self.on_master("/etc/backup-data.d/tests.include")
        listing.parent.mkdir(parents=True, exist_ok=True)
        with open(listing, "a", encoding="utf-8") as stream:
            stream.writelines(f"{path}\n" for path in host_paths)


def run_cli(*arguments) -> None:
    code = hotsync_main([str(argument) for argument in arguments])
    assert code == 0, f"hotsync {' '.join(map(str, arguments))} exited {code}"


def configure_host(root: Path, role: str, tunnel_port: int, rsync_port: int) -> None:
    run_cli("--root", root, "install")
    peer = "MasterHost" if role == "slave" else "SlaveHost"
    run_cli("--root", root, "config", "setprop", "hotsync", "role", role, peer, "127.0.0.1",
            "SlavePort", tunnel_port)
    run_cli("--root", root, "config", "setprop", "rsyncd", "password", PASSWORD, "TCPPort", rsync_port)
    run_cli("--root", root, "compile")


@pytest.fixture
def host_pair(tmp_path, capsys):
    """A configured master and slave with their stunnel and rsyncd running; stopped afterwards."""
    pair = HostPair(tmp_path / "master", tmp_path / "slave")
    pair.master.mkdir()
    pair.slave.mkdir()
    tunnel_port = free_port()
    configure_host(pair.slave, "slave", tunnel_port, free_port())
    configure_host(pair.master, "master", tunnel_port, free_port())
    try:
        run_cli("--root", pair.slave, "services", "start")
        run_cli("--root", pair.master, "services", "start", "stunnel")
        capsys.readouterr()
        yield pair
    finally:
        hotsync_main(["--root", str(pair.master), "services", "stop"])
        hotsync_main(["--root", str(pair.slave), "services", "stop"])


# Daemon logs and pid files change whenever a daemon is contacted; they are not the data.
UNHASHED = ("var/log", "var/run")


def tree_digest(base: Path) -> Dict[str, str]:
    """Every entry of a tree with its type, mode, owner, size, mtime and content hash."""
    digest = {}
    for folder, folders, files in os.walk(base):
        relative_folder = os.path.relpath(folder, base)
        folders[:] = [name for name in folders if os.path.normpath(os.path.join(relative_folder, name)) not in UNHASHED]
        for name in folders + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            content = ""
            if os.path.isfile(path) and not os.path.islink(path):
                content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            key = os.path.relpath(path, base)
            digest[key] = f"{info.st_mode:o} {info.st_uid}:{info.st_gid} {info.st_size} {info.st_mtime_ns} {content}"
    return digest
