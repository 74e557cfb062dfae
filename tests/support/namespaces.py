"""Two hosts joined by a network: two network namespaces and a veth pair between them.

Each namespace is a "host" with its own network stack, so HotSync runs there with its real
default ports (stunnel 273, rsyncd 873 on the slave's loopback) and the slave is addressed by IP.

Fixture: ``network`` (per test module): the two namespaces and the link, removed afterwards.
"""

import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from support.hosts import kill_until_gone

NAME_PREFIX = "hs2h"  # every namespace and link of this suite starts with it
POSTGRESQL_BIN = Path("/usr/lib/postgresql/15/bin")


def run(argv: Sequence, check: bool = True, timeout: float = 60, **options) -> subprocess.CompletedProcess:
    finished = subprocess.run([str(part) for part in argv], capture_output=True, text=True, timeout=timeout, **options)
    if check and finished.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({finished.returncode}): {finished.stderr}{finished.stdout}")
    return finished


def namespaces_unavailable() -> str:
    """Why this machine cannot run the two-host suite ("" when it can)."""
    if os.geteuid() != 0:
        return "the two-host suite needs root (it creates network namespaces, veth links and mounts)"
    if shutil.which("ip") is None:
        return "the two-host suite needs 'ip' (iproute2) to create network namespaces"
    probe = f"{NAME_PREFIX}-probe-{os.getpid()}"
    created = run(["ip", "netns", "add", probe], check=False)
    if created.returncode != 0:
        return f"'ip netns add' does not work here: {created.stderr.strip()}"
    run(["ip", "netns", "del", probe], check=False)
    for program in ("rsync", "stunnel", "mariadbd", "mariadb-install-db", "mysqldump", "pg_dump", "psql", "runuser"):
        if shutil.which(program) is None:
            return f"the two-host suite needs {program}"
    if not (POSTGRESQL_BIN / "initdb").exists():
        return f"the two-host suite needs PostgreSQL's server programs in {POSTGRESQL_BIN}"
    return ""


def namespace_pids(namespace: str) -> List[int]:
    listed = run(["ip", "netns", "pids", namespace], check=False)
    return [int(word) for word in listed.stdout.split() if word.isdigit()]


def kill_namespace(namespace: str) -> None:
    """Kill every process left in ``namespace`` (a host that loses power)."""
    kill_until_gone(lambda: [pid for pid in namespace_pids(namespace) if pid != os.getpid()], attempts=20, pause=0.1)


def remove_stale_namespaces() -> None:
    """Namespaces a crashed earlier run of this suite left behind (their creator is gone)."""
    listed = run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        parts = name.split("-")
        if len(parts) != 4 or parts[0] != NAME_PREFIX or not parts[1].isdigit():
            continue
        if os.path.exists(f"/proc/{parts[1]}"):
            continue  # its run is still going
        kill_namespace(name)
        run(["ip", "netns", "del", name], check=False)


@dataclass
class Network:
    """Two namespaces, a veth pair between them, one address at each end."""

    master_ns: str
    slave_ns: str
    master_link: str
    slave_link: str
    master_ip: str
    slave_ip: str
    _sysctls_before: Dict[str, str] = field(default_factory=dict)

    def set_link(self, up: bool) -> None:
        """The master's network cable: plugged in or pulled out."""
        run(["ip", "netns", "exec", self.master_ns, "ip", "link", "set", self.master_link, "up" if up else "down"])

    def limit_rate(self, mbit: Optional[int]) -> None:
        """Make the master's uplink ``mbit`` Mbit/s (None: as fast as the machine) so transfers take time."""
        exec_ns = ["ip", "netns", "exec", self.master_ns, "tc", "qdisc"]
        run(exec_ns + ["del", "dev", self.master_link, "root"], check=False)
        if mbit:
            run(exec_ns + ["add", "dev", self.master_link, "root", "tbf", "rate", f"{mbit}mbit",
                           "burst", "64kb", "latency", "100ms"])
        # Socket buffers may otherwise grow to tens of MB on the master's loopback (rsync to
        # stunnel): that much data keeps flowing after a kill, and a fault meant to land
        # mid-transfer lands after its end.
        for sysctl in ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"):
            self._set_master_sysctl(sysctl, "4096 16384 262144" if mbit else None)

    def _set_master_sysctl(self, name: str, value: Optional[str]) -> None:
        """Set ``name`` in the master's namespace; None puts back the value it had before."""
        exec_ns = ["ip", "netns", "exec", self.master_ns, "sysctl"]
        if name not in self._sysctls_before:
            self._sysctls_before[name] = run(exec_ns + ["-n", name]).stdout.strip()
        run(exec_ns + ["-q", "-w", f"{name}={value if value else self._sysctls_before[name]}"])


    def connect(self) -> None:
        """Create the veth pair between the two namespaces, with an address at each end."""
        run(["ip", "link", "add", self.master_link, "type", "veth", "peer", "name", self.slave_link])
        for namespace, link, address in ((self.master_ns, self.master_link, self.master_ip),
                                         (self.slave_ns, self.slave_link, self.slave_ip)):
            run(["ip", "link", "set", link, "netns", namespace])
            run(["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{address}/24", "dev", link])
            run(["ip", "netns", "exec", namespace, "ip", "link", "set", link, "up"])

    def power_cycle_master(self) -> None:
        """The master loses power and boots again with a fresh kernel.

        Its processes die with the link down, so no FIN or RST reaches the slave; the booted
        master is a new namespace (a new network stack that knows none of the old connections)
        on a new cable. The old namespace lingers unnamed, without a link, until its orphaned
        sockets time out.
        """
        self.set_link(False)
        kill_namespace(self.master_ns)
        run(["ip", "netns", "exec", self.slave_ns, "ip", "link", "del", self.slave_link])  # both ends go
        run(["ip", "netns", "del", self.master_ns])
        self.master_ns = f"{NAME_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:4]}-m"
        run(["ip", "netns", "add", self.master_ns])
        run(["ip", "netns", "exec", self.master_ns, "ip", "link", "set", "lo", "up"])
        self.connect()


@pytest.fixture(scope="module")
def network():
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    remove_stale_namespaces()
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:4]}"
    subnet = random.randint(1, 254)
    short = uuid.uuid4().hex[:6]
    net = Network(f"{NAME_PREFIX}-{tag}-m", f"{NAME_PREFIX}-{tag}-s", f"{NAME_PREFIX}{short}m",
                  f"{NAME_PREFIX}{short}s", f"10.77.{subnet}.1", f"10.77.{subnet}.2")
    try:
        for namespace in (net.master_ns, net.slave_ns):
            run(["ip", "netns", "add", namespace])
            run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"])
        net.connect()
        run(["ip", "netns", "exec", net.master_ns, "ping", "-c", "1", "-W", "5", net.slave_ip], check=False)
        yield net
    finally:
        for namespace in (net.master_ns, net.slave_ns):
            kill_namespace(namespace)
            run(["ip", "netns", "del", namespace], check=False)
