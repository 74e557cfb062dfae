"""Database dumps against a real MariaDB (the test run's own) and the machine's PostgreSQL, with throwaway databases."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from support.databases import PostgreSQL, private_mariadb_server
from support.namespaces import POSTGRESQL_BIN

from hotsync.errors import HotsyncError
from hotsync.plan import Condition, Dump, PathEntry, PromoteStep, Rule
from hotsync.root import Root
from hotsync.runtime.dumps import UnsafeDatabaseName, check_database_name, dump_command, list_mysql_databases, make_dumps
from hotsync.runtime.promote import restore_databases

POSTGRESQL = {"socket": "/var/run/postgresql", "user": "postgres"}


def psql(statement: str, database: str = "postgres") -> str:
    argv = ["psql", "-h", POSTGRESQL["socket"], "-U", "postgres", "-d", database, "-Atc", statement]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def mysql_connection(own_mariadb):
    return {"socket": own_mariadb.socket, "user": "root"}


@pytest.fixture
def mysql_database(own_mariadb):
    name = f"hotsync_test_{uuid.uuid4().hex[:10]}"
    own_mariadb.query(f"CREATE DATABASE {name}; CREATE TABLE {name}.invoices (id INT PRIMARY KEY, customer TEXT);"
                      f"INSERT INTO {name}.invoices VALUES (1, 'Rossi'), (2, 'Bianchi');")
    yield name
    own_mariadb.query(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def postgresql_database():
    name = f"hotsync_test_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    psql("CREATE TABLE chats (id int PRIMARY KEY, message text); INSERT INTO chats VALUES (1, 'ciao')", name)
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_mysql_dump_per_database_into_a_folder(mysql_connection, sandbox, mysql_database):
    root = Root(sandbox)
    dump = Dump("mysql", (mysql_database,), "/var/lib/nethserver/backup/mysql/", mysql_connection)

    (result,) = make_dumps(root, [dump])

    assert result.ok, result.error
    assert result.target == f"/var/lib/nethserver/backup/mysql/{mysql_database}.dump"
    written = root.path(result.target)
    text = written.read_text()
    assert "CREATE TABLE `invoices`" in text and "'Bianchi'" in text
    assert written.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in written.parent.iterdir()] == [written.name], "no temp file left"


def test_the_database_list_leaves_out_the_system_schemas(mysql_connection, sandbox, mysql_database):
    names = list_mysql_databases(Root(sandbox), mysql_connection)
    assert mysql_database in names
    assert "information_schema" not in names and "performance_schema" not in names


def test_postgresql_dump_into_a_file(sandbox, postgresql_database):
    root = Root(sandbox)
    dump = Dump("postgresql", (postgresql_database,), "/var/lib/nethserver/webtop/backup/webtop.sql", dict(POSTGRESQL))

    (result,) = make_dumps(root, [dump])

    assert result.ok, result.error
    text = root.path(result.target).read_text()
    assert "CREATE TABLE public.chats" in text and "ciao" in text


def test_a_failed_dump_keeps_the_previous_good_one_and_says_why(mysql_connection, sandbox):
    root = Root(sandbox)
    target = root.path("/var/lib/nethserver/backup/mysql/gone.dump")
    target.parent.mkdir(parents=True)
    target.write_text("-- the previous good dump\n")
    dump = Dump("mysql", ("gone",), "/var/lib/nethserver/backup/mysql/", mysql_connection)

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
        "--triggers", "--skip-dump-date", "--result-file=/tmp/out", "--all-databases",
    ]


def test_postgresql_command_line(sandbox):
    dump = Dump("postgresql", ("mattermost",), "/x.sql", {"host": "127.0.0.1", "port": "55434", "user": "postgres"})
    argv = dump_command(Root(sandbox), dump, "mattermost", Path("/tmp/out"))
    assert argv == ["pg_dump", "--no-password", "--host=127.0.0.1", "--port=55434", "--username=postgres",
                    "--file=/tmp/out", "--", "mattermost"]


def test_mysql_command_line_ends_the_options_before_the_database_name(sandbox):
    dump = Dump("mysql", (), "/dumps/", {"socket": "/run/mysqld/mysqld.sock"})
    argv = dump_command(Root(sandbox), dump, "shop", Path("/tmp/out"))
    assert argv[-4:] == ["--result-file=/tmp/out", "--databases", "--", "shop"]


@pytest.mark.e2e
def test_dumps_reach_the_slave_and_a_failed_one_fails_the_run_while_files_still_sync(
    mysql_connection, own_mariadb, host_pair, hotsync, mysql_database, postgresql_database
):
    pair = host_pair
    folder = "/var/lib/nethserver/backup/mysql/"
    pair.add_master_rule(Rule(
        name="databases-test",
        origin="test",
        conditions=(Condition("databases"),),
        include=(PathEntry(folder), PathEntry("/var/lib/nethserver/webtop/backup/webtop.sql")),
        dumps=(
            Dump("mysql", (mysql_database,), folder, mysql_connection),
            Dump("postgresql", (postgresql_database,), "/var/lib/nethserver/webtop/backup/webtop.sql",
                 dict(POSTGRESQL)),
        ),
    ))
    pair.on_master("/srv/docs").mkdir(parents=True)
    pair.on_master("/srv/docs/letter.txt").write_text("v1\n")
    pair.include_on_master("/srv/docs")

    first = pair.sync(in_process=True)
    assert first.code == 0, first.err
    mysql_copy = pair.on_slave(f"{folder}{mysql_database}.dump")
    assert "'Rossi'" in mysql_copy.read_text()
    assert "ciao" in pair.on_slave("/var/lib/nethserver/webtop/backup/webtop.sql").read_text()

    own_mariadb.query(f"DROP DATABASE {mysql_database}")  # the next dump of it fails
    pair.on_master("/srv/docs/letter.txt").write_text("version 2\n")
    second = pair.sync(in_process=True)

    assert second.code == 1
    assert f"mysql dump of {mysql_database} failed" in second.err
    assert pair.on_slave("/srv/docs/letter.txt").read_text() == "version 2\n", "files still synced"
    assert "'Rossi'" in mysql_copy.read_text(), "the slave keeps the last good dump"
    status = pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text()
    assert '"ok": false' in status


@pytest.mark.e2e
def test_no_dump_when_databases_are_not_synchronized(mysql_connection, host_pair, hotsync, mysql_database):
    pair = host_pair
    dump = Dump("mysql", (mysql_database,), "/dumps/", mysql_connection)
    pair.add_master_rule(Rule(name="db", origin="test", dumps=(dump,)))
    pair.change_master_plan(databases_enabled=False)
    assert pair.sync(in_process=True).code == 0
    assert not pair.on_master("/dumps").exists()


# ----------------------------------------------------------------------------- hostile database names

DUMP_FOLDER = "/var/lib/nethserver/backup/mysql/"


@pytest.fixture(scope="module")
def private_mariadb():
    """A MariaDB of this module's own: every database it lists was made by a test here."""
    with private_mariadb_server("hotsync-dumps-db-") as server:
        yield server


@pytest.fixture
def hostile_databases(private_mariadb):
    """A shop database and databases whose names aim at mysqldump's options and at the
    dump folder's parents; dropped afterwards."""
    victim_folder = Path(tempfile.mkdtemp(prefix="hsv"))  # short: a name holds 64 characters at most
    victim = victim_folder / "victim"
    victim.write_text("precious\n")
    names = {"option": f"--result-file={victim}", "climb": "up/../../../../etc/cron.d/evil", "dots": ".."}
    statements = [f"CREATE DATABASE `{name}`" for name in names.values()]
    statements += ["CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT)", "INSERT INTO shop.orders VALUES (42)"]
    private_mariadb.query("; ".join(statements))
    yield dict(names, victim=victim, connection={"socket": private_mariadb.socket, "user": "root"})
    private_mariadb.query("; ".join(f"DROP DATABASE `{name}`" for name in list(names.values()) + ["shop"]))
    shutil.rmtree(victim_folder)


def tree(folder: Path):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_databases_named_like_an_option_or_a_path_are_skipped_with_a_warning(sandbox, hostile_databases):
    names = hostile_databases
    root = Root(sandbox)

    results = make_dumps(root, [Dump("mysql", (), DUMP_FOLDER, names["connection"])])

    assert names["victim"].read_text() == "precious\n", "mysqldump never saw the name as an option"
    by_name = {result.database: result for result in results}
    for kind in ("option", "climb", "dots"):
        skipped = by_name[names[kind]]
        assert skipped.skipped and not skipped.ok
        assert f"skipped the mysql database '{names[kind]}': its name " in skipped.describe()
    assert by_name["shop"].ok, by_name["shop"].error
    assert "INSERT INTO `orders` VALUES" in root.path(f"{DUMP_FOLDER}shop.dump").read_text()
    assert tree(sandbox) == ["var", "var/lib", "var/lib/nethserver", "var/lib/nethserver/backup",
                             "var/lib/nethserver/backup/mysql", "var/lib/nethserver/backup/mysql/mysql.dump",
                             "var/lib/nethserver/backup/mysql/shop.dump"]


@pytest.mark.e2e
def test_a_sync_skips_unsafe_database_names_with_a_warning_and_copies_the_others(
    host_pair, hotsync, hostile_databases
):
    pair, names = host_pair, hostile_databases
    pair.add_master_rule(Rule(name="databases-test", origin="test", conditions=(Condition("databases"),),
                              include=(PathEntry(DUMP_FOLDER),),
                              dumps=(Dump("mysql", (), DUMP_FOLDER, names["connection"]),)))

    outcome = pair.sync(in_process=True)

    assert outcome.code == 0, outcome.err
    assert f"warning: skipped the mysql database '{names['option']}': its name starts with '-'" in outcome.out
    status = json.loads(pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text())
    assert status["result"] == "ok"
    assert sum("skipped the mysql database" in warning for warning in status["warnings"]) == 3
    assert "INSERT INTO `orders` VALUES" in pair.on_slave(f"{DUMP_FOLDER}shop.dump").read_text()
    assert names["victim"].read_text() == "precious\n"
    assert not pair.on_master("/etc/cron.d/evil.dump").exists()


def test_mysqldump_sees_only_safe_names_and_each_after_a_double_dash(fp, sandbox):
    fp.register(["mysql", fp.any()], stdout="shop\n-x\n a b\nnl\\nname\n")
    fp.register(["mysqldump", fp.any()], occurrences=5)

    results = make_dumps(Root(sandbox), [Dump("mysql", (), "/dumps/", {"socket": "/s"})])

    dumped = [call[-1] for call in fp.calls if call[0] == "mysqldump"]
    assert dumped == ["shop", " a b"]
    assert all(call[-2:-1] == ["--"] for call in fp.calls if call[0] == "mysqldump")
    assert sorted(result.database for result in results if result.skipped) == ["-x", "nl\\nname"]


@pytest.mark.parametrize("engine, name, reason", [
    ("mysql", "", "is not a file name"),
    ("mysql", ".", "is not a file name"),
    ("mysql", "-x", "starts with '-'"),
    ("mysql", "a/b", "holds '/'"),
    ("mysql", "a\\nb", "holds '\\'"),
    ("mysql", "a\nb", "control or invisible character"),
    ("mysql", "a\x00b", "control or invisible character"),
    ("mysql", "a\u202eb", "control or invisible character"),  # right-to-left override
    ("mysql", "a\u00a0b", "control or invisible character"),  # no-break space
    ("postgresql", "host=elsewhere", "connection string"),
    ("postgresql", "postgresql://elsewhere/db", "holds '/'"),
    ("postgresql", "postgres:x", "connection string"),
])
def test_unsafe_database_names_are_refused_with_the_reason(engine, name, reason):
    with pytest.raises(UnsafeDatabaseName, match=re.escape(reason)):
        check_database_name(engine, name)


@pytest.mark.parametrize("engine, name", [
    ("mysql", "asterisk"), ("mysql", "my shop"), ("mysql", "caf\u00e9"), ("mysql", "a=b"), ("mysql", "..x"),
    ("mysql", "o'brien`s"), ("postgresql", "webtop5"), ("postgresql", "\u65e5\u672c"),
])
def test_safe_database_names_pass(engine, name):
    assert check_database_name(engine, name) == name


def restore_step(root, engine, name):
    """A promotion's restore of ``name``, its dump file in place."""
    target = "/dumps/restore.sql"
    root.path(target).parent.mkdir(parents=True, exist_ok=True)
    root.path(target).write_text("-- dump\n")
    return PromoteStep(kind="restore", engine=engine, databases=(name,), dump_targets=(target,),
                       connection={"socket": "/s"})


def test_promotion_quotes_a_name_in_sql_and_passes_it_after_a_double_dash(fp, sandbox):
    root = Root(sandbox)
    fp.register(["mysql", "--socket=/s", "--execute", "DROP DATABASE IF EXISTS `o``b`; CREATE DATABASE `o``b`"])
    fp.register(["mysql", "--socket=/s", "--execute", f"source {sandbox}/dumps/restore.sql", "--", "o`b"])
    psql = ["psql", "--no-password", "--quiet", "--host=/s", "--set", "ON_ERROR_STOP=1"]
    fp.register(psql + ["--dbname", "postgres", "--command", 'DROP DATABASE IF EXISTS "o""b"'])
    fp.register(psql + ["--dbname", "postgres", "--command", 'CREATE DATABASE "o""b"'])
    fp.register(psql + ["--single-transaction", "--dbname", 'o"b', "--file", "-"])

    restore_databases(root, None, restore_step(root, "mysql", "o`b"))
    restore_databases(root, None, restore_step(root, "postgresql", 'o"b'))

    assert len(fp.calls) == 5


@pytest.mark.parametrize("engine, name", [("mysql", "--help"), ("mysql", "a/b"), ("postgresql", "host=elsewhere")])
def test_promotion_refuses_an_unsafe_name_before_running_anything(fp, sandbox, engine, name):
    root = Root(sandbox)
    with pytest.raises(HotsyncError, match=re.escape(f"not restoring the {engine} database '{name}': its name")):
        restore_databases(root, None, restore_step(root, engine, name))
    assert list(fp.calls) == []


def test_a_dump_rewritten_in_the_second_of_the_slaves_copy_with_the_same_size_reaches_the_slave(
    mysql_connection, own_mariadb, host_pair, hotsync, mysql_database
):
    """rsync's quick check compares times in whole seconds (rsync 3.1.2, and today's without a
    negative --modify-window, which 3.1.2 misreads): a dump rewritten within the second of the
    copy the slave holds, with the same size, must still be sent."""
    pair = host_pair
    folder = "/var/lib/nethserver/backup/mysql/"
    pair.add_master_rule(Rule(name="databases-test", origin="test", conditions=(Condition("databases"),),
                              include=(PathEntry(folder),),
                              dumps=(Dump("mysql", (mysql_database,), folder, mysql_connection),)))
    assert pair.sync(in_process=True).code == 0
    on_master, on_slave = pair.on_master(f"{folder}{mysql_database}.dump"), pair.on_slave(f"{folder}{mysql_database}.dump")
    for customer in ("Rossa", "Rosse", "Rosso", "Rossu", "Rossy"):  # as long as 'Rossi': the same size
        time.sleep(1.01 - time.time() % 1)  # a new second begins
        second = int(time.time())
        size = on_master.stat().st_size
        for copy in (on_master, on_slave):  # as if the last push had run in this very second
            os.utime(copy, (second, second))
        own_mariadb.query(f"UPDATE {mysql_database}.invoices SET customer = '{customer}' WHERE id = 1")
        outcome = pair.sync(in_process=True)
        assert outcome.code == 0, outcome.err
        if int(on_master.stat().st_ctime) == second and on_master.stat().st_size == size:
            break  # the new dump was written within that second: the case under test
    else:
        pytest.fail("no dump was rewritten within the second of the slave's copy")
    assert f"'{customer}'" in on_slave.read_text()
    assert on_slave.read_bytes() == on_master.read_bytes()


# ----------------------------------------------------------------------------- who runs a dump


@pytest.fixture(scope="module")
def ident_postgresql():
    """A private PostgreSQL that lets its postgres role in as NethServer's does: over the
    socket, only to the system account of the same name (``peer``, the local ``ident``)."""
    folder = Path(tempfile.mkdtemp(prefix="hotsync-ident-pg-"))
    os.chmod(folder, 0o755)  # the postgres account runs the server below it
    server = PostgreSQL("", folder / "postgresql")
    try:
        server.ensure_running()
        server.query("CREATE DATABASE webtop5")
        server.query("CREATE TABLE contacts (id int PRIMARY KEY, name text); INSERT INTO contacts VALUES (1, 'Verdi')",
                     "webtop5")
        (server.datadir / "pg_hba.conf").write_text("local all postgres peer\n")
        server.as_postgres([POSTGRESQL_BIN / "pg_ctl", "-D", server.datadir, "reload"])
        time.sleep(0.5)  # the postmaster rereads pg_hba.conf on the signal
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_dump_runs_as_the_postgres_account_where_root_is_refused(sandbox, ident_postgresql):
    root = Root(sandbox)
    target = "/var/lib/nethserver/webtop/backup/webtop.sql"
    as_root = Dump("postgresql", ("webtop5",), target, {"socket": ident_postgresql.socket, "user": "postgres"})
    as_postgres = Dump("postgresql", ("webtop5",), target, {"socket": ident_postgresql.socket, "run_as": "postgres"})

    (refused,) = make_dumps(root, [as_root])
    assert not refused.ok and "authentication failed" in refused.error
    assert not root.path(target).exists()

    (dumped,) = make_dumps(root, [as_postgres])
    assert dumped.ok, dumped.error
    written = root.path(target)
    assert "'Verdi'" in written.read_text() or "Verdi" in written.read_text()
    assert (written.stat().st_uid, written.stat().st_mode & 0o777) == (0, 0o600), "root's file, root only"
    assert sorted(path.name for path in written.parent.iterdir()) == ["webtop.sql"], "no temp file left"


def test_mattermosts_dump_runs_as_postgres_through_its_collections_client_on_its_port(sandbox):
    dump = Dump("postgresql", ("mattermost",), "/x.sql", {"port": "55434", "run_as": "postgres",
                                                         "collection": "rh-postgresql12"})
    assert dump_command(Root(sandbox), dump, "mattermost", None) == [
        "/usr/sbin/runuser", "-u", "postgres", "--", "scl", "enable", "rh-postgresql12", "--",
        "pg_dump", "--no-password", "--port=55434", "--", "mattermost"]


@pytest.mark.e2e
def test_an_unchanged_database_leaves_its_dump_file_as_it_was_so_rsync_sends_nothing(
    mysql_connection, host_pair, hotsync, mysql_database
):
    pair = host_pair
    folder = "/var/lib/nethserver/backup/mysql/"
    pair.add_master_rule(Rule(name="databases-test", origin="test", conditions=(Condition("databases"),),
                              include=(PathEntry(folder),),
                              dumps=(Dump("mysql", (mysql_database,), folder, mysql_connection),)))
    dump = f"{folder}{mysql_database}.dump"
    assert pair.sync(in_process=True).code == 0
    first = pair.on_master(dump).stat()
    content = pair.on_master(dump).read_bytes()
    time.sleep(1.1)  # a dump written now would carry another second

    outcome = pair.sync(in_process=True)

    assert outcome.code == 0, outcome.err
    second = pair.on_master(dump).stat()
    assert pair.on_master(dump).read_bytes() == content
    assert (second.st_ino, second.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert pair.on_slave(dump).read_bytes() == content
    assert sorted(path.name for path in pair.on_master(folder).iterdir()) == [f"{mysql_database}.dump"]
