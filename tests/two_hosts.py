"""Two real hosts for the end-to-end suite: two network namespaces joined by a veth pair.

Each namespace is a "host" with its own network stack, so HotSync runs there with its real
default ports (stunnel 273, rsyncd 873 on the slave's loopback) and the slave is addressed by
IP. Each host has its own sandbox root, its own MariaDB and its own PostgreSQL (private
datadirs and sockets, started inside its namespace). Every ``hotsync`` command runs inside
its host's namespace (``ip netns exec NS ...``), as the admin of that host would type it.

Fixtures (import them into the test module):

* ``network`` (module): the two namespaces and the link, removed afterwards;
* ``databases`` (module): a MariaDB and a PostgreSQL per host, stopped and deleted afterwards;
* ``hosts`` (each test): fresh roots configured with the admin's commands, the tunnel and
  daemon running, a test database of each engine filled on the master; everything the test
  started is stopped afterwards.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from support.passwords import PASSWORD
from support.runner import Outcome

from hotsync.files import file_digest
from hotsync.sandbox.processes import process_alive, processes_using

NAME_PREFIX = "hs2h"  # every namespace and link of this suite starts with it
VENV_BIN = Path(sys.executable).parent
POSTGRESQL_BIN = Path("/usr/lib/postgresql/15/bin")
# Every synced data folder of the suite (the rules file below includes them).
DATA_FOLDERS = ("/srv/office", "/srv/mail", "/srv/projects", "/srv/big")
# Not the shipped nethserver-mysql rule's folder (/var/lib/nethserver/backup/mysql/): see test_two_hosts.py,
# test_a_restore_uses_the_connection_of_its_own_rule.
MYSQL_DUMP_FOLDER = "/var/lib/nethserver/office/mysql/"
POSTGRESQL_DUMP_FOLDER = "/var/lib/nethserver/office/backup/"
COMMAND_TIMEOUT = 180


def run(argv: Sequence, check: bool = True, timeout: float = 60, **options) -> subprocess.CompletedProcess:
    finished = subprocess.run([str(part) for part in argv], capture_output=True, text=True, timeout=timeout, **options)
    if check and finished.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({finished.returncode}): {finished.stderr}{finished.stdout}")
    return finished


# ----------------------------------------------------------------------------- the network


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
    for _attempt in range(20):
        pids = [pid for pid in namespace_pids(namespace) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


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


# ----------------------------------------------------------------------------- database servers


class MariaDB:
    """A private MariaDB server (socket only) started inside a namespace ("" for none)."""

    def __init__(self, namespace: str, folder: Path):
        self.namespace = namespace
        self.datadir = folder / "data"
        self.socket = str(folder / "mysql.sock")
        self.pid_file = folder / "mysqld.pid"
        self.log = folder / "mysqld.log"
        self.process: Optional[subprocess.Popen] = None
        folder.mkdir(parents=True, exist_ok=True)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if self.alive():
            return
        namespace = ["ip", "netns", "exec", self.namespace] if self.namespace else []
        self.process = subprocess.Popen(
            [*namespace, "mariadbd", "--no-defaults", f"--datadir={self.datadir}",
             f"--socket={self.socket}", f"--pid-file={self.pid_file}", "--skip-networking", "--user=root",
             f"--log-error={self.log}", "--innodb-buffer-pool-size=32M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mariadbd did not start: {self.log.read_text()[-2000:]}")
            if run(["mysql", f"--socket={self.socket}", "--user=root", "-e", "SELECT 1"], check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"mariadbd did not answer within 60 s: {self.log.read_text()[-2000:]}")

    def query(self, statement: str, database: str = "") -> str:
        argv = ["mysql", f"--socket={self.socket}", "--user=root", "--batch", "--skip-column-names", "-e", statement]
        return run(argv + ([database] if database else [])).stdout

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PostgreSQL:
    """A private PostgreSQL cluster (socket only) run by the postgres account inside a namespace."""

    def __init__(self, namespace: str, folder: Path):
        self.namespace = namespace
        self.folder = folder
        self.datadir = folder / "data"
        self.socket = str(folder)  # libpq takes the socket's folder
        self.log = folder / "postgresql.log"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "postgres", "postgres")
        os.chmod(folder, 0o755)
        self.as_postgres([POSTGRESQL_BIN / "initdb", "-D", self.datadir, "-U", "postgres", "--auth=trust",
                          "--no-locale", "-E", "UTF8"], timeout=120)

    @staticmethod
    def as_postgres(argv: Sequence, namespace: str = "", **options) -> subprocess.CompletedProcess:
        prefix = ["ip", "netns", "exec", namespace] if namespace else []
        return run(prefix + ["runuser", "-u", "postgres", "--", *argv], **options)

    def alive(self) -> bool:
        checked = run([POSTGRESQL_BIN / "pg_isready", "-h", self.socket, "-U", "postgres"], check=False)
        return checked.returncode == 0

    def ensure_running(self) -> None:
        if self.alive():
            return
        # left by a host that lost power (its postmaster may linger as a zombie nobody reaps)
        for lock in (self.datadir / "postmaster.pid", self.folder / ".s.PGSQL.5432.lock"):
            if lock.exists():
                owner = lock.read_text().split("\n", 1)[0].strip()
                if owner.isdigit() and process_alive(int(owner)):
                    os.kill(int(owner), signal.SIGKILL)
                lock.unlink(missing_ok=True)
        (self.folder / ".s.PGSQL.5432").unlink(missing_ok=True)
        options = f"-k {self.socket} -c listen_addresses='' -c shared_buffers=16MB -c fsync=off"
        started = self.as_postgres([POSTGRESQL_BIN / "pg_ctl", "-D", self.datadir, "-l", self.log, "-o", options,
                                    "-w", "-t", "60", "start"], namespace=self.namespace, timeout=90, check=False)
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        assert started.returncode == 0, f"PostgreSQL did not start: {started.stdout}{started.stderr}{log}"

    def query(self, statement: str, database: str = "postgres") -> str:
        return run(["psql", "-h", self.socket, "-U", "postgres", "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1",
                    "-c", statement]).stdout

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.as_postgres([POSTGRESQL_BIN / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop"],
                             check=False, timeout=60)


@dataclass
class HostDatabases:
    mariadb: MariaDB
    postgresql: PostgreSQL

    def ensure_running(self) -> None:
        self.mariadb.ensure_running()
        self.postgresql.ensure_running()


@pytest.fixture(scope="module")
def databases(network):
    """A MariaDB and a PostgreSQL for each host; stopped and deleted after the module."""
    # Not under pytest's tmp folder: that one is closed to the postgres account.
    top = Path(tempfile.mkdtemp(prefix="hotsync-two-hosts-db-"))
    os.chmod(top, 0o755)
    servers: Dict[str, HostDatabases] = {}
    try:
        for role, namespace in (("master", network.master_ns), ("slave", network.slave_ns)):
            servers[role] = HostDatabases(MariaDB(namespace, top / role / "mariadb"),
                                          PostgreSQL(namespace, top / role / "postgresql"))
            servers[role].ensure_running()
        yield servers
    finally:
        for host in servers.values():
            host.mariadb.stop()
            host.postgresql.stop()
        shutil.rmtree(top, ignore_errors=True)


# ----------------------------------------------------------------------------- hosts


RULES = """\
# The two-host suite's site rules: the office data and the office's two databases.
rule two-hosts-data {{
    include /srv/office/ /srv/mail/ /srv/projects/ /srv/big/
}}

rule two-hosts-databases {{
    when databases {{
        dump mysql {mysql_database} into {mysql_folder} socket={mysql_socket} user=root
        include {mysql_folder}
        dump postgresql {postgresql_database} into {postgresql_folder}{postgresql_database}.sql socket={postgresql_socket} user=postgres
        include {postgresql_folder}
        promote restore mysql {mysql_database}
        promote restore postgresql {postgresql_database}
    }}
}}
"""


@dataclass
class Host:
    """One host: its namespace, its sandbox root, its address and its database servers."""

    name: str
    namespace: str
    root: Path
    address: str
    databases: HostDatabases
    started: List[subprocess.Popen] = field(default_factory=list)

    def environment(self) -> Dict[str, str]:
        return dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", LC_ALL="C.UTF-8")

    def argv(self, program: str, arguments: Sequence) -> List[str]:
        return ["ip", "netns", "exec", self.namespace, str(VENV_BIN / program), "--root", str(self.root),
                *[str(argument) for argument in arguments]]

    def run(self, *arguments, program: str = "hotsync", timeout: float = COMMAND_TIMEOUT) -> Outcome:
        """``PROGRAM --root ROOT ARGS`` typed on this host; the outcome, whatever it is."""
        finished = subprocess.run(self.argv(program, arguments), capture_output=True, text=True,
                                  env=self.environment(), timeout=timeout)
        return Outcome(finished.returncode, finished.stdout, finished.stderr)

    def admin(self, *arguments, program: str = "hotsync") -> Outcome:
        """What the admin types on this host; it must succeed."""
        outcome = self.run(*arguments, program=program)
        assert outcome.code == 0, f"{self.name}: {program} {' '.join(map(str, arguments))} failed ({outcome.code}): " \
                                  f"{outcome.err}{outcome.out}"
        return outcome

    def start(self, *arguments, program: str = "hotsync") -> subprocess.Popen:
        """Start a command in the background, in its own process group (so it can be killed whole)."""
        process = subprocess.Popen(self.argv(program, arguments), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=self.environment(), start_new_session=True)
        self.started.append(process)
        return process

    def path(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def write(self, host_path: str, content, mode: Optional[int] = None) -> Path:
        target = self.path(host_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)
        if mode is not None:
            os.chmod(target, mode)
        return target

    def in_namespace(self, argv: Sequence, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", self.namespace, *argv], check=check, timeout=timeout)


@dataclass
class HostPair:
    master: Host
    slave: Host
    network: Network
    mysql_database: str
    postgresql_database: str

    def sync(self, *arguments) -> Outcome:
        """The admin forces a sync on the master (``hotsync``); the outcome, whatever it is."""
        return self.master.run(*arguments)

    def synced_files(self, host: Host) -> Dict[str, tuple]:
        """Every synced data file and dump of ``host``: its type, mode and content digest."""
        digest = {}
        for folder in DATA_FOLDERS + (MYSQL_DUMP_FOLDER, POSTGRESQL_DUMP_FOLDER):
            top = host.path(folder)
            for path in sorted(top.rglob("*")) if top.is_dir() else ():
                status = path.lstat()
                relative = "/" + str(path.relative_to(host.root))
                if path.is_symlink():
                    digest[relative] = ("link", os.readlink(path))
                elif path.is_file():
                    digest[relative] = ("file", oct(status.st_mode & 0o7777), file_digest(path))
                else:
                    digest[relative] = ("dir", oct(status.st_mode & 0o7777))
        return digest

    def database_contents(self, host: Host) -> Dict[str, List[str]]:
        """Every row of every table of the test databases on ``host`` (sorted), by table."""
        contents = {}
        mariadb, postgresql = host.databases.mariadb, host.databases.postgresql
        for table in mariadb.query("SHOW TABLES", self.mysql_database).split():
            rows = mariadb.query(f"SELECT * FROM `{table}` ORDER BY 1", self.mysql_database).splitlines()
            contents[f"mysql {table}"] = rows
        tables = postgresql.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                                  self.postgresql_database).split()
        for table in tables:
            rows = postgresql.query(f'SELECT * FROM "{table}" ORDER BY 1', self.postgresql_database).splitlines()
            contents[f"postgresql {table}"] = rows
        return contents

    def power_cycle_master(self) -> None:
        """The master loses power and boots (see ``Network.power_cycle_master``); nothing is started yet."""
        self.network.power_cycle_master()
        self.master.namespace = self.network.master_ns
        self.master.databases.mariadb.namespace = self.network.master_ns
        self.master.databases.postgresql.namespace = self.network.master_ns

    def power_off_master(self) -> None:
        """The master loses power: every process of its namespace dies and its link goes down."""
        kill_namespace(self.master.namespace)
        self.network.set_link(False)


def configure_host(host: Host, role: str, peer_address: str, rules: str) -> None:
    """What the admin does on a new host: install, settings, the site's rule file, save event."""
    host.root.mkdir(parents=True, exist_ok=True)
    host.admin("install", "--quiet")
    peer_property = "SlaveHost" if role == "master" else "MasterHost"
    host.admin("config", "setprop", "hotsync", "role", role, peer_property, peer_address)
    host.admin("config", "setprop", "rsyncd", "password", PASSWORD)
    host.write("/etc/hotsync/rules.d/90-office.hs", rules)
    host.admin("signal-event", "nethserver-hotsync-save")


def rules_for(host: Host, mysql_database: str, postgresql_database: str) -> str:
    return RULES.format(
        mysql_database=mysql_database, mysql_folder=MYSQL_DUMP_FOLDER, mysql_socket=host.databases.mariadb.socket,
        postgresql_database=postgresql_database, postgresql_folder=POSTGRESQL_DUMP_FOLDER,
        postgresql_socket=host.databases.postgresql.socket,
    )


def fill_master_databases(pair: HostPair) -> None:
    """The office's databases on the master: a shop in MariaDB, notes in PostgreSQL."""
    mariadb = pair.master.databases.mariadb
    values = ", ".join(f"({number}, 'customer {number}', {number * 7 % 1000}.{number % 100:02})"
                       for number in range(1, 501))
    mariadb.query(f"CREATE DATABASE `{pair.mysql_database}`")
    mariadb.query("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(80), balance DECIMAL(10,2));"
                  f"INSERT INTO customers VALUES {values};"
                  "CREATE TABLE orders (id INT PRIMARY KEY, customer INT, item TEXT);"
                  "INSERT INTO orders VALUES (1, 1, 'desk'), (2, 2, 'chair'), (3, 1, 'lamp');",
                  pair.mysql_database)
    postgresql = pair.master.databases.postgresql
    postgresql.query(f'CREATE DATABASE "{pair.postgresql_database}"')
    postgresql.query("CREATE TABLE notes (id int PRIMARY KEY, body text);"
                     "INSERT INTO notes SELECT n, 'note ' || n || ' è ☃' FROM generate_series(1, 300) n;",
                     pair.postgresql_database)


def drop_test_databases(pair: HostPair) -> None:
    for host in (pair.master, pair.slave):
        try:
            host.databases.ensure_running()
            host.databases.mariadb.query(f"DROP DATABASE IF EXISTS `{pair.mysql_database}`")
            host.databases.postgresql.query(f'DROP DATABASE IF EXISTS "{pair.postgresql_database}" WITH (FORCE)')
        except AssertionError:
            pass


@pytest.fixture
def hosts(network, databases, tmp_path):
    """A master and its slave configured by the admin's commands, tunnel and daemon running."""
    network.set_link(True)
    network.limit_rate(None)
    for role in ("master", "slave"):
        databases[role].ensure_running()  # an earlier test may have powered a host off
    token = uuid.uuid4().hex[:8]
    master = Host("master", network.master_ns, tmp_path / "master", network.master_ip, databases["master"])
    slave = Host("slave", network.slave_ns, tmp_path / "slave", network.slave_ip, databases["slave"])
    pair = HostPair(master, slave, network, f"shop_{token}", f"office_{token}")
    try:
        fill_master_databases(pair)
        configure_host(slave, "slave", master.address, rules_for(slave, pair.mysql_database, pair.postgresql_database))
        configure_host(master, "master", slave.address, rules_for(master, pair.mysql_database, pair.postgresql_database))
        yield pair
    finally:
        for host in (master, slave):
            for process in host.started:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            if host.root.exists():
                host.run("services", "stop", timeout=60)
            kill_processes_of_root(host.root)
        network.set_link(True)
        network.limit_rate(None)
        drop_test_databases(pair)


def kill_processes_of_root(root: Path) -> None:
    """Any process still running with this root on its command line (a daemon of the test's hosts)."""
    for pid in processes_using(root):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
