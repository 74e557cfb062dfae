"""Traces of a run and ``hotsync status``: schedules, ages, roles, the lock, the backup."""

import hashlib
import json
import subprocess
import sys
import tarfile
from datetime import datetime

import pytest
from support.runner import run_hotsync

from hotsync.commands.status import describe_age
from hotsync.frozen import replace
from hotsync.plan import Plan, save_plan
from hotsync.root import Root
from hotsync.runtime.backup import make_config_backup
from hotsync.runtime.conditions import InstalledPackages
from hotsync.runtime.lock import hold_sync_lock
from hotsync.runtime.schedule import next_run
from hotsync.runtime.status import append_log, read_marker, stamp_marker, stamp_marker_command, write_status


def plan_for(role: str, **changes) -> Plan:
    plan = Plan(version=1, source_hash="", role=role, enabled=True, databases_enabled=True,
                slave_host="10.0.0.2" if role == "master" else "", master_host="10.0.0.1" if role == "slave" else "",
                schedules={"sync": "5,20,35,50 * * * *"} if role == "master" else {"upkeep": "0 1 * * *"})
    return replace(plan, **changes)


@pytest.mark.parametrize("expression, after, expected", [
    ("5,20,35,50 * * * *", "2026-03-01 10:20:30", "2026-03-01 10:35"),
    ("5,20,35,50 * * * *", "2026-03-01 23:55:00", "2026-03-02 00:05"),
    ("0 1 * * *", "2026-03-01 01:00:00", "2026-03-02 01:00"),
    ("*/15 * * * *", "2026-03-01 10:14:59", "2026-03-01 10:15"),
    ("0 3 * * 0", "2026-03-02 00:00:00", "2026-03-08 03:00"),  # next Sunday
    ("0 0 29 2 *", "2026-03-01 00:00:00", "2028-02-29 00:00"),
    ("0 0 1 * 1-5", "2026-03-01 12:00:00", "2026-03-02 00:00"),  # day 1 OR a weekday, as cron does
])
def test_next_run_of_a_cron_schedule(expression, after, expected):
    moment = datetime.strptime(after, "%Y-%m-%d %H:%M:%S")
    assert next_run(expression, moment) == datetime.strptime(expected, "%Y-%m-%d %H:%M")


def test_an_unreadable_schedule_has_no_next_run():
    assert next_run("61 * * * *", datetime(2026, 1, 1)) is None
    assert next_run("* * *", datetime(2026, 1, 1)) is None


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (600, "10 min"), (3900, "1 h 5 min"), (200000, "2 d 7 h")])
def test_ages_read_naturally(seconds, text):
    assert describe_age(seconds) == text


def test_status_on_a_master_that_never_synced(sandbox, hotsync):
    save_plan(Root(sandbox), plan_for("master"))
    outcome = hotsync("--root", sandbox, "status")
    assert outcome.code == 0
    assert outcome.out.splitlines()[:5] == [
        "role: master", "peer: slave 10.0.0.2", "databases synchronized: yes", "last success: never", "last run: never",
    ]
    assert outcome.out.splitlines()[5].startswith("next sync: ")


def test_status_on_a_master_after_a_failure_shows_the_last_success_and_the_error(sandbox, hotsync):
    root = Root(sandbox)
    save_plan(root, plan_for("master"))
    write_status(root, {"finished": "2026-01-01T10:00:00+0000", "result": "failed", "errors": ["rsync failed (exit 5)"],
                        "last_success": "2026-01-01T09:00:00+0000", "last_success_epoch": 1767258000})
    report = json.loads(hotsync("--root", sandbox, "status", "--json").out)
    assert report["last_result"] == "failed"
    assert report["last_errors"] == ["rsync failed (exit 5)"]
    assert report["last_success_epoch"] == 1767258000 and report["age_seconds"] > 0
    text = hotsync("--root", sandbox, "status").out
    assert "  error: rsync failed (exit 5)" in text and "last success: 2026-01-01T09:00:00+0000 (" in text


def test_status_on_a_slave_whose_last_push_failed_keeps_the_age_of_the_last_complete_copy(sandbox, hotsync):
    root = Root(sandbox)
    save_plan(root, plan_for("slave"))
    stamp_marker(root, "10.0.0.1", 0, 1_767_258_000)
    stamp_marker(root, "10.0.0.1", 12, 1_767_261_600)
    report = json.loads(hotsync("--root", sandbox, "status", "--json").out)
    assert report["last_result"] == "failed"
    assert report["last_errors"] == ["the last push from the master did not complete (rsync exit 12)"]
    assert report["last_success_epoch"] == 1_767_258_000


def test_status_on_a_disabled_host_schedules_nothing(sandbox, hotsync):
    save_plan(Root(sandbox), plan_for("slave", enabled=False))
    report = json.loads(hotsync("--root", sandbox, "status", "--json").out)
    assert report["role"] == "slave" and report["enabled"] is False and report["next_runs"] == {}
    assert hotsync("--root", sandbox, "status").out.startswith("role: slave (disabled)\npeer: master 10.0.0.1\n")


def test_status_says_how_the_tunnel_authenticates(sandbox, hotsync):
    plan = plan_for("slave")
    save_plan(Root(sandbox), replace(plan, transport=replace(
        plan.transport, auth="certificate", auth_chosen_by="stunnel 4.56 is older than 5.09: no pre-shared keys")))
    text = hotsync("--root", sandbox, "status").out
    assert "tunnel: certificate (stunnel 4.56 is older than 5.09: no pre-shared keys)" in text.splitlines()
    assert json.loads(hotsync("--root", sandbox, "status", "--json").out)["tunnel"]["auth"] == "certificate"


def test_status_without_a_plan(sandbox, hotsync):
    outcome = hotsync("--root", sandbox, "status")
    assert outcome.code == 0
    assert outcome.out.startswith("role: none\nno compiled plan")


def test_the_lock_is_exclusive_and_released_when_the_holder_ends(sandbox):
    root = Root(sandbox)
    with hold_sync_lock(root) as first:
        assert first
        with hold_sync_lock(root) as second:
            assert not second
    with hold_sync_lock(root) as again:
        assert again


def test_a_killed_holder_leaves_no_stale_lock(sandbox):
    # a real process takes the lock and dies without cleaning up
    lock = str(sandbox / "var/lock/hotsync.lock")
    script = f"import os, fcntl; fd = os.open({lock!r}, os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); os._exit(9)"
    (sandbox / "var/lock").mkdir(parents=True)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    with hold_sync_lock(Root(sandbox)) as held:
        assert held


def test_log_lines_are_appended(sandbox):
    append_log(Root(sandbox), "sync ok")
    append_log(Root(sandbox), "sync failed")
    lines = (sandbox / "var/log/hotsync.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["sync ok", "sync failed"]
    # the same mode as the events log: logs quote paths and programs' errors, only root reads them
    assert (sandbox / "var/log/hotsync.log").stat().st_mode & 0o777 == 0o600


def test_the_equivalent_configuration_backup_holds_the_databases_and_the_package_list(sandbox):
    root = Root(sandbox)
    (sandbox / "var/lib/nethserver/db").mkdir(parents=True)
    (sandbox / "var/lib/nethserver/db/configuration").write_text("hotsync=configuration|role|master\n")
    (sandbox / "var/lib/nethserver/db/networks").write_text("green=ethernet\n")
    (sandbox / "var/lib/nethserver/db/configuration.lock").write_text("")
    (sandbox / "var/lib/hotsync").mkdir(parents=True)
    (sandbox / "var/lib/hotsync/sandbox-packages").write_text("nethserver-mysql 1.0\nnethserver-base 7\n")

    assert "written" in make_config_backup(root, InstalledPackages(root))

    backup = sandbox / "var/lib/nethserver/backup"
    assert (backup / "package-list").read_text() == "nethserver-base\nnethserver-mysql\n"
    with tarfile.open(backup / "backup-config.tar.xz") as archive:
        assert archive.getnames() == ["var/lib/nethserver/db/configuration", "var/lib/nethserver/db/networks",
                                      "var/lib/nethserver/backup/package-list"]
    digest = hashlib.md5((backup / "backup-config.tar.xz").read_bytes()).hexdigest()
    assert (backup / "backup-config.tar.xz.md5").read_text() == f"{digest}  backup-config.tar.xz\n"
    assert "var/lib/nethserver/db/networks" in (backup / "backup-config.tar.xz-content.md5").read_text()
    assert (backup / "backup-config.tar.xz").stat().st_mode & 0o777 == 0o600

    before = (backup / "backup-config.tar.xz").stat().st_mtime_ns
    assert make_config_backup(root, InstalledPackages(root)) == "configuration backup unchanged"
    assert (backup / "backup-config.tar.xz").stat().st_mtime_ns == before
    (sandbox / "var/lib/nethserver/db/networks").write_text("green=bridge\n")
    assert "written" in make_config_backup(root, InstalledPackages(root))


def test_status_as_a_real_process_never_shows_a_secret(sandbox):
    root = Root(sandbox)
    save_plan(root, plan_for("master"))
    (sandbox / "etc/hotsync").mkdir(parents=True)
    (sandbox / "etc/hotsync/rsync.password").write_text("very-secret-password\n")
    outcome = run_hotsync("--root", sandbox, "status", "--json")
    assert outcome.code == 0
    assert "very-secret-password" not in outcome.out


def test_the_slave_stamps_its_marker_after_each_push_keeping_the_last_success(sandbox):
    root = Root(sandbox)
    first = stamp_marker(root, "192.168.1.1", 0, 1_700_000_000)
    assert (first["result"], first["last_success_epoch"], first["error"]) == ("ok", 1_700_000_000, "")
    failed = stamp_marker(root, "192.168.1.1", 12, 1_700_000_300)
    assert failed["result"] == "failed" and failed["finished_epoch"] == 1_700_000_300
    assert failed["last_success_epoch"] == 1_700_000_000
    assert failed["error"] == "the last push from the master did not complete (rsync exit 12)"
    vanished = stamp_marker(root, "192.168.1.1", 24, 1_700_000_600)
    assert vanished["result"] == "ok" and vanished["last_success_epoch"] == 1_700_000_600
    assert read_marker(root) == vanished


def test_stamp_marker_is_what_the_slave_daemon_runs_and_never_fails(sandbox):
    root = Root(sandbox)
    assert stamp_marker_command(root, {"RSYNC_EXIT_STATUS": "0"}) == 0
    marker = read_marker(root)
    assert marker["result"] == "ok" and marker["master_host"] == ""  # no plan on this host
    assert stamp_marker_command(root, {}) == 0
    assert read_marker(root)["rsync_exit"] == -1 and read_marker(root)["last_success_epoch"] == marker["last_success_epoch"]
    assert oct(root.path("/var/lib/nethserver/hotsync/slave-marker.json").stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("refused_exit", ["1", "4"])
def test_a_request_the_slave_daemon_refused_leaves_the_marker_as_it_was(sandbox, refused_exit):
    """rsync's post-xfer exec learns only the exit: 1 is a download or a listing refused by the
    write-only module, 4 a refused option or a push refused by the fence. Neither is a push."""
    root = Root(sandbox)
    stamp_marker(root, "192.168.1.1", 0, 1_700_000_000)
    before = root.path("/var/lib/nethserver/hotsync/slave-marker.json").read_bytes()

    assert stamp_marker_command(root, {"RSYNC_EXIT_STATUS": refused_exit}) == 0

    assert root.path("/var/lib/nethserver/hotsync/slave-marker.json").read_bytes() == before


@pytest.mark.parametrize("odd_exit", ["²", "٣", "99999999999999999999", ""])
def test_an_exit_status_that_is_no_ascii_number_stamps_a_failed_push_not_a_traceback(sandbox, odd_exit):
    root = Root(sandbox)
    stamp_marker(root, "192.168.1.1", 0, 1_700_000_000)

    assert stamp_marker_command(root, {"RSYNC_EXIT_STATUS": odd_exit}) == 0

    marker = json.loads(root.path("/var/lib/nethserver/hotsync/slave-marker.json").read_text())
    assert marker["last_success_epoch"] == 1_700_000_000
