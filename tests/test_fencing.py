"""The admin's story after a disaster, on two sandbox hosts with real stunnel, rsync daemons,
MariaDB and PostgreSQL: sync, the master dies, the slave is promoted, the old master comes
back and is refused, then the way back (failback) with the same commands."""

import os
import secrets
import stat
import subprocess
import time

import pytest
from support.hosts import Host, free_port, write_file
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync
from support.trees import UNTOUCHED, tree_digest

from hotsync.nethserver.esmith import database_path, read_database
from hotsync.root import Root
from hotsync.runtime.status import MARKER_PATH

pytestmark = pytest.mark.e2e

REFUSAL = "HotSync refused this push"



def sql(names, engine, statement, database=None):
    if engine == "mysql":
        argv = (["mysql", f"--socket={names['mysql_socket']}", "--user=root", "--batch", "--skip-column-names"]
                + ([database] if database else []) + ["-e", statement])
    else:
        argv = ["psql", "-U", "postgres", "-tA", "-d", database or "postgres", "-c", statement]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def databases(own_mariadb):
    """Throwaway database names on the run's own MariaDB and the machine's PostgreSQL, dropped afterwards."""
    suffix = secrets.token_hex(4)
    names = {"mysql": f"hs_fence_my_{suffix}", "postgresql": f"hs_fence_pg_{suffix}",
             "mysql_socket": own_mariadb.socket}
    yield names
    own_mariadb.query(f"DROP DATABASE IF EXISTS `{names['mysql']}`")
    subprocess.run(["psql", "-U", "postgres", "-c", f'DROP DATABASE IF EXISTS "{names["postgresql"]}"'],
                   check=False, capture_output=True)


def rules_for(names):
    return f"""
rule tests-databases {{
    dump mysql {names['mysql']} into /var/lib/nethserver/backup/mysql/ socket = {names['mysql_socket']}
    include /var/lib/nethserver/backup/mysql/
    dump postgresql {names['postgresql']} into /var/lib/nethserver/tests-pg/ user = postgres
    include /var/lib/nethserver/tests-pg/
    promote restore mysql {names['mysql']}
    promote restore postgresql {names['postgresql']}
}}
"""


class FencedHost(Host):
    """One sandbox host of the fencing story, whose role the admin changes."""

    def setting(self, prop):
        return read_database(database_path(Root(self.root))).get_prop("hotsync", prop)

    def set_up(self, role, peer_tunnel_port, names):
        """Install (once) and set the role the admin's way, then apply it with the save event."""
        if not self.path("/etc/hotsync/hotsync.hs").exists():
            self.admin("install", "--quiet")
            self.write("/etc/hotsync/rules.d/90-tests.hs", rules_for(names))
            # the backup lists of the installed packages: the same on both hosts
            self.write("/etc/backup-data.d/tests.include", "/srv/office\n")
            self.admin("config", "setprop", "rsyncd", "password", PASSWORD, "TCPPort", self.rsync_port)
        if role == "slave":
            self.admin("config", "setprop", "hotsync", "role", "slave", "MasterHost", "127.0.0.1",
                       "status", "enabled", "SlavePort", self.tunnel_port)
        else:
            self.admin("config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1",
                       "status", "enabled", "SlavePort", peer_tunnel_port)
        self.admin("signal-event", "nethserver-hotsync-save")

    def sync(self, *options):
        return self.run(*options)

    def wait_for_marker(self, timeout=15):
        """The sync marker this slave's daemon stamps just after a push ended."""
        deadline = time.monotonic() + timeout
        while not self.path(MARKER_PATH).exists():
            assert time.monotonic() < deadline, f"no sync marker within {timeout} s"
            time.sleep(0.05)

    def promote(self):
        return self.run("--yes", "--network", "continue", program="hotsync-promote")

    def stop(self):
        self.run("services", "stop", in_process=True)

    def start(self):
        self.run("services", "start", "stunnel", in_process=True)


def fenced_host(make_host, name):
    return make_host(name, kind=FencedHost, tunnel_port=free_port(), rsync_port=free_port())


@pytest.fixture
def hosts(make_host, databases):
    """``first`` is the master, ``second`` its slave; the builder stops every daemon afterwards."""
    first, second = fenced_host(make_host, "first"), fenced_host(make_host, "second")
    second.set_up("slave", None, databases)
    first.set_up("master", second.tunnel_port, databases)
    return first, second


def make_master_data(host, names, rows=3):
    write_file(host.path("/srv/office/report.txt"), "quarterly numbers\n")
    write_file(host.path("/srv/office/plans/roadmap.txt"), "next year\n", 0o640)
    write_file(host.path("/etc/cron.daily/backup-report"), "#!/bin/sh\n", 0o755)
    write_file(host.path("/etc/cron.d/backup-data"), "# master only\n")
    sql(names, "mysql", f"CREATE DATABASE `{names['mysql']}`")
    sql(names, "mysql", "CREATE TABLE calls (id INT PRIMARY KEY, who VARCHAR(20))", names["mysql"])
    sql(names, "postgresql", f'CREATE DATABASE "{names["postgresql"]}"')
    sql(names, "postgresql", "CREATE TABLE mails (id INT PRIMARY KEY, subject TEXT)", names["postgresql"])
    for number in range(rows):
        sql(names, "mysql", f"INSERT INTO calls VALUES ({number}, 'caller{number}')", names["mysql"])
        sql(names, "postgresql", f"INSERT INTO mails VALUES ({number}, 'subject{number}')", names["postgresql"])


def row_counts(names):
    return (sql(names, "mysql", "SELECT COUNT(*) FROM calls", names["mysql"]),
            sql(names, "postgresql", "SELECT COUNT(*) FROM mails", names["postgresql"]))


def lose_the_databases(names):
    """Both hosts share this machine's servers: a dead master's databases are simply gone."""
    sql(names, "mysql", f"DROP DATABASE `{names['mysql']}`")
    sql(names, "postgresql", f'DROP DATABASE "{names["postgresql"]}"')


def office_files(host):
    base = host.path("/srv/office")
    return {str(path.relative_to(base)): (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
            for path in sorted(base.rglob("*")) if path.is_file()}


def fail_over(first, second, names):
    """Sync, the master dies, the slave is promoted; returns the promotion's outcome."""
    make_master_data(first, names)
    synced = first.sync()
    assert synced.code == 0, synced.err
    second.wait_for_marker()
    fixperm = run_hotsync("--root", second.root, "fixperm", program="hotsync-slave")
    assert fixperm.code == 0, fixperm.err
    assert not os.access(second.path("/etc/cron.daily/backup-report"), os.X_OK)
    first.stop()
    lose_the_databases(names)
    promoted = second.promote()
    assert promoted.code == 0, promoted.err + promoted.out
    return promoted


def test_promoted_slave_has_the_data_and_refuses_the_returning_master(hosts, databases):
    first, second = hosts

    promoted = fail_over(first, second, databases)

    assert office_files(second) == office_files(first)
    assert row_counts(databases) == ("3", "3")
    assert os.access(second.path("/etc/cron.daily/backup-report"), os.X_OK)
    assert not second.path("/etc/cron.d/backup-data").exists()
    assert second.setting("role") == "master"
    assert second.setting("PromotionGeneration") == "1"
    assert "(RTO)" in promoted.out and "(RPO)" in promoted.out

    # The old master comes back as it was, and its cron runs a sync.
    first.start()
    before = tree_digest(second.root, **UNTOUCHED)
    refused = first.sync()

    assert refused.code == 1
    assert REFUSAL in refused.err
    assert "configure it as a slave of the promoted host" in refused.err
    assert tree_digest(second.root, **UNTOUCHED) == before
    assert "refused a push" in second.path("/var/log/hotsync.log").read_text()
    preview = first.sync("--dry-run")  # the preview module is fenced too
    assert preview.code == 1 and REFUSAL in preview.err


def test_failback_round_trip(hosts, databases):
    first, second = hosts
    fail_over(first, second, databases)
    # Life goes on on the new master.
    write_file(second.path("/srv/office/after-failover.txt"), "written on the new master\n")
    sql(databases, "mysql", "INSERT INTO calls VALUES (100, 'new master')", databases["mysql"])
    sql(databases, "postgresql", "INSERT INTO mails VALUES (100, 'new master')", databases["postgresql"])

    # The repaired old master becomes the slave of the new one, which syncs it.
    first.set_up("slave", None, databases)
    second.set_up("master", first.tunnel_port, databases)
    synced = second.sync()
    assert synced.code == 0, synced.err
    assert first.path("/srv/office/after-failover.txt").read_text() == "written on the new master\n"

    # Switch off the current master, promote the original server back.
    second.stop()
    lose_the_databases(databases)
    promoted = first.promote()
    assert promoted.code == 0, promoted.err + promoted.out
    assert first.setting("role") == "master"
    assert first.setting("PromotionGeneration") == "2"  # newer than the host it replaced
    assert first.path("/srv/office/after-failover.txt").read_text() == "written on the new master\n"
    assert row_counts(databases) == ("4", "4")

    # The second host still believes it is the master: refused.
    second.start()
    refused = second.sync()
    assert refused.code == 1 and REFUSAL in refused.err

    # Configured as the slave of the host promoted after it, it syncs normally.
    second.set_up("slave", None, databases)
    first.set_up("master", second.tunnel_port, databases)
    write_file(first.path("/srv/office/back-home.txt"), "original server again\n")
    again = first.sync()
    assert again.code == 0, again.err
    assert second.path("/srv/office/back-home.txt").read_text() == "original server again\n"


def raw_push(host, source, generation=None):
    """An rsync push straight to a host's tunnel, as a master of the given generation would."""
    password = write_file(source.parent / "password", PASSWORD + "\n", 0o600)
    client_port = free_port()
    config = write_file(source.parent / "client.conf", "\n".join([
        "foreground = no", f"pid = {source.parent}/client.pid", f"output = {source.parent}/client.log",
        "[c]", "client = yes", f"accept = 127.0.0.1:{client_port}", f"connect = 127.0.0.1:{host.tunnel_port}",
        f"PSKsecrets = {host.path('/etc/stunnel/hotsync.psk')}", "PSKidentity = hotsync", "ciphers = PSK", ""]))
    subprocess.run(["stunnel", str(config)], check=True, capture_output=True)
    try:
        argv = ["rsync", "-r", f"--password-file={password}"]
        if generation is not None:
            argv.append(f"--checksum-seed={generation}")  # how a master sends its generation
        argv += [f"{source}/", f"rsync://hotsyncuser@127.0.0.1:{client_port}/hotsync/incoming/"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)
    finally:
        os.kill(int((source.parent / "client.pid").read_text()), 15)


def explained(outcome, generation):
    """What HotSync on a master of ``generation`` tells its admin about this refused push: the
    slave's own words (rsync >= 3.2.0 passes them on) or the same, worked out from its greeting."""
    from hotsync.runtime.fence import refusal_reason

    return refusal_reason(outcome.stderr, outcome.stdout, generation)


def test_a_once_promoted_slave_accepts_only_masters_promoted_later(tmp_path, databases, make_host):
    slave = fenced_host(make_host, "slave")
    try:
        slave.set_up("slave", None, databases)
        admin(slave.root, "config", "setprop", "hotsync", "PromotionGeneration", "2")
        admin(slave.root, "signal-event", "nethserver-hotsync-save")
        source = tmp_path / "client" / "data"
        write_file(source / "file.txt", "from a master\n")

        older = raw_push(slave, source, generation=1)
        silent = raw_push(slave, source)
        assert not slave.path("/incoming").exists()
        newer = raw_push(slave, source, generation=3)
    finally:
        slave.stop()

    assert older.returncode != 0
    assert "promoted later than the sending master (promotion generation 2 against 1)" in explained(older, 1)
    assert silent.returncode != 0 and "(promotion generation 2 against 0)" in explained(silent, 0)
    log = slave.path("/var/log/hotsync.log").read_text()
    assert "refused a push: HotSync refused this push: the receiving slave was promoted later" in log
    assert newer.returncode == 0, newer.stderr
    assert slave.path("/incoming/file.txt").read_text() == "from a master\n"


def test_check_push_fails_closed_without_a_configuration(tmp_path):
    outcome = run_hotsync("--root", tmp_path, "check-push", program="hotsync-slave",
                          environment={"RSYNC_ARG0": "rsyncd", "RSYNC_ARG1": "--checksum-seed=9"})
    assert outcome.code == 1
    assert outcome.out.startswith(REFUSAL)
    assert "Traceback" not in outcome.err + outcome.out


def test_a_slave_whose_promotion_stopped_at_a_step_refuses_every_push_even_after_events(tmp_path, databases,
                                                                                        make_host):
    """No dump arrived yet, so the promotion stops at its restore step. The save and update
    events that follow (a package update) do not reopen the host; every push is refused, whatever
    generation it claims."""
    slave = fenced_host(make_host, "slave")
    try:
        slave.set_up("slave", None, databases)
        stopped = slave.promote()
        assert stopped.code == 1 and "promotion stopped at step 4/" in stopped.err, stopped.err + stopped.out
        admin(slave.root, "signal-event", "nethserver-hotsync-save")
        admin(slave.root, "signal-event", "nethserver-hotsync-update")
        source = tmp_path / "client" / "data"
        write_file(source / "file.txt", "from a master\n")

        refused = [raw_push(slave, source), raw_push(slave, source, generation=99)]
    finally:
        slave.stop()

    for outcome, generation in zip(refused, (0, 99)):
        assert outcome.returncode != 0
        assert explained(outcome, generation).startswith(f"{REFUSAL}: the receiving host is being promoted to master")
    assert not slave.path("/incoming").exists()
    assert not slave.path(MARKER_PATH).exists()
    assert "early exec" not in slave.path("/etc/rsyncd.conf").read_text()


def test_a_started_promotion_refuses_masters_of_any_generation():
    from hotsync.runtime.fence import FenceSettings, decide_push

    promoting = FenceSettings(role="slave", generation=0, promotion_started=1_767_258_000)
    for sent in (None, 0, 5):
        refusal = decide_push(promoting, sent)
        assert refusal.startswith(f"{REFUSAL}: the receiving host is being promoted to master (promotion started ")
        assert "configure it as a slave of the promoted host" in refusal
    assert decide_push(FenceSettings(role="slave", generation=0), None) is None
    # a master whose promotion ended keeps the master's refusal
    assert "is the master now" in decide_push(FenceSettings(role="master", generation=1, promotion_started=0), 1)


def daemon_arguments(*arguments):
    """The environment rsync's daemon gives its pre-xfer exec: RSYNC_ARG0 is "rsyncd", then the
    client's options, "." and the path."""
    return {f"RSYNC_ARG{number}": argument for number, argument in enumerate(("rsyncd",) + arguments)}


@pytest.mark.parametrize("arguments, generation", [
    (("--server", "-logDtprHAe.iLsfxC", "--delete-delay", "--checksum-seed=3", ".", "hotsync/"), 3),
    (("--server", "-re.iLsfxC", "--timeout=600", ".", "hotsync/"), None),  # never promoted, or an older HotSync
    (("--server", "--checksum-seed=" + "9" * 5000, ".", "hotsync/"), None),  # not a number HotSync sends
    (("--server", "--checksum-seed=3x", ".", "hotsync/"), None),
    ((), None),
])
def test_the_slave_reads_the_generation_among_the_options_its_daemon_shows(arguments, generation):
    from hotsync.runtime.fence import sent_generation

    assert sent_generation(daemon_arguments(*arguments)) == generation


def test_a_master_sends_its_generation_as_a_checksum_seed_only_once_promoted(sandbox):
    from hotsync.root import Root
    from hotsync.runtime.fence import generation_options

    admin(sandbox, "install", "--quiet")
    assert generation_options(Root(sandbox)) == []
    admin(sandbox, "config", "setprop", "hotsync", "PromotionGeneration", "4")
    assert generation_options(Root(sandbox)) == ["--checksum-seed=4"]
    admin(sandbox, "config", "setprop", "hotsync", "PromotionGeneration", "9999999999")
    assert generation_options(Root(sandbox)) == ["--checksum-seed=2147483647"]  # rsync's largest seed


@pytest.mark.parametrize("conf, writable", [
    ("[a]\n    path = /\n", []),  # rsync's default: read only
    ("[a]\n    read only = no\n[b]\n    read only = yes\n", ["a"]),
    ("read only = false\n[a]\n    path = /\n[b]\n    readonly = 1\n", ["a"]),  # the global default, then an override
    ("# read only = no\n[a]\n    ; read only = no\n    write only = yes\n", []),
])
def test_writable_modules_reads_read_only_as_rsync_does(conf, writable):
    from hotsync.runtime.fence import writable_modules

    assert writable_modules(conf) == writable


def test_a_fenced_daemon_greets_with_its_fencing_facts_and_an_open_slave_with_nothing(sandbox):
    """rsync before 3.2.0 does not pass the check's words to a refused client: the daemon's
    greeting (motd) carries what the master needs to say them itself."""
    from hotsync.runtime.fence import FenceSettings, announced_settings

    admin(sandbox, "install", "--quiet")
    admin(sandbox, "config", "setprop", "rsyncd", "password", PASSWORD)
    admin(sandbox, "config", "setprop", "hotsync", "role", "slave", "MasterHost", "192.168.1.1")
    admin(sandbox, "compile", "--quiet")
    motd = sandbox / "var/lib/nethserver/hotsync/rsyncd.motd"
    assert motd.read_text() == "" and "motd file" not in (sandbox / "etc/rsyncd.conf").read_text()

    admin(sandbox, "config", "setprop", "hotsync", "PromotionGeneration", "2")
    admin(sandbox, "compile", "--quiet")
    assert f"motd file = {motd}\n" in (sandbox / "etc/rsyncd.conf").read_text()
    assert announced_settings(motd.read_text()) == FenceSettings(role="slave", generation=2)

    admin(sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "192.168.1.1", "FencePort", "2273")
    admin(sandbox, "compile", "--quiet")
    assert announced_settings(motd.read_text()) == FenceSettings(role="master", generation=2)
    assert f"motd file = {motd}\n" in (sandbox / "etc/rsyncd.conf").read_text()


CLOSED_BY_RSYNC_312 = ("rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
                       "rsync error: error in rsync protocol data stream (code 12) at io.c(226) [sender=3.1.2]\n")


@pytest.mark.parametrize("greeting, generation, expected", [
    ("HotSync fence: role=slave generation=2 promotion-started=0\n", 1,
     f"{REFUSAL}: the receiving slave was promoted later than the sending master (promotion generation 2 against 1)"),
    ("HotSync fence: role=slave generation=2 promotion-started=0\n", 2, ""),  # not refused by the fence
    ("HotSync fence: role=master generation=1 promotion-started=0\n", 5, f"{REFUSAL}: the receiving host is the master now"),
    ("HotSync fence: role=slave generation=0 promotion-started=1767258000\n", 7,
     f"{REFUSAL}: the receiving host is being promoted to master"),
    ("", 0, ""),
])
def test_a_master_explains_a_refusal_the_daemon_could_not_pass_on(greeting, generation, expected):
    from hotsync.runtime.fence import refusal_reason

    reason = refusal_reason(CLOSED_BY_RSYNC_312, greeting, generation)
    assert reason.startswith(expected) and bool(reason) == bool(expected)
    # the daemon's own words, when they arrive, are what the admin reads
    own_words = f"@ERROR: {REFUSAL}: its own words\n"
    assert refusal_reason(own_words, greeting, generation) == f"{REFUSAL}: its own words"
