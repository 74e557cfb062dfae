"""One pair of hosts, a master and its slave, built the way an admin builds them, with the real
tunnel and daemon running. The same ``HostPair`` comes in two networks:

* ``host_pair``: two sandbox hosts on this machine's loopback (ports picked free);
* ``namespace_pair``: two hosts in network namespaces joined by a link (``support.namespaces``),
  with HotSync's real default ports, a MariaDB and a PostgreSQL each (``support.databases``) and
  the site's rules for the office data and databases.

Both are built with the host builder (``make_host``), which stops every daemon afterwards.
"""

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from hotsync.frozen import replace
from hotsync.plan import Plan, Rule, load_plan, save_plan
from hotsync.root import Root
from hotsync.runtime.status import MARKER_PATH
from support.hosts import Host, free_port
from support.namespaces import Network, kill_namespace
from support.runner import Outcome
from support.trees import tree_digest


@dataclass
class HostPair:
    master: Host
    slave: Host
    network: Optional[Network] = None  # None: both on loopback
    synced_folders: Tuple[str, ...] = ()  # what ``synced_files`` compares (empty: the whole tree)
    mysql_database: str = ""
    postgresql_database: str = ""

    # --- what the admin does and sees

    def sync(self, *arguments, in_process: bool = False) -> Outcome:
        """The admin forces a sync on the master (``hotsync ARGS``); the outcome, whatever it is."""
        return self.master.run(*arguments, in_process=in_process)

    @property
    def master_root(self) -> Root:
        return Root(self.master.root)

    @property
    def slave_root(self) -> Root:
        return Root(self.slave.root)

    def on_master(self, host_path: str) -> Path:
        return self.master.path(host_path)

    def on_slave(self, host_path: str) -> Path:
        return self.slave.path(host_path)

    def digest(self, host: Host, **options) -> Dict[str, tuple]:
        """``tree_digest`` of ``host``'s root (``options`` as there)."""
        return tree_digest(host.root, **options)

    def synced_files(self, host: Host) -> Dict[str, tuple]:
        """Every synced data file and dump of ``host``: its type, mode and content digest."""
        return self.digest(host, within=self.synced_folders or None)

    # --- the slave's sync marker

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

    # --- the master's plan and lists

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

    # --- the databases and the network of a namespace pair

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
        assert self.network is not None, "only a namespace pair has a network to lose"
        self.network.power_cycle_master()
        self.master.namespace = self.network.master_ns
        self.master.databases.mariadb.namespace = self.network.master_ns
        self.master.databases.postgresql.namespace = self.network.master_ns

    def power_off_master(self) -> None:
        """The master loses power: every process of its namespace dies and its link goes down."""
        assert self.network is not None, "only a namespace pair has a network to lose"
        kill_namespace(self.master.namespace)
        self.network.set_link(False)


# ----------------------------------------------------------------------------- on loopback


@pytest.fixture
def host_pair(make_host):
    """A configured and compiled master and slave on loopback with their stunnel and rsyncd running."""
    tunnel_port = free_port()
    slave = make_host("slave", "slave", tunnel_port=tunnel_port, rsync_port=free_port(), in_process=True)
    master = make_host("master", "master", tunnel_port=tunnel_port, rsync_port=free_port(), in_process=True)
    for host in (slave, master):
        host.admin("compile", in_process=True)
    slave.admin("services", "start", in_process=True)
    master.admin("services", "start", "stunnel", in_process=True)
    return HostPair(master, slave)


# ----------------------------------------------------------------------------- in two namespaces


# Every synced data folder of the namespace pair (the rules below include them).
DATA_FOLDERS = ("/srv/office", "/srv/mail", "/srv/projects", "/srv/big")
# Not the shipped nethserver-mysql rule's folder (/var/lib/nethserver/backup/mysql/): see test_two_hosts.py,
# test_a_restore_uses_the_connection_of_its_own_rule.
MYSQL_DUMP_FOLDER = "/var/lib/nethserver/office/mysql/"
POSTGRESQL_DUMP_FOLDER = "/var/lib/nethserver/office/backup/"

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
def namespace_pair(network, namespace_databases, make_host, tmp_path):
    """A master and its slave in two namespaces, configured by the admin's commands (install,
    settings, the site's rule file, the save event), tunnel and daemon running, the office's
    databases filled on the master."""
    network.set_link(True)
    network.limit_rate(None)
    for role in ("master", "slave"):
        namespace_databases[role].ensure_running()  # an earlier test may have powered a host off
    token = uuid.uuid4().hex[:8]
    master = make_host("master", namespace=network.master_ns, address=network.master_ip,
                       databases=namespace_databases["master"])
    slave = make_host("slave", namespace=network.slave_ns, address=network.slave_ip,
                      databases=namespace_databases["slave"])
    pair = HostPair(master, slave, network, DATA_FOLDERS + (MYSQL_DUMP_FOLDER, POSTGRESQL_DUMP_FOLDER),
                    f"shop_{token}", f"office_{token}")
    try:
        fill_master_databases(pair)
        for host, role, peer in ((slave, "slave", master), (master, "master", slave)):
            host.configure(role, peer=peer.address)
            host.write("/etc/hotsync/rules.d/90-office.hs", rules_for(host, pair.mysql_database,
                                                                      pair.postgresql_database))
            host.admin("signal-event", "nethserver-hotsync-save")
        yield pair
    finally:
        for host in (master, slave):
            host.stop_everything()
        network.set_link(True)
        network.limit_rate(None)
        drop_test_databases(pair)
