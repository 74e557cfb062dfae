"""The admin's story of a master push: real stunnel (PSK), real rsync daemon, two sandbox roots."""

import grp
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from support.passwords import PASSWORD, WRONG_PASSWORD
from support.trees import UNTOUCHED

from hotsync.runtime.lock import hold_sync_lock

pytestmark = pytest.mark.e2e

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_gid


def make_office_tree(pair):
    data = pair.on_master("/srv/office")
    (data / "reports").mkdir(parents=True)
    (data / "reports" / "q1.txt").write_text("first quarter\n")
    (data / "reports" / "q2.txt").write_text("second quarter\n")
    (data / "private.txt").write_text("only the owner\n")
    os.chmod(data / "private.txt", 0o600)
    os.chown(data / "private.txt", NOBODY, NOGROUP)
    os.link(data / "reports" / "q1.txt", data / "q1-link.txt")
    os.symlink("reports/q2.txt", data / "latest.txt")
    subprocess.run(["setfacl", "-m", "u:nobody:rw", str(data / "reports" / "q2.txt")], check=True)
    pair.include_on_master("/srv/office")
    return data


def acl_of(path) -> str:
    return subprocess.run(["getfacl", "-cp", str(path)], capture_output=True, text=True, check=True).stdout


def test_first_and_incremental_sync_mirror_content_modes_owners_links_acls_and_deletions(host_pair, hotsync):
    pair = host_pair
    make_office_tree(pair)

    first = pair.sync(in_process=True)
    assert first.code == 0, first.err
    assert first.err == ""
    pair.wait_for_new_marker(None)
    first_marker = pair.marker_version()
    copy = pair.on_slave("/srv/office")
    assert (copy / "reports" / "q1.txt").read_text() == "first quarter\n"
    private = os.stat(copy / "private.txt")
    assert (private.st_mode & 0o777, private.st_uid, private.st_gid) == (0o600, NOBODY, NOGROUP)
    assert os.stat(copy / "q1-link.txt").st_ino == os.stat(copy / "reports" / "q1.txt").st_ino
    assert os.readlink(copy / "latest.txt") == "reports/q2.txt"
    assert "user:nobody:rw-" in acl_of(copy / "reports" / "q2.txt")
    # the configuration backup travelled with the data, with both checksum files
    for name in ("backup-config.tar.xz", "backup-config.tar.xz.md5", "backup-config.tar.xz-content.md5"):
        assert pair.on_slave(f"/var/lib/nethserver/backup/{name}").is_file(), name

    data = pair.on_master("/srv/office")
    (data / "reports" / "q2.txt").write_text("second quarter, revised\n")
    os.chmod(data / "reports" / "q1.txt", 0o640)
    (data / "private.txt").unlink()
    (data / "new.txt").write_text("new\n")

    second = pair.sync("sync", in_process=True)
    assert second.code == 0, second.err
    assert (copy / "reports" / "q2.txt").read_text() == "second quarter, revised\n"
    assert os.stat(copy / "reports" / "q1.txt").st_mode & 0o777 == 0o640
    assert not (copy / "private.txt").exists()
    assert (copy / "new.txt").read_text() == "new\n"

    status = json.loads(pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text())
    assert status["result"] == "ok"
    assert status["files_deleted"] == 1
    assert status["files_transferred"] >= 2
    assert int(pair.on_master("/var/run/nethserver-hotsync/LastSyncTS").read_text()) == status["finished_epoch"]
    marker = pair.wait_for_new_marker(first_marker)
    assert marker["result"] == "ok" and marker["rsync_exit"] == 0 and marker["master_host"] == "127.0.0.1"
    assert status["started_epoch"] <= marker["last_success_epoch"] <= status["finished_epoch"] + 2
    assert len(pair.on_master("/var/log/hotsync.log").read_text().splitlines()) == 2
    # the slave keeps its own role: its plan and compiled files were not overwritten
    assert json.loads(pair.on_slave("/var/lib/nethserver/hotsync/plan.json").read_text())["role"] == "slave"
    assert "client = no" in pair.on_slave("/etc/stunnel/stunnel.conf").read_text()


def test_dry_run_lists_the_changes_and_changes_nothing_on_either_host(host_pair, hotsync):
    pair = host_pair
    data = make_office_tree(pair)
    assert pair.sync(in_process=True).code == 0
    pair.wait_for_new_marker(None)
    (data / "reports" / "q1.txt").write_text("changed\n")
    (data / "private.txt").unlink()
    (data / "added.txt").write_text("added\n")
    before = (pair.digest(pair.master, **UNTOUCHED), pair.digest(pair.slave, **UNTOUCHED))

    preview = pair.sync("--dry-run", in_process=True)

    assert preview.code == 0, preview.err
    assert (pair.digest(pair.master, **UNTOUCHED), pair.digest(pair.slave, **UNTOUCHED)) == before
    assert "/srv/office/added.txt" in preview.out
    assert "/srv/office/reports/q1.txt" in preview.out
    assert "*deleting   /srv/office/private.txt" in preview.out
    assert "nothing was changed" in preview.out
    time.sleep(1)  # a marker stamped for the dry run would arrive just after it: it must not
    assert (pair.digest(pair.master, **UNTOUCHED), pair.digest(pair.slave, **UNTOUCHED)) == before


def test_sync_as_a_real_process_reports_on_stdout_and_stays_quiet_on_stderr(host_pair):
    make_office_tree(host_pair)
    outcome = host_pair.sync()
    assert outcome.code == 0, outcome.err
    assert outcome.err == ""
    assert "sync ok" in outcome.out


def test_an_overlapping_run_exits_0_quietly_and_records_nothing(host_pair):
    make_office_tree(host_pair)
    with hold_sync_lock(host_pair.master_root) as held:
        assert held
        outcome = host_pair.sync()
    assert (outcome.code, outcome.out, outcome.err) == (0, "", "")
    assert not host_pair.on_master("/var/lib/nethserver/hotsync/status.json").exists()
    assert not host_pair.on_slave("/srv/office").exists()


def test_a_wrong_password_fails_with_rsyncs_reason_and_never_shows_the_password(host_pair, hotsync):
    pair = host_pair
    make_office_tree(pair)
    password_file = pair.on_master("/etc/hotsync/rsync.password")
    password_file.write_text(f"{WRONG_PASSWORD}\n")

    outcome = pair.sync(in_process=True)

    assert outcome.code == 1
    assert "auth failed" in outcome.err
    assert not pair.on_slave("/srv/office").exists()
    status_text = pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text()
    assert json.loads(status_text)["result"] == "failed"
    assert not pair.on_master("/var/run/nethserver-hotsync/LastSyncTS").exists()
    for text in (outcome.out, outcome.err, status_text, pair.on_master("/var/log/hotsync.log").read_text()):
        assert PASSWORD not in text and WRONG_PASSWORD not in text


def test_a_slave_that_cannot_be_reached_fails_within_the_run(host_pair, hotsync):
    pair = host_pair
    make_office_tree(pair)
    assert pair.slave.run("services", "stop", in_process=True).code == 0
    outcome = pair.sync(in_process=True)
    assert outcome.code == 1
    assert "rsync failed" in outcome.err


def test_the_delete_guard_keeps_an_emptied_include_root_until_forced(host_pair, hotsync):
    pair = host_pair
    data = make_office_tree(pair)
    assert pair.sync(in_process=True).code == 0
    for name in ("private.txt", "q1-link.txt", "latest.txt", "reports/q1.txt", "reports/q2.txt"):
        (data / name).unlink()
    (data / "reports").rmdir()  # the folder is now empty: an unmounted disk looks like this

    guarded = pair.sync(in_process=True)

    assert guarded.code == 1
    assert "/srv/office is empty on the master" in guarded.err
    assert "--force-delete" in guarded.err
    assert (pair.on_slave("/srv/office/reports/q1.txt")).read_text() == "first quarter\n"
    # the rest still synced: the configuration backup is on the slave
    assert pair.on_slave("/var/lib/nethserver/backup/backup-config.tar.xz").is_file()

    again = pair.sync(in_process=True)
    assert again.code == 1, "the guard stays armed until the admin forces it"

    forced = pair.sync("sync", "--force-delete", in_process=True)
    assert forced.code == 0, forced.err
    assert list(pair.on_slave("/srv/office").iterdir()) == []
    assert pair.sync(in_process=True).code == 0


def test_the_delete_guard_caps_mass_deletions(host_pair, hotsync):
    pair = host_pair
    data = pair.on_master("/srv/archive")
    data.mkdir(parents=True)
    for number in range(40):
        (data / f"letter-{number:02}.txt").write_text(f"letter {number}\n")
    pair.include_on_master("/srv/archive")
    assert pair.sync(in_process=True).code == 0
    for number in range(30):
        (data / f"letter-{number:02}.txt").unlink()

    braked = pair.sync(in_process=True)
    assert braked.code == 3, "the brake pauses the push before any deletion"
    assert "30 of 4" in braked.err and "would be deleted on the slave" in braked.err
    assert len(list(pair.on_slave("/srv/archive").iterdir())) == 40
    # Without the last push's manifest (as after an upgrade) the brake cannot compare: the cap still holds.
    pair.on_master("/var/lib/nethserver/hotsync/pushed-files").unlink()
    capped = pair.sync(in_process=True)

    assert capped.code == 1
    assert "delete guard" in capped.err
    remaining = len(list(pair.on_slave("/srv/archive").iterdir()))
    assert remaining > 25, "most deletions were refused"
    again = pair.sync(in_process=True)
    assert again.code == 1, "the guard stays armed"
    assert len(list(pair.on_slave("/srv/archive").iterdir())) == remaining, "no creeping through the cap"
    assert pair.sync("sync", "--force-delete", in_process=True).code == 0
    assert len(list(pair.on_slave("/srv/archive").iterdir())) == 10


def test_status_on_both_roles_after_a_sync(host_pair, hotsync):
    pair = host_pair
    make_office_tree(pair)
    assert pair.sync(in_process=True).code == 0
    pair.wait_for_new_marker(None)

    master = pair.master.run("status", in_process=True)
    assert master.code == 0
    assert "role: master" in master.out
    assert "peer: slave 127.0.0.1" in master.out
    assert "last run:" in master.out and "(ok)" in master.out
    assert "next sync: " in master.out

    slave = json.loads(pair.slave.run("status", "--json", in_process=True).out)
    assert slave["role"] == "slave"
    assert slave["peer"] == {"master": "127.0.0.1"}
    assert slave["last_result"] == "ok"
    assert 0 <= slave["age_seconds"] < 120
    assert set(slave["next_runs"]) == {"upkeep", "fixperm", "health"}
    for outcome in (master, pair.master.run("status", "--json", in_process=True)):
        assert PASSWORD not in outcome.out


def write_plugin(pair, name, body):
    plugin = pair.on_master(f"/etc/hotsync.d/{name}")
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text("#!/bin/sh\n" + body)
    plugin.chmod(0o755)


def test_plugins_add_paths_and_a_failing_one_fails_the_run_without_stopping_it(host_pair, hotsync):
    pair = host_pair
    make_office_tree(pair)
    pair.on_master("/opt/custom").mkdir(parents=True)
    pair.on_master("/opt/custom/app.conf").write_text("setting=1\n")
    write_plugin(pair, "10-custom", 'echo /opt/custom >> "$1"\n')
    write_plugin(pair, "20-broken", 'echo "license server unreachable" >&2\nexit 2\n')

    outcome = pair.sync(in_process=True)

    assert outcome.code == 1
    assert "plugin 20-broken failed (exit 2): license server unreachable" in outcome.err
    assert pair.on_slave("/opt/custom/app.conf").read_text() == "setting=1\n"
    assert pair.on_slave("/srv/office/reports/q1.txt").exists()


def test_progress_is_shown_on_a_terminal_only(host_pair):
    pair = host_pair
    data = pair.on_master("/srv/big")
    data.mkdir(parents=True)
    for number in range(20):
        (data / f"blob-{number}").write_bytes(os.urandom(256 * 1024))
    pair.include_on_master("/srv/big")
    hotsync_script = str(Path(sys.executable).parent / "hotsync")
    session = pexpect.spawn(hotsync_script, ["--root", str(pair.master.root)], encoding="utf-8", timeout=60)
    session.expect("100%")
    session.expect("sync ok")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0
    (data / "blob-0").write_bytes(os.urandom(1024))
    piped = pair.sync()
    assert "%" not in piped.out + piped.err


def rsync_with_the_password(pair, *arguments):
    """rsync as anyone holding the shared password on the master, through its end of the tunnel.

    ``SLAVE`` in an argument stands for the slave's daemon (``rsync://USER@127.0.0.1:PORT``).
    """
    slave = f"rsync://hotsyncuser@127.0.0.1:{pair.master_plan().transport.rsync_port}"
    argv = ["rsync", "--timeout=10", f"--password-file={pair.on_master('/etc/hotsync/rsync.password')}",
            *[argument.replace("SLAVE", slave) for argument in arguments]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_the_password_can_neither_read_the_slave_nor_stamp_its_marker(host_pair, hotsync, tmp_path):
    pair = host_pair
    data = make_office_tree(pair)
    assert pair.sync(in_process=True).code == 0
    pair.wait_for_new_marker(None)
    stamped = pair.marker_version()
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    attempts = [
        rsync_with_the_password(pair, "SLAVE/hotsync/etc/rsyncd.secrets", str(downloads)),
        rsync_with_the_password(pair, "-r", "SLAVE/hotsync/var/lib/nethserver/", str(downloads)),
        rsync_with_the_password(pair, "--list-only", "SLAVE/hotsync/srv/office/"),
        rsync_with_the_password(pair, "-r", "SLAVE/hotsync-preview/etc/", str(downloads)),
    ]

    for attempt in attempts:
        assert attempt.returncode == 1, attempt.stderr
        assert "ERROR: module is write only" in attempt.stderr
        assert "q1.txt" not in attempt.stdout
    assert list(downloads.iterdir()) == []
    time.sleep(1)  # the daemon runs its post-xfer exec just after each connection ended
    assert pair.marker_version() == stamped, "a refused download stamped the sync marker"

    (data / "reports" / "q3.txt").write_text("third quarter\n")
    pushed = pair.sync(in_process=True)
    assert pushed.code == 0, pushed.err
    assert pair.wait_for_new_marker(stamped)["result"] == "ok"
    assert pair.on_slave("/srv/office/reports/q3.txt").read_text() == "third quarter\n"


def daemon_passes_its_refusals() -> bool:
    """Whether the slave's rsync daemon sends the client why it refused a request (from 3.2.0)."""
    from hotsync.tool_versions import at_least, probe_tool_versions

    return at_least(probe_tool_versions().rsync, (3, 2, 0))


def test_an_option_no_push_needs_is_refused_with_rsyncs_message(host_pair, tmp_path):
    pair = host_pair
    source = tmp_path / "pushed.txt"
    source.write_text("written in place\n")

    for option, refused in (("--inplace", "--inplace"), ("--temp-dir=/tmp", "--temp-dir"),
                            ("--link-dest=/etc", "--link-dest")):
        pushed = rsync_with_the_password(pair, option, str(source), "SLAVE/hotsync/srv/")
        if daemon_passes_its_refusals():
            assert pushed.returncode == 4, pushed.stderr
            assert f"The server is configured to refuse {refused}" in pushed.stderr
        else:  # rsync 3.1.2's daemon closes the connection and writes why in its log only
            assert pushed.returncode == 12, pushed.stderr
            assert f"The server is configured to refuse {refused}" in pair.on_slave("/var/log/rsyncd.log").read_text()

    assert not pair.on_slave("/srv/pushed.txt").exists()
    time.sleep(1)
    assert pair.marker_version() is None
