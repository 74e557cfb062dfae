"""``hotsync demo``: the whole HotSync cycle on two sandbox hosts, told as an admin lives it.

Two hosts in a temporary folder, on loopback ports, configured only with the commands an
admin types (``install``, ``config setprop``, ``signal-event``); office data on the master;
a sync; the master fails; the slave is promoted; a report with what was synced, how old the
slave's data was (RPO), how long promotion took (RTO), and a check of every file and row.
"""

import hashlib
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .errors import CommandError, HotsyncError
from .frozen import frozen
from .programs import run_command
from .root import Root

DEMO_DATABASE = "hotsync_demo_office"
MARIADB_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/var/lib/mysql/mysql.sock", "/tmp/mysql.sock")
SHARED_FOLDER = "/var/lib/nethserver/ibay/shared"
MAIL_STORE = "/var/lib/nethserver/vmail"
DATA_ROOTS = (SHARED_FOLDER, MAIL_STORE)


class DemoError(HotsyncError):
    """A demo step failed; the message says which and why."""


@frozen
class Host:
    name: str
    root: Path

    def path(self, host_path: str) -> Path:
        return Root(self.root).path(host_path)


class DemoState:
    """What the demo's steps learn as they go (so not frozen): the database, the timings, the rows."""

    def __init__(self, folder: Path, master: Host, slave: Host) -> None:
        self.folder = folder
        self.master = master
        self.slave = slave
        self.database_socket: Optional[str] = None
        self.timings: Dict[str, float] = {}
        self.expected_rows: Optional[List[str]] = None


def missing_programs() -> List[str]:
    """The programs the demo needs that are not on PATH."""
    wanted = {"rsync": ("rsync",), "stunnel": ("stunnel", "stunnel4")}
    return [name for name, candidates in wanted.items() if not any(shutil.which(c) for c in candidates)]


def run_demo(keep: bool = False, say: Callable[[str], None] = print) -> int:
    """Run the demo; returns 0 when every file and row arrived, 1 otherwise."""
    missing = missing_programs()
    if missing:
        raise DemoError(
            f"the demo needs {' and '.join(missing)}: install with 'apt-get install rsync stunnel4' "
            "(Debian/Ubuntu) or 'dnf install rsync stunnel' (Fedora/Rocky/NethServer)"
        )
    folder = Path(tempfile.mkdtemp(prefix="hotsync-demo-"))
    state = DemoState(folder, Host("master", folder / "master"), Host("slave", folder / "slave"))
    started = time.monotonic()
    try:
        verified = _tell_the_story(state, say)
    finally:
        if not keep:
            _clean_up(state)
    say(f"\nThe demo took {time.monotonic() - started:.0f} s.")
    if keep:
        _explain_how_to_look_around(state, say)
    else:
        say("Everything it made has been removed (run 'hotsync demo --keep' to explore the two hosts).")
    return 0 if verified else 1


def _tell_the_story(state: DemoState, say) -> bool:
    say(f"HotSync demo: two hosts in {state.folder}\n")
    _step(say, 1, "Install HotSync on both hosts and configure them with the admin's commands")
    _configure_hosts(state, say)
    _step(say, 2, "Write office data on the master: shared folders, a mail store, a database")
    _write_office_data(state, say)
    _step(say, 3, "First sync, then an incremental one after a day of work")
    _sync(state, say, "first sync")
    _change_some_data(state)
    _sync(state, say, "incremental sync")
    _show(state.master, say, "status")
    _show(state.slave, say, "status")
    _step(say, 4, "The master fails")
    failed_at = _fail_the_master(state, say)
    _step(say, 5, "Promote the slave")
    promote_seconds = _promote(state, say)
    _step(say, 6, "Report")
    return _report(state, say, failed_at, promote_seconds)


def _step(say, number: int, title: str) -> None:
    say(f"\n== {number}. {title}")


def _hotsync(host: Host, *arguments: str, check: bool = True, environment: Optional[dict] = None):
    """Run ``hotsync --root HOST ARGS`` as a real process, exactly as an admin would."""
    argv = [sys.executable, "-m", "hotsync", "--root", str(host.root), *arguments]
    try:
        return run_command(argv, check=check, timeout=300, environment=environment)
    except CommandError as error:
        raise DemoError(f"on the {host.name}: 'hotsync {' '.join(arguments)}' failed: {error.output.strip()}") from None


def _admin(say, host: Host, *arguments: str) -> None:
    say(f"  [{host.name}] hotsync {' '.join(arguments)}")
    _hotsync(host, *arguments)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _configure_hosts(state: DemoState, say) -> None:
    tunnel_port, slave_rsync_port, master_client_port = _free_port(), _free_port(), _free_port()
    password = secrets.token_urlsafe(18)
    for host in (state.master, state.slave):
        _admin(say, host, "install", "--quiet")
    state.database_socket = _database_socket()
    if state.database_socket:
        _prepare_database_rule(state)
    for host, role, peer_prop, rsync_port in (
        (state.slave, "slave", "MasterHost", slave_rsync_port),
        (state.master, "master", "SlaveHost", master_client_port),
    ):
        _admin(say, host, "config", "setprop", "hotsync", "role", role, peer_prop, "127.0.0.1", "SlavePort", str(tunnel_port))
        say(f"  [{host.name}] hotsync config setprop rsyncd password ******** TCPPort {rsync_port}")
        _hotsync(host, "config", "setprop", "rsyncd", "password", password, "TCPPort", str(rsync_port))
        _admin(say, host, "signal-event", "nethserver-hotsync-save")
    say(f"  tunnel: master 127.0.0.1:{master_client_port} -> TLS (pre-shared key) -> slave :{tunnel_port}"
        f" -> rsyncd 127.0.0.1:{slave_rsync_port}")


def _database_socket() -> Optional[str]:
    """The local MariaDB/MySQL server's socket when one answers to this user, else None."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        return None
    for candidate in MARIADB_SOCKETS:
        if not os.path.exists(candidate):
            continue
        try:
            run_command([client, f"--socket={candidate}", "-e", "SELECT 1"], timeout=10)
            return candidate
        except CommandError:
            continue
    return None


def _prepare_database_rule(state: DemoState) -> None:
    """Both hosts get a rules file for the demo's database (they share this machine's server)."""
    rule = (
        "# The demo's office database, on this machine's MariaDB server.\n"
        "rule demo-office-database {\n"
        "    when databases {\n"
        f"        dump mysql {DEMO_DATABASE} into /var/lib/nethserver/backup/mysql/ socket={state.database_socket}\n"
        "        include /var/lib/nethserver/backup/mysql/\n"
        f"        promote restore mysql {DEMO_DATABASE}\n"
        "    }\n"
        "}\n"
    )
    for host in (state.master, state.slave):
        target = host.path("/etc/hotsync/rules.d/90-demo.hs")
        target.write_text(rule)


def _mysql(state: DemoState, sql: str, database: str = "") -> str:
    client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"  # _database_socket found one
    argv = [client, f"--socket={state.database_socket}", "--batch", "--skip-column-names", "-e", sql]
    if database:
        argv.append(database)
    return run_command(argv, timeout=60).stdout


def _write_office_data(state: DemoState, say) -> None:
    master = state.master
    packages = master.path("/var/lib/hotsync/sandbox-packages")
    packages.parent.mkdir(parents=True, exist_ok=True)
    packages.write_text("nethserver-ibays 1.0\nnethserver-mail-server 1.0\n")
    lists = master.path("/etc/backup-data.d")
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "nethserver-ibays.include").write_text("/var/lib/nethserver/ibay\n")
    (lists / "nethserver-mail-server.include").write_text("/var/lib/nethserver/vmail\n")
    count = write_office_files(master)
    say(f"  {count} files in {SHARED_FOLDER} and {MAIL_STORE}")
    if state.database_socket:
        _mysql(state, f"DROP DATABASE IF EXISTS {DEMO_DATABASE}; CREATE DATABASE {DEMO_DATABASE};")
        rows = ", ".join(f"({n}, 'invoice {n}', {n * 17 % 1000}.50)" for n in range(1, 501))
        _mysql(state, "CREATE TABLE invoices (id INT PRIMARY KEY, title VARCHAR(80), amount DECIMAL(10,2));"
               f"INSERT INTO invoices VALUES {rows};", DEMO_DATABASE)
        say(f"  database {DEMO_DATABASE}: 500 invoices (on this machine's MariaDB at {state.database_socket})")
    else:
        say("  no MariaDB/MySQL server answers here: the demo goes on without a database")


def write_office_files(host: Host) -> int:
    """The demo's office files (reports, mail, an 8 MiB archive) on ``host``; how many.
    The two-host suite measures a promotion on the same data set."""
    count = 0
    for department in ("accounting", "sales", "management"):
        for number in range(40):
            document = host.path(f"{SHARED_FOLDER}/{department}/report-{number:03}.txt")
            document.parent.mkdir(parents=True, exist_ok=True)
            document.write_text(f"{department} report {number}\n" * (20 + number * 30))
            count += 1
    for person in ("alice", "bob", "carol"):
        for number in range(30):
            message = host.path(f"{MAIL_STORE}/{person}/Maildir/cur/{1700000000 + number}.M1P1.demo:2,S")
            message.parent.mkdir(parents=True, exist_ok=True)
            message.write_text(f"From: someone@example.com\nTo: {person}@example.com\nSubject: note {number}\n\n"
                               f"Hello {person}.\n")
            count += 1
    big = host.path(f"{SHARED_FOLDER}/management/archive.bin")
    big.write_bytes(os.urandom(8 * 1024 * 1024))
    return count + 1


def _change_some_data(state: DemoState) -> None:
    master = state.master
    master.path(f"{SHARED_FOLDER}/sales/report-000.txt").write_text("rewritten after a meeting\n")
    master.path(f"{SHARED_FOLDER}/sales/report-001.txt").unlink()
    master.path(f"{SHARED_FOLDER}/sales/new-offer.txt").write_text("a new offer\n")
    if state.database_socket:
        _mysql(state, "INSERT INTO invoices VALUES (501, 'late invoice', 99.90); DELETE FROM invoices WHERE id = 2;",
               DEMO_DATABASE)


def _sync(state: DemoState, say, label: str) -> None:
    say(f"  [master] hotsync    ({label})")
    began = time.monotonic()
    finished = _hotsync(state.master, check=False)
    state.timings[label] = time.monotonic() - began
    for line in (finished.stdout + finished.stderr).splitlines():
        say(f"    {line}")
    if finished.returncode != 0:
        raise DemoError(f"the {label} failed (exit {finished.returncode}); see the lines above")


def _show(host: Host, say, *arguments: str) -> None:
    say(f"  [{host.name}] hotsync {' '.join(arguments)}")
    for line in _hotsync(host, *arguments).stdout.splitlines():
        say(f"    {line}")


def _fail_the_master(state: DemoState, say) -> float:
    if state.database_socket:
        state.expected_rows = _table_rows(state)
    _hotsync(state.master, "services", "stop", check=False)
    failed_at = time.time()
    say("  the master's daemons are stopped: it no longer answers")
    if state.database_socket:
        # Both hosts share this machine's server: losing the master's database is the failure.
        _mysql(state, f"DROP DATABASE {DEMO_DATABASE}")
        say(f"  the master's database {DEMO_DATABASE} is gone with it")
    return failed_at


def _promote(state: DemoState, say) -> float:
    say("  [slave] hotsync-promote --yes --network continue")
    began = time.monotonic()
    finished = _hotsync(state.slave, "promote", "--yes", "--network", "continue", check=False)
    seconds = time.monotonic() - began
    for line in (finished.stdout + finished.stderr).splitlines():
        say(f"    {line}")
    if finished.returncode != 0:
        raise DemoError(f"promotion failed (exit {finished.returncode}); see the lines above")
    return seconds


def _table_rows(state: DemoState) -> List[str]:
    return _mysql(state, "SELECT id, title, amount FROM invoices ORDER BY id", DEMO_DATABASE).splitlines()


def _file_digests(host: Host) -> Dict[str, str]:
    digests = {}
    for top in DATA_ROOTS:
        base = host.path(top)
        for path in sorted(base.rglob("*")):
            if path.is_file():
                digests[str(path.relative_to(host.root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _report(state: DemoState, say, failed_at: float, promote_seconds: float) -> bool:
    master_files, slave_files = _file_digests(state.master), _file_digests(state.slave)
    missing = sorted(set(master_files) - set(slave_files))
    different = sorted(name for name in master_files if name in slave_files and slave_files[name] != master_files[name])
    extra = sorted(set(slave_files) - set(master_files))
    total_bytes = sum(state.master.path("/" + name).stat().st_size for name in master_files)
    marker_age = _data_age(state, failed_at)
    say(f"  synced: {len(master_files)} files, {total_bytes / 1048576:.1f} MiB of shared folders and mail"
        + (f", database {DEMO_DATABASE}" if state.database_socket else ""))
    for label, seconds in state.timings.items():
        say(f"  {label}: {seconds:.1f} s")
    if marker_age is not None:
        say(f"  RPO (age of the slave's data when the master failed): {marker_age:.0f} s")
    say(f"  RTO (promotion of the slave): {promote_seconds:.1f} s")
    ok = not (missing or different or extra)
    say(f"  files: {len(master_files) - len(missing) - len(different)} of {len(master_files)} identical on the promoted slave"
        + ("" if ok else f"; missing {missing[:3]}, different {different[:3]}, unexpected {extra[:3]}"))
    if state.database_socket:
        rows = _table_rows(state)
        rows_ok = rows == state.expected_rows
        identical = "all identical" if rows_ok else "NOT identical"
        say(f"  database rows: {len(rows)} restored, {identical} to the master's {len(state.expected_rows or [])}")
        ok = ok and rows_ok
    role = _hotsync(state.slave, "config", "getprop", "hotsync", "role", check=False).stdout.strip()
    say(f"  the slave's role is now: {role or 'none'}")
    say("  RESULT: " + ("every file and row arrived" if ok else "SOMETHING IS MISSING (see above)"))
    return ok and role == "master"


def _data_age(state: DemoState, failed_at: float) -> Optional[float]:
    import json

    marker = state.slave.path("/var/lib/nethserver/hotsync/slave-marker.json")
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    epoch = data.get("last_success_epoch")
    return failed_at - epoch if epoch else None


def _clean_up(state: DemoState) -> None:
    for host in (state.master, state.slave):
        if host.root.exists():
            _hotsync(host, "services", "stop", check=False)
    if state.database_socket:
        try:
            _mysql(state, f"DROP DATABASE IF EXISTS {DEMO_DATABASE}")
        except CommandError:
            pass
    shutil.rmtree(state.folder, ignore_errors=True)


def _explain_how_to_look_around(state: DemoState, say) -> None:
    say(f"\nThe two hosts are kept in {state.folder}. Look around with:")
    say(f"  hotsync --root {state.slave.root} status")
    say(f"  hotsync --root {state.slave.root} config show hotsync")
    say(f"  hotsync --root {state.master.root} explain --all")
    say(f"  ls {state.slave.root}{SHARED_FOLDER}")
    say(f"When done: hotsync --root {state.slave.root} services stop; hotsync --root {state.master.root} services stop;"
        f" rm -rf {state.folder}")
