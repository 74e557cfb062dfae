"""Database dumps against the machine's real MariaDB and PostgreSQL, with throwaway databases."""

import subprocess
import uuid
from pathlib import Path

import pytest

from hotsync.plan import Condition, Dump, PathEntry, Rule
from hotsync.root import Root
from hotsync.runtime.dumps import dump_command, list_mysql_databases, make_dumps
from sync_hosts import host_pair  # noqa: F401  (fixture)

MYSQL = {"socket": "/run/mysqld/mysqld.sock", "user": "root"}
POSTGRESQL = {"socket": "/var/run/postgresql", "user": "postgres"}


def mysql(statement: str) -> str:
    argv = ["mysql", f"--socket={MYSQL['socket']}", "--user=root", "--batch", "--skip-column-names", "-e", statement]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def psql(statement: str, database: str = "postgres") -> str:
    argv = ["psql", "-h", POSTGRESQL["socket"], "-U", "postgres", "-d", database, "-Atc", statement]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def mysql_database():
    name = f"hotsync_test_{uuid.uuid4().hex[:10]}"
    mysql(f"CREATE DATABASE {name}; CREATE TABLE {name}.invoices (id INT PRIMARY KEY, customer TEXT);"
          f"INSERT INTO {name}.invoices VALUES (1, 'Rossi'), (2, 'Bianchi');")
    yield name
    mysql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def postgresql_database():
    name = f"hotsync_test_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    psql("CREATE TABLE chats (id int PRIMARY KEY, message text); INSERT INTO chats VALUES (1, 'ciao')", name)
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_mysql_dump_per_database_into_a_folder(sandbox, mysql_database):
    root = Root(sandbox)
    dump = Dump("mysql", (mysql_database,), "/var/lib/nethserver/backup/mysql/", dict(MYSQL))

    (result,) = make_dumps(root, [dump])

    assert result.ok, result.error
    assert result.target == f"/var/lib/nethserver/backup/mysql/{mysql_database}.dump"
    written = root.path(result.target)
    text = written.read_text()
    assert "CREATE TABLE `invoices`" in text and "'Bianchi'" in text
    assert written.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in written.parent.iterdir()] == [written.name], "no temp file left"


def test_the_database_list_leaves_out_the_system_schemas(sandbox, mysql_database):
    names = list_mysql_databases(Root(sandbox), dict(MYSQL))
    assert mysql_database in names
    assert "information_schema" not in names and "performance_schema" not in names


def test_postgresql_dump_into_a_file(sandbox, postgresql_database):
    root = Root(sandbox)
    dump = Dump("postgresql", (postgresql_database,), "/var/lib/nethserver/webtop/backup/webtop.sql", dict(POSTGRESQL))

    (result,) = make_dumps(root, [dump])

    assert result.ok, result.error
    text = root.path(result.target).read_text()
    assert "CREATE TABLE public.chats" in text and "ciao" in text


def test_a_failed_dump_keeps_the_previous_good_one_and_says_why(sandbox):
    root = Root(sandbox)
    target = root.path("/var/lib/nethserver/backup/mysql/gone.dump")
    target.parent.mkdir(parents=True)
    target.write_text("-- the previous good dump\n")
    dump = Dump("mysql", ("gone",), "/var/lib/nethserver/backup/mysql/", dict(MYSQL))

    (result,) = make_dumps(root, [dump])

    assert not result.ok
    assert "mysqldump failed" in result.error and "gone" in result.error
    assert target.read_text() == "-- the previous good dump\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["gone.dump"], "no temp file left"
    assert "kept the previous /var/lib/nethserver/backup/mysql/gone.dump" in result.describe()


def test_an_unreachable_postgresql_server_is_a_failed_dump(sandbox):
    dump = Dump("postgresql", ("webtop5",), "/var/lib/nethserver/webtop/backup/webtop.sql",
                {"host": "127.0.0.1", "port": "1", "user": "postgres"})
    (result,) = make_dumps(Root(sandbox), [dump])
    assert not result.ok and "pg_dump failed" in result.error


def test_mysql_command_line_takes_the_password_from_the_defaults_file_only(sandbox):
    root = Root(sandbox)
    dump = Dump("mysql", (), "/var/lib/nethserver/backup/mysql/all.sql", {"defaults_file": "/root/.my.cnf"})
    argv = dump_command(root, dump, "", Path("/tmp/out"))
    assert argv == [
        "mysqldump", f"--defaults-file={sandbox}/root/.my.cnf", "--single-transaction", "--routines", "--events",
        "--triggers", "--result-file=/tmp/out", "--all-databases",
    ]


def test_postgresql_command_line(sandbox):
    dump = Dump("postgresql", ("mattermost",), "/x.sql", {"host": "127.0.0.1", "port": "55434", "user": "postgres"})
    argv = dump_command(Root(sandbox), dump, "mattermost", Path("/tmp/out"))
    assert argv == ["pg_dump", "--no-password", "--host=127.0.0.1", "--port=55434", "--username=postgres",
                    "--file=/tmp/out", "mattermost"]


@pytest.mark.e2e
def test_dumps_reach_the_slave_and_a_failed_one_fails_the_run_while_files_still_sync(
    host_pair, hotsync, mysql_database, postgresql_database
):
    pair = host_pair
    folder = "/var/lib/nethserver/backup/mysql/"
    pair.add_master_rule(Rule(
        name="databases-test",
        origin="test",
        conditions=(Condition("databases"),),
        include=(PathEntry(folder), PathEntry("/var/lib/nethserver/webtop/backup/webtop.sql")),
        dumps=(
            Dump("mysql", (mysql_database,), folder, dict(MYSQL)),
            Dump("postgresql", (postgresql_database,), "/var/lib/nethserver/webtop/backup/webtop.sql",
                 dict(POSTGRESQL)),
        ),
    ))
    pair.on_master("/srv/docs").mkdir(parents=True)
    pair.on_master("/srv/docs/letter.txt").write_text("v1\n")
    pair.include_on_master("/srv/docs")

    first = hotsync("--root", pair.master)
    assert first.code == 0, first.err
    mysql_copy = pair.on_slave(f"{folder}{mysql_database}.dump")
    assert "'Rossi'" in mysql_copy.read_text()
    assert "ciao" in pair.on_slave("/var/lib/nethserver/webtop/backup/webtop.sql").read_text()

    mysql(f"DROP DATABASE {mysql_database}")  # the next dump of it fails
    pair.on_master("/srv/docs/letter.txt").write_text("version 2\n")
    second = hotsync("--root", pair.master)

    assert second.code == 1
    assert f"mysql dump of {mysql_database} failed" in second.err
    assert pair.on_slave("/srv/docs/letter.txt").read_text() == "version 2\n", "files still synced"
    assert "'Rossi'" in mysql_copy.read_text(), "the slave keeps the last good dump"
    status = pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text()
    assert '"ok": false' in status


@pytest.mark.e2e
def test_no_dump_when_databases_are_not_synchronized(host_pair, hotsync, mysql_database):
    pair = host_pair
    dump = Dump("mysql", (mysql_database,), "/dumps/", dict(MYSQL))
    pair.add_master_rule(Rule(name="db", origin="test", dumps=(dump,)))
    pair.change_master_plan(databases_enabled=False)
    assert hotsync("--root", pair.master).code == 0
    assert not pair.on_master("/dumps").exists()
