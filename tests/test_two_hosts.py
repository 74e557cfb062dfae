"""Two real hosts (network namespaces), real default ports, real faults: nothing the master had is lost.

Each test builds a master and its slave with the admin's commands (``namespace_pair`` in
``support/pairs.py``), puts office data and two databases on the master, and checks the slave the way an admin would:
a checksum of every synced file, the rows of every synced database. Faults are real: processes
killed with SIGKILL, the master's link pulled, the slave's disk full, a wrong shared secret.
Transfers that a fault must interrupt run over a rate-limited link so the fault lands mid-way.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from email import message_from_bytes
from pathlib import Path

import pytest
from fake_tools import install_recording_restore_config, recorded_calls
from support.namespaces import run
from support.pairs import MYSQL_DUMP_FOLDER, POSTGRESQL_DUMP_FOLDER
from support.passwords import PASSWORD, WRONG_PASSWORD
from support.runner import admin
from support.streams import CRASH_SECONDS, check_stream_survived, write_stream
from support.trees import UNTOUCHED, file_digest

from hotsync.demo import MAIL_STORE, SHARED_FOLDER, write_office_files
from hotsync.root import Root
from hotsync.runtime.backup import ARCHIVE_PATH
from hotsync.runtime.lock import hold_sync_lock
from hotsync.runtime.promote import LOADED_DUMPS_FOLDER, STATE_PATH

pytestmark = pytest.mark.e2e

MIB = 1 << 20
# Uplink speed of the master while a fault must land mid-transfer: 80 Mbit/s, 10 MB/s.
SLOW_LINK_MBIT = 80
IO_TIMEOUT = 10
SEED = int(os.environ.get("HOTSYNC_TWO_HOSTS_SEED", random.randrange(1 << 30)))


# ----------------------------------------------------------------------------- data


def blob(name: str, version: int, size: int) -> bytes:
    """Deterministic content of file ``name`` at ``version``; each version has its own size."""
    return random.Random(f"{name}:{version}").randbytes(size + version * 4096)


def write_blobs(host, folder: str, count: int, version: int, size: int = MIB) -> list:
    names = [f"{folder}/blob-{number:02}.bin" for number in range(count)]
    for name in names:
        host.write(name, blob(name, version, size))
    return names


def make_office_data(host, projects: bool = True) -> None:
    """Shared folders, a mail store and (unless told not to) a project folder, with their modes."""
    for number in range(30):
        host.write(f"/srv/office/reports/2024/report-{number:02}.txt", f"report {number}\n" * (number + 1))
    host.write("/srv/office/private/salaries.ods", b"\x00salaries\xff" * 500, mode=0o600)
    host.write("/srv/office/readme.txt", "Office shares\n")
    os.symlink("reports/2024/report-00.txt", host.path("/srv/office/latest.txt"))
    for number in range(40):
        host.write(f"/srv/mail/alice/Maildir/cur/{1700000000 + number}.M{number}P1.mail:2,S",
                   f"From: bob@example.com\nSubject: message {number}\n\nbody {number}\n")
    host.write("/srv/mail/alice/sieve/default.sieve", 'require "fileinto";\n')
    if projects:
        make_project_data(host)


def make_project_data(host) -> None:
    host.write("/srv/projects/plan.md", "# Plan\n")
    host.write("/srv/projects/drawings/floor.dxf", os.urandom(64 * 1024))


def digests_of(host, names) -> dict:
    return {name: file_digest(host.path(name)) if host.path(name).is_file() else None for name in names}


def wait_until(predicate, seconds: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def arrived(host, names, size: int) -> int:
    """How many of ``names`` have their complete new version (``size`` bytes) in place on ``host``."""
    count = 0
    for name in names:
        try:
            count += host.path(name).stat().st_size == size
        except FileNotFoundError:
            pass
    return count


def assert_old_or_new(slave, names, old: dict, new: dict, receiving: bool = False) -> None:
    """Every file on the slave is its old or its new complete version, and nothing else is there.

    ``receiving``: the slave's daemon may still be receiving (its peer vanished without a word),
    so its hidden temp file may still be there; it never carries a file's name.
    """
    current = digests_of(slave, names)
    for name in names:
        assert current[name] in (old[name], new[name]), f"{name} on the slave is neither version (half-written?)"
    folders = {str(Path(name).parent) for name in names}
    for folder in folders:
        left = sorted(path.name for path in slave.path(folder).iterdir()
                      if not (receiving and path.name.startswith(".")))
        assert left == sorted(Path(name).name for name in names if Path(name).parent == Path(folder)), \
            f"stray files on the slave in {folder}: {left}"


def assert_slave_mirrors_master(pair) -> None:
    master, slave = pair.synced_files(pair.master), pair.synced_files(pair.slave)
    assert set(master) == set(slave), f"missing on the slave: {sorted(set(master) - set(slave))}; " \
                                      f"extra on the slave: {sorted(set(slave) - set(master))}"
    different = [name for name in master if master[name] != slave[name]]
    assert not different, f"different on the slave: {different}"


def kill_run(process) -> None:
    """``kill -9`` of the run and every process it started (hotsync, rsync, a dump)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for_slave_daemon_to_settle(pair, folder: str) -> None:
    """The slave's rsync daemon notices the dead connection and removes its temp file."""
    wait_until(lambda: not any(path.name.startswith(".") for path in pair.slave.path(folder).iterdir()), 10, 0.1)


# ----------------------------------------------------------------------------- 2. master killed


def test_a_master_killed_mid_transfer_leaves_whole_files_and_the_next_run_completes(namespace_pair):
    pair = namespace_pair
    rng = random.Random(SEED)
    make_office_data(pair.master)
    names = write_blobs(pair.master, "/srv/big", 24, version=0)
    first = pair.sync()
    assert first.code == 0, first.err
    assert_slave_mirrors_master(pair)

    pair.network.limit_rate(SLOW_LINK_MBIT)
    for version in (1, 2, 3):
        old = digests_of(pair.slave, names)
        write_blobs(pair.master, "/srv/big", 24, version=version)
        new = digests_of(pair.master, names)
        new_size = MIB + version * 4096
        wanted = rng.randint(1, len(names) - 12)  # a random moment, with ~1.2 s of transfer still to go
        run_in_flight = pair.master.start()
        assert wait_until(lambda: arrived(pair.slave, names, new_size) >= wanted, 60), \
            f"round {version}: the transfer never reached file {wanted} (seed {SEED})"
        time.sleep(rng.uniform(0, 0.08))
        kill_run(run_in_flight)
        wait_for_slave_daemon_to_settle(pair, "/srv/big")

        assert_old_or_new(pair.slave, names, old, new)
        done = arrived(pair.slave, names, new_size)
        assert wanted <= done < len(names), f"round {version}: the kill did not land mid-transfer (seed {SEED})"

    pair.network.limit_rate(None)
    after = pair.sync()
    assert after.code == 0, after.err
    assert "sync ok" in after.out
    assert_slave_mirrors_master(pair)


def test_a_master_that_lost_power_twice_mid_transfer_still_syncs_after_booting(namespace_pair):
    """A power cut sends no FIN: the slave's side of the push is left waiting for a peer that forgot it."""
    pair = namespace_pair
    make_office_data(pair.master)
    names = write_blobs(pair.master, "/srv/big", 24, version=0)
    assert pair.sync().code == 0
    for version in (1, 2):
        write_blobs(pair.master, "/srv/big", 24, version=version)
        pair.network.limit_rate(SLOW_LINK_MBIT)
        pair.master.start()
        assert wait_until(lambda: arrived(pair.slave, names, MIB + version * 4096) >= 3, 60)
        pair.power_cycle_master()
        # it boots: its databases and its tunnel start again
        pair.master.databases.ensure_running()
        pair.master.admin("services", "start", "stunnel")

    after = pair.sync()

    assert after.code == 0, after.err
    assert_slave_mirrors_master(pair)


def test_a_continuous_master_that_loses_power_during_a_stream_of_writes_loses_one_second_at_most(namespace_pair):
    """Continuous mode set by the admin (``Mode continuous``, the save event starts hotsync-watch),
    a stream of writes, then the master loses power (every process of it killed at once, its
    link down: no FIN reaches the slave): every file written up to a second before is on the
    slave with its content, and none half-written."""
    pair = namespace_pair
    make_office_data(pair.master, projects=False)
    pair.master.admin("config", "setprop", "hotsync", "Mode", "continuous")
    pair.master.admin("signal-event", "nethserver-hotsync-save")
    assert "running" in pair.master.admin("services", "status", "hotsync-watch").out
    pair.master.write("/srv/office/watch-started.txt", "the watch pushes\n")
    assert wait_until(lambda: pair.slave.path("/srv/office/watch-started.txt").exists(), 60), \
        "the continuous push never brought a file over"

    written = write_stream(pair.master.path("/srv/office/stream"), CRASH_SECONDS)
    killed = time.monotonic()
    pair.power_off_master()
    time.sleep(1.0)  # what the slave's receiver had whole under its final name is there now

    due = check_stream_survived(written, pair.slave.path("/srv/office/stream"), killed)
    assert due > 100


# ----------------------------------------------------------------------------- 3. link cut


@pytest.fixture
def smtp_server(namespace_pair, tmp_path):
    """A real SMTP server (aiosmtpd) on port 25 of the master's own loopback; its mailbox folder."""
    mailbox = tmp_path / "mailbox"
    server = subprocess.Popen(
        ["ip", "netns", "exec", namespace_pair.master.namespace, sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:25",
         "-c", "aiosmtpd.handlers.Mailbox", str(mailbox)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        listening = wait_until(lambda: namespace_pair.master.in_namespace(
            ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/25"], check=False).returncode == 0, 20, 0.2)
        assert listening, f"aiosmtpd did not start: {server.stderr.read1().decode() if server.poll() is not None else ''}"
        yield mailbox
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def received_mails(mailbox: Path) -> list:
    folder = mailbox / "new"
    return [message_from_bytes(path.read_bytes()) for path in sorted(folder.iterdir())] if folder.is_dir() else []


def test_a_cut_link_fails_the_run_in_time_mails_the_admin_frees_the_lock_and_the_next_run_completes(namespace_pair, smtp_server):
    pair = namespace_pair
    pair.master.admin("config", "setprop", "hotsync", "IoTimeout", IO_TIMEOUT, "NotifyTo", "root@localhost")
    pair.master.admin("signal-event", "nethserver-hotsync-save")
    make_office_data(pair.master)
    names = write_blobs(pair.master, "/srv/big", 30, version=0)
    assert pair.sync().code == 0
    old = digests_of(pair.slave, names)
    write_blobs(pair.master, "/srv/big", 30, version=1)
    new = digests_of(pair.master, names)
    pair.master.write("/srv/office/readme.txt", "Office shares, moved to the new NAS\n")

    pair.network.limit_rate(SLOW_LINK_MBIT)
    run_in_flight = pair.master.start()
    assert wait_until(lambda: arrived(pair.slave, names, MIB + 4096) >= 3, 60), "the transfer never started"
    pair.network.set_link(False)
    cut = time.monotonic()
    out, err = run_in_flight.communicate(timeout=IO_TIMEOUT + 60)
    ended = time.monotonic() - cut

    assert run_in_flight.returncode == 1, out + err
    assert ended < IO_TIMEOUT + 20, f"the run went on {ended:.0f} s after the link was cut"
    assert f"the transfer stalled for more than {IO_TIMEOUT} s and was stopped" in err
    assert wait_until(lambda: len(received_mails(smtp_server)) == 1, 10), "no failure mail reached the SMTP server"
    (mail,) = received_mails(smtp_server)
    assert mail["To"] == "root@localhost"
    assert pair.slave.address in mail["Subject"]
    assert f"stalled for more than {IO_TIMEOUT} s" in mail.get_payload(decode=True).decode()
    with hold_sync_lock(Root(pair.master.root)) as held:
        assert held, "the failed run kept the sync lock"
    assert_old_or_new(pair.slave, names, old, new, receiving=True)

    pair.network.set_link(True)
    pair.network.limit_rate(None)
    wait_for_slave_daemon_to_settle(pair, "/srv/big")
    after = pair.sync()
    assert after.code == 0, after.err
    assert_slave_mirrors_master(pair)
    assert len(received_mails(smtp_server)) == 1, "a successful run mails nobody"


# ----------------------------------------------------------------------------- 4. ten at once


def test_ten_runs_started_at_once_one_syncs_and_the_others_exit_0_quietly(namespace_pair):
    pair = namespace_pair
    make_office_data(pair.master)
    write_blobs(pair.master, "/srv/big", 30, version=0)
    # The one run lasts about 6 s: all ten overlap it, even on a busy machine where ten
    # interpreters take seconds to start.
    pair.network.limit_rate(SLOW_LINK_MBIT // 2)

    runs = [pair.master.start() for _ in range(10)]
    outcomes = []
    for process in runs:
        out, err = process.communicate(timeout=120)
        outcomes.append((process.returncode, out, err))

    syncing = [outcome for outcome in outcomes if outcome[1] or outcome[2]]
    assert len(syncing) == 1, f"{len(syncing)} runs did something: {syncing}"
    assert syncing[0][0] == 0 and "sync ok" in syncing[0][1], syncing[0]
    assert [outcome for outcome in outcomes if outcome not in syncing] == [(0, "", "")] * 9
    log = pair.master.path("/var/log/hotsync.log").read_text().splitlines()
    assert len(log) == 1, log
    pair.network.limit_rate(None)
    assert_slave_mirrors_master(pair)


# ----------------------------------------------------------------------------- 5. wrong secret


def test_a_wrong_shared_secret_on_the_slave_is_refused_and_nothing_is_written_there(namespace_pair):
    pair = namespace_pair
    make_office_data(pair.master)
    assert pair.sync().code == 0
    pair.slave.admin("config", "setprop", "rsyncd", "password", WRONG_PASSWORD)
    pair.slave.admin("signal-event", "nethserver-hotsync-save")
    pair.master.write("/srv/office/readme.txt", "changed after the secret changed\n")
    pair.master.write("/srv/office/new-contract.pdf", os.urandom(10000))
    before = pair.digest(pair.slave, **UNTOUCHED)

    refused = pair.sync()

    assert refused.code == 1
    assert "rsync failed" in refused.err, refused.err
    assert pair.digest(pair.slave, **UNTOUCHED) == before, "the slave changed although the secrets differ"
    status = pair.master.run("status", "--json")
    for text in (refused.out, refused.err, status.out, pair.master.path("/var/log/hotsync.log").read_text()):
        assert PASSWORD not in text and WRONG_PASSWORD not in text

    pair.slave.admin("config", "setprop", "rsyncd", "password", PASSWORD)
    pair.slave.admin("signal-event", "nethserver-hotsync-save")
    assert pair.sync().code == 0
    assert_slave_mirrors_master(pair)


# ----------------------------------------------------------------------------- 6. delete guard


@contextmanager
def mounted_tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", folder])
    try:
        yield folder
    finally:
        run(["umount", "-l", folder], check=False)


def test_an_emptied_and_an_unmounted_include_keep_their_copies_on_the_slave(namespace_pair):
    pair = namespace_pair
    make_office_data(pair.master, projects=False)
    with mounted_tmpfs(pair.master.path("/srv/projects"), "16m"):  # the project disk
        make_project_data(pair.master)
        first = pair.sync()
        assert first.code == 0, first.err
        assert_slave_mirrors_master(pair)
    # the project disk is unmounted: the mount point is an empty folder now
    kept = {name: digest for name, digest in pair.synced_files(pair.slave).items()
            if name.startswith(("/srv/office", "/srv/projects"))}
    for entry in pair.master.path("/srv/office").iterdir():
        run(["rm", "-rf", entry])
    pair.master.write("/srv/mail/alice/Maildir/cur/1800000000.M1P1.mail:2,", "Subject: arrived during the outage\n")

    guarded = pair.sync()

    assert guarded.code == 1
    assert "/srv/office is empty on the master" in guarded.err
    assert "/srv/projects is empty on the master" in guarded.err
    assert "--force-delete" in guarded.err
    now = {name: digest for name, digest in pair.synced_files(pair.slave).items()
           if name.startswith(("/srv/office", "/srv/projects"))}
    assert now == kept, "the slave lost its copy of an emptied or unmounted folder"
    assert pair.slave.path("/srv/mail/alice/Maildir/cur/1800000000.M1P1.mail:2,").read_text() == \
        "Subject: arrived during the outage\n", "the rest still syncs"
    again = pair.sync()
    assert again.code == 1, "the guard stays armed"
    assert {name: digest for name, digest in pair.synced_files(pair.slave).items()
            if name.startswith(("/srv/office", "/srv/projects"))} == kept


# ----------------------------------------------------------------------------- 7. slave disk full


def test_a_full_disk_on_the_slave_fails_clearly_keeps_its_data_and_the_next_run_completes(namespace_pair):
    pair = namespace_pair
    make_office_data(pair.master)
    names = write_blobs(pair.master, "/srv/big", 4, version=0)
    with mounted_tmpfs(pair.slave.path("/srv/big"), "6m") as disk:
        # the admin added a disk for /srv/big: the daemon is restarted to serve it
        pair.slave.admin("services", "restart", "rsyncd")
        first = pair.sync()
        assert first.code == 0, first.err
        assert_slave_mirrors_master(pair)
        old = digests_of(pair.slave, names)
        write_blobs(pair.master, "/srv/big", 4, version=1)
        new = digests_of(pair.master, names)
        pair.master.write("/srv/big/video.mp4", os.urandom(4 * MIB))
        pair.master.write("/srv/office/readme.txt", "Office shares (updated)\n")

        full = pair.sync()

        assert full.code == 1
        assert "No space left on device" in full.err, full.err
        assert not pair.slave.path("/srv/big/video.mp4").exists(), "a video that cannot fit is on the slave"
        assert_old_or_new(pair.slave, names, old, new)

        run(["mount", "-o", "remount,size=64m", disk])  # space freed
        after = pair.sync()
        assert after.code == 0, after.err
        assert_slave_mirrors_master(pair)


# ----------------------------------------------------------------------------- 1. the full life


def change_office_life(pair) -> None:
    """A day at the office: files added, modified and deleted; rows inserted, updated and deleted."""
    master = pair.master
    master.write("/srv/office/reports/2024/report-03.txt", "report 3, corrected\n")
    os.chmod(master.path("/srv/office/reports/2024/report-04.txt"), 0o640)
    master.path("/srv/office/reports/2024/report-05.txt").unlink()
    master.write("/srv/office/reports/2025/report-00.txt", "a new year\n")
    master.path("/srv/mail/alice/Maildir/cur/1700000001.M1P1.mail:2,S").unlink()
    master.write("/srv/mail/alice/Maildir/new/1800000000.M9P1.mail", "Subject: hello again\n\nnew mail\n")
    master.write("/srv/projects/drawings/floor.dxf", os.urandom(80 * 1024))
    mariadb, postgresql = master.databases.mariadb, master.databases.postgresql
    mariadb.query("INSERT INTO customers VALUES (501, 'Verdi', 12.50), (502, 'Neri', 0.00);"
                  "UPDATE customers SET balance = balance + 100 WHERE id <= 10;"
                  "DELETE FROM customers WHERE id BETWEEN 100 AND 149;"
                  "DELETE FROM orders WHERE id = 2;"
                  "CREATE TABLE invoices (id INT PRIMARY KEY, total DECIMAL(10,2));"
                  "INSERT INTO invoices VALUES (1, 99.90), (2, 12.00);", pair.mysql_database)
    postgresql.query("INSERT INTO notes VALUES (301, 'after the first sync');"
                     "UPDATE notes SET body = body || ' (edited)' WHERE id % 10 = 0;"
                     "DELETE FROM notes WHERE id BETWEEN 200 AND 219;", pair.postgresql_database)


def sync_office_and_power_off_the_master(pair) -> tuple:
    """Sync, change, sync again, then the master dies. Returns what the master had at its last sync."""
    make_office_data(pair.master)
    first = pair.sync()
    assert first.code == 0, first.err
    assert_slave_mirrors_master(pair)
    change_office_life(pair)
    second = pair.sync()
    assert second.code == 0, second.err
    assert_slave_mirrors_master(pair)
    files, rows = pair.synced_files(pair.master), pair.database_contents(pair.master)
    assert len(rows["mysql customers"]) == 500 + 2 - 50 and len(rows["postgresql notes"]) == 300 + 1 - 20
    pair.power_off_master()
    return files, rows


def promote_the_slave(pair):
    promoted = pair.slave.run("--yes", "--network", "continue", program="hotsync-promote")
    assert promoted.code == 0, f"hotsync-promote failed: {promoted.err}{promoted.out}"
    assert "Promotion complete" in promoted.out
    return promoted


DEMO_FOLDERS = (SHARED_FOLDER, MAIL_STORE)
DEMO_RULE = "rule demo-data {\n    include " + " ".join(f"{folder}/" for folder in DEMO_FOLDERS) + "\n}\n"


def give_both_hosts_a_network(pair) -> None:
    """Each host's networks database names the same card, with its own address."""
    for host in (pair.master, pair.slave):
        host.write("/var/lib/nethserver/db/networks", f"eth0=ethernet|ipaddr|{host.address}|role|green\n")


def add_the_demo_data_set(pair) -> int:
    """The demo's office files on the master, synced by a rule of their own; how many bytes."""
    write_office_files(pair.master)
    pair.master.write("/etc/hotsync/rules.d/91-demo-data.hs", DEMO_RULE)
    pair.master.admin("signal-event", "nethserver-hotsync-save")
    return sum(path.stat().st_size for folder in DEMO_FOLDERS for path in pair.master.path(folder).rglob("*")
               if path.is_file())


def files_under(host, folders) -> dict:
    return {str(path.relative_to(host.root)): file_digest(path)
            for folder in folders for path in sorted(host.path(folder).rglob("*")) if path.is_file()}


def loaded_dumps(files: dict) -> dict:
    """The dumps promotion loads (the rules' restores), as they were synced."""
    return {name: entry for name, entry in files.items()
            if name.startswith((MYSQL_DUMP_FOLDER, POSTGRESQL_DUMP_FOLDER))}


def report_rto(pair, promoted, seconds: float, files: int, size: int) -> None:
    """The promotion's time and what it is made of (shown with pytest -s)."""
    state = json.loads(pair.slave.path(STATE_PATH).read_text())
    announced = promoted.out.splitlines()  # one "[n/N] title: what it did" line per step, in order
    steps = sorted(((entry["title"], entry["seconds"]) for entry in state["done"].values()),
                   key=lambda step: next(number for number, line in enumerate(announced) if f"] {step[0]}: " in line))
    lines = [f"RTO on the two-host suite: hotsync-promote took {seconds:.2f} s for {files} files "
             f"({size / MIB:.1f} MiB) and two databases (restore-config a recording stand-in)"]
    lines += [f"    {title}: {step_seconds:.2f} s" for title, step_seconds in steps]
    print("\n" + "\n".join(lines))


def needs_the_internet_the_dead_master_took_away(slave) -> None:
    """An optional promotion step that fails without the internet (the shipped antivirus
    refresh: the dead master was the gateway), with a freshclam stand-in that cannot connect."""
    slave.write("/usr/bin/freshclam", "#!/bin/sh\necho 'ERROR: Can not connect to database.clamav.net' >&2\nexit 62\n",
                mode=0o755)
    slave.write("/etc/hotsync/rules.d/92-needs-internet.hs",
                "rule needs-internet {\n    promote optional run /usr/bin/freshclam\n}\n")
    slave.admin("signal-event", "nethserver-hotsync-save")


def test_the_full_life_sync_change_sync_master_dies_the_promoted_slave_has_every_file_and_row(namespace_pair):
    pair = namespace_pair
    give_both_hosts_a_network(pair)
    demo_size = add_the_demo_data_set(pair)
    files, rows = sync_office_and_power_off_the_master(pair)
    demo_files = files_under(pair.master, DEMO_FOLDERS)
    assert files_under(pair.slave, DEMO_FOLDERS) == demo_files
    install_recording_restore_config(pair.slave.root)
    needs_the_internet_the_dead_master_took_away(pair.slave)

    began = time.monotonic()
    promoted = promote_the_slave(pair)
    seconds = time.monotonic() - began

    report_rto(pair, promoted, seconds, len(files) + len(demo_files), demo_size)
    assert "(RPO)" in promoted.out and "(RTO)" in promoted.out
    # NethServer's restore ran once, after the dumps were loaded, with the master's network
    # (same card names): packages were HotSync's step already.
    assert recorded_calls(pair.slave.root) == ["restore-config --no-reinstall"]
    assert "NethServer's restore-config restored the master's configuration backup" in promoted.out
    assert pair.slave.path("/var/lib/nethserver/db/networks").read_text() == \
        f"eth0=ethernet|ipaddr|{pair.master.address}|role|green\n"
    assert "this host now has the master's network configuration" in promoted.out
    # Every file and row; the dumps promotion loaded are set aside, so post-restore-data cannot load them again.
    dumps = loaded_dumps(files)
    assert dumps and pair.synced_files(pair.slave) == {name: entry for name, entry in files.items() if name not in dumps}
    for name, entry in dumps.items():
        if entry[0] == "file":
            assert file_digest(pair.slave.path(LOADED_DUMPS_FOLDER + name)) == entry[2]
    assert files_under(pair.slave, DEMO_FOLDERS) == demo_files
    assert pair.database_contents(pair.slave) == rows, "the promoted slave's databases differ from the master's"
    status = pair.slave.admin("status", "--json")
    assert '"role": "master"' in status.out
    assert pair.slave.run("status").out.count("role: master") == 1
    assert pair.slave.admin("config", "getprop", "rsyncd", "password").out.strip() == PASSWORD
    # The optional step that failed without the internet was reported, and promotion went on.
    assert "needs-internet: run /usr/bin/freshclam: FAILED (optional, promotion goes on)" in promoted.out
    summary = promoted.out[promoted.out.index("Promotion complete"):]
    assert "warning: needs-internet: run /usr/bin/freshclam: failed" in summary and "exit 62" in summary


# ----------------------------------------------------------------------------- 8. the old master returns


def test_the_old_master_coming_back_after_the_promotion_is_refused_and_changes_nothing(namespace_pair):
    pair = namespace_pair
    sync_office_and_power_off_the_master(pair)
    promote_the_slave(pair)
    # work goes on at the new master
    pair.slave.write("/srv/office/readme.txt", "Office shares, served by the promoted host\n")
    pair.slave.databases.mariadb.query("INSERT INTO orders VALUES (10, 3, 'printer')", pair.mysql_database)
    before = pair.digest(pair.slave, **UNTOUCHED), pair.database_contents(pair.slave)

    # the old master is repaired and boots: its link, its databases and its tunnel come back
    pair.network.set_link(True)
    pair.master.databases.ensure_running()
    pair.master.admin("services", "start", "stunnel")
    pair.master.write("/srv/office/readme.txt", "the old master's stale copy\n")
    pushed = pair.sync()

    assert pushed.code == 1
    assert "HotSync refused this push" in pushed.err, pushed.err
    assert "configure it as a slave" in pushed.err, pushed.err
    assert (pair.digest(pair.slave, **UNTOUCHED), pair.database_contents(pair.slave)) == before


def test_a_promotion_stopped_at_a_step_stays_closed_through_an_event_and_refuses_the_old_master(namespace_pair):
    pair = namespace_pair
    make_office_data(pair.master)
    synced = pair.sync()
    assert synced.code == 0, synced.err
    rows = pair.database_contents(pair.master)
    # The slave's own MariaDB is down: its promotion stops at the restore step.
    pair.slave.databases.mariadb.stop()
    stopped = pair.slave.run("--yes", "--network", "continue", program="hotsync-promote")
    assert stopped.code == 1, stopped.err + stopped.out
    assert "promotion stopped at step" in stopped.err and "restore mysql" in stopped.err, stopped.err
    before = pair.digest(pair.slave, **UNTOUCHED)

    # Any event (an admin's save, a package update), then the master's next scheduled push.
    pair.slave.admin("signal-event", "nethserver-hotsync-save")
    pair.master.write("/srv/office/readme.txt", "changed on the master after the promotion began\n")
    pushed = pair.sync()

    assert pushed.code == 1
    assert "HotSync refused this push: the receiving host is being promoted to master" in pushed.err, pushed.err
    assert pair.digest(pair.slave, **UNTOUCHED) == before, "the slave changed after its promotion had started"

    # Once its database server is back, the promotion resumes, checking first that it is still closed.
    pair.slave.databases.mariadb.ensure_running()
    resumed = promote_the_slave(pair)
    assert "stop receiving data: rsync daemon stopped" in resumed.out
    assert pair.database_contents(pair.slave) == rows
    assert pair.slave.path("/srv/office/readme.txt").read_text() == "Office shares\n"


# ----------------------------------------------------------------------------- found on the way


def test_a_restore_uses_the_connection_of_its_own_rule(make_host):
    """The shipped nethserver-mysql rule dumps into the same folder with the default connection:
    a site rule's restore must still load into the server its own rule names."""
    from hotsync.plan import load_plan

    root = make_host("slave", "slave").root
    rules = root / "etc/hotsync/rules.d/90-shop.hs"
    rules.write_text("rule shop {\n    when databases {\n"
                     "        dump mysql shop into /var/lib/nethserver/backup/mysql/ socket=/srv/db/mysql.sock user=root\n"
                     "        promote restore mysql shop\n    }\n}\n")
    admin(root, "compile", "--quiet")

    restores = [step for rule in load_plan(Root(root)).rules if rule.name == "shop"
                for step in rule.promote if step.kind == "restore"]

    assert [(step.dump_targets, step.connection) for step in restores] == [
        (("/var/lib/nethserver/backup/mysql/shop.dump",), {"socket": "/srv/db/mysql.sock", "user": "root"})]


# ----------------------------------------------------------------------------- 11. ransomware on the master


def points_on(slave, count: int) -> list:
    """The slave's restore points once it has ``count`` (its daemon seals each just after the push)."""
    points: list = []

    def enough() -> bool:
        nonlocal points
        points = json.loads(slave.run("restore-points", "--json").out or "[]")
        return len(points) >= count

    assert wait_until(enough, 15, 0.1), f"the slave has {len(points)} restore point(s), not {count}"
    return points


def encrypt_the_shares(host) -> int:
    """What ransomware does: every file of the office share overwritten with random bytes and
    renamed ``*.locked``, and a note in each folder."""
    count = 0
    for path in sorted(host.path("/srv/office").rglob("*")):
        if path.is_file() and not path.is_symlink():
            scrambled = os.urandom(max(path.stat().st_size, 2048))
            path.unlink()
            path.with_name(path.name + ".locked").write_bytes(scrambled)
            count += 1
    for folder in ("/srv/office", "/srv/office/reports/2024"):
        host.write(f"{folder}/HOW_TO_DECRYPT_FILES.txt", "send bitcoin\n")
    return count


def test_ransomware_on_the_master_is_paused_and_undone_by_restore_points_and_promotion_at_a_point(namespace_pair, tmp_path):
    pair = namespace_pair
    make_office_data(pair.master)
    assert pair.sync().code == 0
    first, = points_on(pair.slave, 1)
    before, rows = pair.synced_files(pair.slave), pair.database_contents(pair.master)
    backup_before = file_digest(pair.slave.path(ARCHIVE_PATH))

    # The master is hit: its shares encrypted, while its databases and configuration go on changing.
    time.sleep(1.1)  # the next point has a time of its own
    encrypted = encrypt_the_shares(pair.master)
    pair.master.databases.mariadb.query("INSERT INTO orders VALUES (99, 9, 'ransom')", pair.mysql_database)
    pair.master.admin("config", "setprop", "hotsync", "NotifyTo", "ransomed@example.com")
    paused = pair.sync()
    assert paused.code == 3, paused.err
    assert "paused: suspected mass change" in paused.err and "ransom notes" in paused.err
    assert pair.synced_files(pair.slave) == before, "not one byte reached the slave"

    forced = pair.sync("--force")
    assert forced.code == 0, forced.err
    second = points_on(pair.slave, 2)[-1]
    assert len(list(pair.slave.path("/srv/office").rglob("*.locked"))) == encrypted
    assert second["added"] >= encrypted and second["removed"] >= encrypted

    # Without the master: one folder back beside the damage, then everything, then a promotion to the point.
    copy = pair.slave.run("restore", "/srv/office", "--at", first["time"], "--to", str(tmp_path / "restored"))
    assert copy.code == 0, copy.err
    office = {name: entry for name, entry in before.items() if name.startswith("/srv/office/") and entry[0] == "file"}
    assert {name: file_digest(tmp_path / "restored" / name[len("/srv/"):]) for name in office} == \
        {name: entry[2] for name, entry in office.items()}
    install_recording_restore_config(pair.slave.root)
    pair.power_off_master()
    preview = pair.slave.run("--at", first["time"], "--dry-run", program="hotsync-promote")
    assert "Would go back to the restore point of " + first["time"] in preview.out, preview.out + preview.err
    assert len(list(pair.slave.path("/srv/office").rglob("*.locked"))) == encrypted, "a dry run changes nothing"

    promoted = pair.slave.run("--yes", "--network", "continue", "--at", first["time"], program="hotsync-promote")
    assert promoted.code == 0, promoted.out + promoted.err
    assert f"go back to the restore point at {first['time']}: went back" in promoted.out
    assert not list(pair.slave.path("/srv/office").rglob("*.locked"))
    assert not list(pair.slave.path("/srv/office").rglob("HOW_TO_DECRYPT*"))
    dumps = loaded_dumps(before)
    now = pair.synced_files(pair.slave)
    assert {name: entry for name, entry in now.items() if name not in dumps} == \
        {name: entry for name, entry in before.items() if name not in dumps}, "the old files"
    for name, entry in dumps.items():
        if entry[0] == "file":
            assert file_digest(pair.slave.path(LOADED_DUMPS_FOLDER + name)) == entry[2], "the old dumps"
    assert pair.database_contents(pair.slave) == rows, "the databases as they were at the point"
    assert file_digest(pair.slave.path(ARCHIVE_PATH)) == backup_before, "the old configuration backup"
    assert recorded_calls(pair.slave.root) == ["restore-config --no-reinstall"]
