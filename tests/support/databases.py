"""Private database servers for test hosts: a MariaDB and a PostgreSQL per host (private
datadirs and sockets, started inside the host's namespace when it has one).

Fixtures: ``namespace_databases`` (per test module, needs ``network``): the servers of the
master and the slave, stopped and deleted afterwards; ``own_mariadb`` (per run): one MariaDB
the tests that once used the machine's share, so no result depends on the machine's server
being up (CI runs against the machine's services as a session left them).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence

import pytest

from hotsync.sandbox.processes import process_alive
from support.namespaces import POSTGRESQL_BIN, run


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
def namespace_databases(network):
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


@contextlib.contextmanager
def private_mariadb_server(prefix: str) -> Iterator[MariaDB]:
    """A MariaDB in a new temporary folder (socket only), stopped and deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    server = MariaDB("", folder / "mariadb")
    try:
        server.ensure_running()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def own_mariadb():
    """A MariaDB of this test run's own, shared by the tests that need one."""
    with private_mariadb_server("hotsync-own-mariadb-") as server:
        yield server
