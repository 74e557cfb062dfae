"""The copy's health on a sandbox slave: freshness alerts through a real SMTP server, "ready to
promote" with each of its reasons, and the metrics as Prometheus' own parser reads them."""

import email
import email.policy
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import time
from collections import namedtuple

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.hosts import free_port
from support.hosts import write_file as write
from support.scenarios import make_slave, make_synced_files
from support.trees import tree_digest
from test_api import call_api
from test_dumps import mysql_connection, mysql_database  # noqa: F401 - the fixtures
from test_slave import make_master_backup

from hotsync.frozen import replace
from hotsync.plan import Condition, Dump, PathEntry, PromoteStep, Rule, load_plan, save_plan
from hotsync.root import Root
from hotsync.runtime.dumps import DumpResult, record_dumps
from hotsync.runtime.status import stamp_marker

MINUTE = 60
FREEPBX = "nethserver-freepbx"


def pushed(root, minutes_ago, rsync_exit=0):
    """The marker the slave's rsync daemon stamps after a push that ended ``minutes_ago``."""
    stamp_marker(Root(root), "127.0.0.1", rsync_exit, time.time() - minutes_ago * MINUTE)


def mail_text(content):
    return email.message_from_string(content, policy=email.policy.default).get_content()


def health(hotsync, root):
    outcome = hotsync("--root", root, "slave", "health")
    assert outcome.code == 0, outcome.err
    return outcome


def ready_slave(hotsync, root, *settings):
    """A compiled slave with everything a promotion needs: the master's packages, its
    backup, the accounts, a push a minute ago."""
    make_slave(hotsync, root)
    if settings:
        assert hotsync("--root", root, "config", "setprop", "hotsync", *settings).code == 0
    assert hotsync("--root", root, "compile").code == 0
    make_synced_files(root)
    make_master_backup(root, [FREEPBX])
    for database in ("asterisk", "asteriskcdrdb"):  # the FreePBX rule restores them
        write(root / f"var/lib/nethserver/backup/mysql/{database}.dump", "-- dump\n")
    pushed(root, 1)


def status(hotsync, root):
    outcome = hotsync("--root", root, "status", "--json")
    assert outcome.code == 0, outcome.err
    return json.loads(outcome.out)


# ----------------------------------------------------------------------------- freshness


def test_a_silent_master_is_mailed_once_per_change_of_state(hotsync, sandbox, mailbox):
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com")

    health(hotsync, sandbox)
    health(hotsync, sandbox)
    assert mailbox.messages == [], "a fresh copy is not news"

    pushed(sandbox, 25)  # more than 1.5 x 15 min
    health(hotsync, sandbox)
    health(hotsync, sandbox)  # the next quarter hour: the same state, no second mail
    (recipients, content), = mailbox.messages
    assert recipients == ["admin@example.com"]
    assert "Subject: HotSync: the copy on" in content and "is late" in content
    late = mail_text(content)
    assert "late: the last complete push was 25 min ago (more than 22 min): check the master 127.0.0.1" in late
    text = hotsync("--root", sandbox, "status").out
    assert "freshness: warning - late: the last complete push was 25 min ago" in text

    pushed(sandbox, 95)  # more than 6 x 15 min
    health(hotsync, sandbox)
    assert len(mailbox.messages) == 2
    assert "is stale" in mailbox.messages[1][1]
    stale = mail_text(mailbox.messages[1][1])
    assert "1 h 35 min ago (more than 1 h 30 min)" in stale
    assert "a promotion now would lose every change made since" in stale
    assert status(hotsync, sandbox)["freshness"]["state"] == "critical"

    pushed(sandbox, 0)
    health(hotsync, sandbox)
    health(hotsync, sandbox)
    assert len(mailbox.messages) == 3
    assert "is fresh again" in mailbox.messages[2][1]


def test_a_failed_push_does_not_make_the_copy_fresh(hotsync, sandbox, mailbox):
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com")
    pushed(sandbox, 30)
    pushed(sandbox, 0, rsync_exit=12)  # a push that broke off just now
    health(hotsync, sandbox)
    assert "is late" in mailbox.messages[0][1]


def test_the_thresholds_are_settings(hotsync, sandbox, mailbox):
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com", "FreshnessWarning", "3600",
                "FreshnessCritical", "86400")
    pushed(sandbox, 25)
    health(hotsync, sandbox)
    assert mailbox.messages == []
    freshness = status(hotsync, sandbox)["freshness"]
    assert (freshness["state"], freshness["warning_after_seconds"], freshness["critical_after_seconds"]) == \
        ("ok", 3600, 86400)


def test_unset_thresholds_follow_the_push_interval(hotsync, sandbox, mailbox):
    """SyncInterval 5: late after 7.5 minutes, stale after 30 (sanoid's 1.5x and 6x); a threshold
    the admin set stays as set."""
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com", "SyncInterval", "5")
    pushed(sandbox, 10)
    health(hotsync, sandbox)
    freshness = status(hotsync, sandbox)["freshness"]
    assert (freshness["state"], freshness["warning_after_seconds"], freshness["critical_after_seconds"]) == \
        ("warning", 450, 1800)
    assert "is late" in mailbox.messages[0][1]

    assert hotsync("--root", sandbox, "config", "setprop", "hotsync", "FreshnessCritical", "7200").code == 0
    assert hotsync("--root", sandbox, "compile").code == 0
    freshness = status(hotsync, sandbox)["freshness"]
    assert (freshness["warning_after_seconds"], freshness["critical_after_seconds"]) == (450, 7200)


@pytest.mark.parametrize("warning, critical, message", [
    ("3600", "1800", "the critical age (1800 s) must be longer than the warning age (3600 s)"),
    ("10", "1800", "'10' is not an age (expected a whole number of seconds from 60"),
    ("1h", "1800", "'1h' is not an age"),
])
def test_thresholds_that_make_no_sense_are_refused_at_compile(hotsync, sandbox, warning, critical, message):
    make_slave(hotsync, sandbox)
    assert hotsync("--root", sandbox, "config", "setprop", "hotsync", "FreshnessWarning", warning,
                   "FreshnessCritical", critical).code == 0
    plan_before = (sandbox / "var/lib/nethserver/hotsync/plan.json").read_bytes()
    outcome = hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert message in outcome.err
    assert (sandbox / "var/lib/nethserver/hotsync/plan.json").read_bytes() == plan_before


def test_without_a_recipient_the_change_goes_to_stderr_for_cron_to_mail_root(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    pushed(sandbox, 25)
    outcome = health(hotsync, sandbox)
    assert outcome.err.startswith("hotsync-slave: freshness warning: late: the last complete push was 25 min ago")
    assert health(hotsync, sandbox).err == ""


def test_an_unreachable_smtp_server_leaves_the_change_on_stderr(hotsync, sandbox, monkeypatch):
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com")
    monkeypatch.setenv("HOTSYNC_SMTP_SERVER", f"127.0.0.1:{free_port()}")
    pushed(sandbox, 25)
    err = health(hotsync, sandbox).err
    assert "freshness warning: late:" in err and "could not mail admin@example.com through 127.0.0.1:" in err


def test_a_slave_that_never_received_a_push_is_late_from_when_it_was_set_up(hotsync, sandbox, mailbox):
    ready_slave(hotsync, sandbox, "NotifyTo", "admin@example.com")
    (sandbox / "var/lib/nethserver/hotsync/slave-marker.json").unlink()
    plan = sandbox / "var/lib/nethserver/hotsync/plan.json"
    set_up = time.time() - 30 * MINUTE
    os.utime(plan, (set_up, set_up))
    health(hotsync, sandbox)
    assert "no complete push since HotSync was set up here 30 min ago" in mail_text(mailbox.messages[0][1])


def test_the_cron_file_runs_the_check_every_quarter_hour(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    lines = (sandbox / "etc/cron.d/hotsync").read_text().splitlines()
    assert any(line.startswith("0,15,30,45 * * * * root ") and line.endswith("hotsync-slave health > /dev/null")
               for line in lines)


# ----------------------------------------------------------------------------- readiness


def readiness(hotsync, root):
    return status(hotsync, root)["readiness"]


def blocking(hotsync, root):
    found = readiness(hotsync, root)
    assert found["known"] and found["ready"] is False
    return {check["name"]: check["detail"] for check in found["checks"] if not check["ok"]}


def test_a_slave_with_everything_is_ready_to_promote(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    found = readiness(hotsync, sandbox)
    assert found["ready"] is True
    assert [check["name"] for check in found["checks"]] == [
        "role", "data", "dumps", "configuration backup", "network", "packages", "owners", "disk space"]
    text = hotsync("--root", sandbox, "status").out
    assert "ready to promote: yes" in text
    assert "  ok: packages: all 1 of the master's packages are installed" in text


def test_missing_packages_block_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    make_master_backup(sandbox, [FREEPBX, "nethserver-mail-server", "nethserver-webtop5"])
    assert blocking(hotsync, sandbox) == {"packages": (
        "packages: 2 of the master's packages are not installed here: nethserver-mail-server, "
        "nethserver-webtop5 (run 'hotsync-slave' to install them)")}
    assert "  BLOCKS: packages: 2 of the master's packages" in hotsync("--root", sandbox, "status").out


def test_a_stale_copy_blocks_a_promotion_and_a_late_one_does_not(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    pushed(sandbox, 25)
    assert readiness(hotsync, sandbox)["ready"] is True
    pushed(sandbox, 100)
    assert list(blocking(hotsync, sandbox)) == ["data"]


def test_a_backup_that_does_not_match_its_checksum_blocks_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    (sandbox / "var/lib/nethserver/backup/backup-config.tar.xz.md5").write_text("0" * 32 + "  backup-config.tar.xz\n")
    found = blocking(hotsync, sandbox)
    assert "does not match its checksum" in found["configuration backup"]


def test_no_backup_blocks_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    shutil.rmtree(sandbox / "var/lib/nethserver/backup")
    found = blocking(hotsync, sandbox)
    assert found["configuration backup"].endswith("backup-config.tar.xz has not arrived from the master yet")
    assert found["packages"] == "packages: the master's package list has not arrived yet"


def test_an_owner_this_host_lacks_blocks_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    write(sandbox / "etc/passwd", "root:x:0:0::/root:/bin/sh\nasterisk:x:4242:4242::/:/sbin/nologin\n")
    found = blocking(hotsync, sandbox)
    assert list(found) == ["owners"]
    assert "user 'vmail' does not exist in /etc/passwd of this host" in found["owners"]


def test_a_missing_dump_blocks_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    dump = sandbox / "var/lib/nethserver/backup/mysql/asteriskcdrdb.dump"
    dump.unlink()
    assert blocking(hotsync, sandbox) == {"dumps": (
        "dumps: missing /var/lib/nethserver/backup/mysql/asteriskcdrdb.dump (database sync disabled on the "
        "master, or its dump failed: see 'hotsync status' on the master)")}
    write(dump, "-- dump\n")
    assert readiness(hotsync, sandbox)["ready"] is True


# The dumps the FreePBX rule restores, as the master's record of its dumps names them.
DUMP_FOLDER = "/var/lib/nethserver/backup/mysql/"
MYSQLDUMP_ERROR = "mysqldump failed (exit 2): Got error: 2002: Can't connect to local server through socket"


def master_dumped(root, minutes_ago, failed=(), databases=("asterisk", "asteriskcdrdb"), databases_enabled=True):
    """The record of the master's dumps made ``minutes_ago``, as its push brings it: the master's
    own code writes it; ``failed`` databases (or the folder, for a failed listing) failed then."""
    results = [DumpResult("mysql", name, f"{DUMP_FOLDER}{name}.dump" if name else DUMP_FOLDER, name not in failed,
                          "" if name not in failed else MYSQLDUMP_ERROR) for name in databases]
    record_dumps(Root(root), results, time.time() - minutes_ago * MINUTE, databases_enabled)


def dumps_detail(hotsync, root):
    (check,) = [check for check in readiness(hotsync, root)["checks"] if check["name"] == "dumps"]
    return check["ok"], check["detail"]


def test_without_the_masters_record_of_its_dumps_their_presence_is_checked_and_their_age_unknown(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    assert dumps_detail(hotsync, sandbox) == (True, (
        "dumps: the 2 dump(s) to restore are here, of unknown age (the master sends no record of its dumps: "
        "update HotSync there)"))


def test_dumps_the_master_made_recently_are_ready(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 3)
    master_dumped(sandbox, 1, databases=("asteriskcdrdb",))
    assert readiness(hotsync, sandbox)["ready"] is True
    assert dumps_detail(hotsync, sandbox) == (
        True, "dumps: the 2 dump(s) to restore are here, the oldest made 3 min ago on the master")


def test_a_dump_failing_on_the_master_blocks_a_promotion_naming_the_database_and_the_masters_error(hotsync, sandbox):
    ready_slave(hotsync, sandbox, "MetricsDir", "/var/lib/node_exporter/textfile_collector")
    master_dumped(sandbox, 10)
    master_dumped(sandbox, 0, failed=("asteriskcdrdb",))
    assert blocking(hotsync, sandbox) == {"dumps": (
        "dumps: the mysql dump of 'asteriskcdrdb' failed on the master (its last good dump was made 10 min ago): "
        f"{MYSQLDUMP_ERROR}: see 'hotsync status' on the master")}
    assert "  BLOCKS: dumps: the mysql dump of 'asteriskcdrdb' failed" in hotsync("--root", sandbox, "status").out
    (found,) = [dump for dump in readiness(hotsync, sandbox)["dumps"] if dump["database"] == "asteriskcdrdb"]
    assert found["state"] == "failing" and 10 * MINUTE <= found["age_seconds"] <= 11 * MINUTE
    code, answer, _ = call_api(sandbox, "dashboard/read", {})
    assert code == 0 and answer["readiness"]["ready"] is False
    assert any(reason.startswith("dumps: the mysql dump of 'asteriskcdrdb' failed on the master")
               for reason in answer["readiness"]["reasons"])

    health(hotsync, sandbox)
    families = parse((sandbox / "var/lib/node_exporter/textfile_collector/hotsync.prom").read_text())
    assert value(families, "hotsync_readiness_check", check="dumps") == 0
    assert value(families, "hotsync_dump_failing", engine="mysql", database="asteriskcdrdb") == 1
    assert value(families, "hotsync_dump_failing", engine="mysql", database="asterisk") == 0
    assert time.time() - value(families, "hotsync_dump_last_success_timestamp_seconds", database="asteriskcdrdb") \
        >= 10 * MINUTE

    master_dumped(sandbox, 0)  # the next dump worked
    assert readiness(hotsync, sandbox)["ready"] is True


def test_a_dump_older_than_the_critical_threshold_blocks_a_promotion_and_a_late_one_does_not(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 1)
    master_dumped(sandbox, 25, databases=("asterisk",))
    assert dumps_detail(hotsync, sandbox) == (
        True, "dumps: late: the mysql dump of 'asterisk' is 25 min old (more than 22 min)")
    master_dumped(sandbox, 100, databases=("asterisk",))
    assert blocking(hotsync, sandbox) == {"dumps": (
        "dumps: the mysql dump of 'asterisk' is 1 h 40 min old (more than 1 h 30 min): "
        "see 'hotsync status' on the master")}


def test_a_dump_the_master_has_never_made_blocks_a_promotion(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 1, databases=("asterisk",))
    assert blocking(hotsync, sandbox) == {"dumps": (
        "dumps: the mysql dump of 'asteriskcdrdb' (/var/lib/nethserver/backup/mysql/asteriskcdrdb.dump) is of "
        "unknown age: the master's record of its dumps does not name it (does the master dump it?): "
        "see 'hotsync status' on the master")}
    master_dumped(sandbox, 1, failed=("asteriskcdrdb",), databases=("asteriskcdrdb",))
    assert blocking(hotsync, sandbox)["dumps"].startswith(
        "dumps: the mysql dump of 'asteriskcdrdb' failed on the master (the master never made a good one): ")


def test_a_database_server_the_master_cannot_list_fails_every_dump_of_its_folder(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 5)
    master_dumped(sandbox, 0, failed=("",), databases=("",))  # the folder's listing failed
    detail = blocking(hotsync, sandbox)["dumps"]
    assert "the mysql dump of 'asterisk' failed on the master (its last good dump was made 5 min ago)" in detail
    assert "the mysql dump of 'asteriskcdrdb' failed on the master" in detail


def test_old_dumps_of_a_master_that_stopped_syncing_databases_say_so(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 200)
    record_dumps(Root(sandbox), [], time.time(), databases_enabled=False)
    detail = blocking(hotsync, sandbox)["dumps"]
    assert detail.endswith("(database sync is disabled on the master): see 'hotsync status' on the master")
    assert "the mysql dump of 'asterisk' is 3 h 20 min old (more than 1 h 30 min)" in detail


def test_a_missing_dump_says_the_masters_error(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    master_dumped(sandbox, 0, failed=("asteriskcdrdb",))
    (sandbox / "var/lib/nethserver/backup/mysql/asteriskcdrdb.dump").unlink()
    assert blocking(hotsync, sandbox) == {"dumps": (
        "dumps: the mysql dump of 'asteriskcdrdb' (/var/lib/nethserver/backup/mysql/asteriskcdrdb.dump) is missing "
        f"here: the master's last attempt failed: {MYSQLDUMP_ERROR}: see 'hotsync status' on the master")}


def test_too_little_free_space_blocks_a_promotion(hotsync, sandbox):
    free_mib = shutil.disk_usage(sandbox).free >> 20
    ready_slave(hotsync, sandbox, "PromoteFreeSpace", str(free_mib + 10 * 1024))
    found = blocking(hotsync, sandbox)
    assert list(found) == ["disk space"]
    assert found["disk space"].startswith("disk space: only ")
    assert found["disk space"].endswith(": free some space on this host")


def backup_with_networks(root, master_cards, own_cards):
    """The master's backup with its networks database (its cards) and this host's own."""
    buffer = io.BytesIO()
    members = {"var/lib/nethserver/backup/package-list": f"{FREEPBX}\n",
               "var/lib/nethserver/db/networks": "".join(f"{card}=ethernet|role|green\n" for card in master_cards)}
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        for name, text in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(text.encode())
            archive.addfile(member, io.BytesIO(text.encode()))
    data = buffer.getvalue()
    folder = root / "var/lib/nethserver/backup"
    (folder / "backup-config.tar.xz").write_bytes(data)
    (folder / "backup-config.tar.xz.md5").write_text(f"{hashlib.md5(data).hexdigest()}  backup-config.tar.xz\n")
    write(root / "var/lib/nethserver/db/networks", "".join(f"{card}=ethernet|role|green\n" for card in own_cards))


def test_network_cards_named_otherwise_block_a_promotion_that_takes_the_masters_network(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    backup_with_networks(sandbox, ["eth0", "eth1"], ["eth0", "eth1"])
    assert readiness(hotsync, sandbox)["ready"] is True
    backup_with_networks(sandbox, ["eth0", "eth1"], ["ens18", "ens19"])
    found = blocking(hotsync, sandbox)
    assert list(found) == ["network"]
    assert found["network"].startswith("network: the master's network cannot be taken over: its network card(s) "
                                       "eth0, eth1 have no card of the same name here")
    assert found["network"].endswith("Promote with --remap-interfaces or --network keep (see 'hotsync-promote --check')")


def test_promote_check_lists_the_steps_and_what_blocks_them_changing_nothing(hotsync, sandbox):
    ready_slave(hotsync, sandbox)
    backup_with_networks(sandbox, ["eth0"], ["ens18"])
    before = tree_digest(sandbox)
    outcome = hotsync("--root", sandbox, "promote", "--check")
    assert outcome.code == 1
    lines = outcome.out.splitlines()
    assert lines[0] == "A promotion now would run these steps (network: restore):"
    assert lines[1:4] == ["  1. stop receiving data", "  2. reinstall the master's packages", "  3. fix permissions"]
    assert any("restore mysql asterisk, asteriskcdrdb" in line for line in lines)
    assert "Ready to promote: no" in lines
    assert any(line.startswith("  BLOCKS: network: the master's network cannot be taken over") for line in lines)
    assert "  ok: packages: all 1 of the master's packages are installed" in lines
    assert lines[-1] == "Nothing was changed."
    assert tree_digest(sandbox) == before

    outcome = hotsync("--root", sandbox, "promote", "--check", "--remap-interfaces", "eth0=ens18")
    assert outcome.code == 0, outcome.out
    assert "Ready to promote: yes" in outcome.out
    assert "  ok: network: every card of the master has its card here (--remap-interfaces)" in outcome.out
    outcome = hotsync("--root", sandbox, "promote", "--check", "--network", "keep")
    assert outcome.code == 0 and "  ok: network: this host keeps its own (--network keep)" in outcome.out
    assert tree_digest(sandbox) == before


def test_promote_check_on_a_master_refuses_as_promotion_does(hotsync, sandbox):
    from test_status import plan_for

    from hotsync.plan import save_plan

    save_plan(Root(sandbox), plan_for("master"))
    outcome = hotsync("--root", sandbox, "promote", "--check")
    assert outcome.code == 1
    assert "only a slave can be promoted" in outcome.err


def test_a_master_says_nothing_about_readiness(hotsync, sandbox):
    from test_status import plan_for

    from hotsync.plan import save_plan

    save_plan(Root(sandbox), plan_for("master"))
    assert readiness(hotsync, sandbox) == {"known": False, "ready": None, "reasons": [], "checks": [], "dumps": []}
    assert "ready to promote" not in hotsync("--root", sandbox, "status").out


# ----------------------------------------------------------------------------- metrics

Sample = namedtuple("Sample", "name labels value")


def parse(text):
    """{family name: (type, [samples])} as Prometheus' own parser reads ``text``."""
    return {family.name: (family.type, [Sample(*sample[:3]) for sample in family.samples])
            for family in text_string_to_metric_families(text)}


def value(families, name, **labels):
    (found,) = [sample.value for sample in families[name][1] if all(sample.labels.get(k) == v for k, v in labels.items())]
    return found


def test_the_slaves_metrics_after_its_check_parse_and_say_what_status_says(hotsync, sandbox):
    ready_slave(hotsync, sandbox, "MetricsDir", "/var/lib/node_exporter/textfile_collector")
    pushed(sandbox, 30)
    pushed(sandbox, 0, rsync_exit=12)
    health(hotsync, sandbox)
    metrics_file = sandbox / "var/lib/node_exporter/textfile_collector/hotsync.prom"
    text = metrics_file.read_text()
    assert oct(metrics_file.stat().st_mode & 0o777) == "0o644"
    assert [entry.name for entry in metrics_file.parent.iterdir()] == ["hotsync.prom"], "no temporary file left"
    families = parse(text)
    report = status(hotsync, sandbox)
    assert value(families, "hotsync_info", role="slave", peer="127.0.0.1") == 1
    assert value(families, "hotsync_last_success_timestamp_seconds") == report["last_success_epoch"]
    assert 30 * MINUTE <= value(families, "hotsync_data_age_seconds") <= 31 * MINUTE
    assert value(families, "hotsync_last_run_success") == 0
    assert families["hotsync_failures"][0] == "counter"
    assert value(families, "hotsync_failures") == 1
    assert value(families, "hotsync_freshness", state="warning") == 1
    assert value(families, "hotsync_freshness", state="ok") == 0
    assert value(families, "hotsync_freshness_threshold_seconds", level="critical") == 5400
    assert value(families, "hotsync_ready_to_promote") == 1
    assert value(families, "hotsync_readiness_check", check="packages") == 1
    printed = hotsync("--root", sandbox, "status", "--prometheus").out
    assert parse(printed).keys() == families.keys()


def test_a_push_rewrites_the_slaves_metrics_with_the_last_checks_readiness(hotsync, sandbox, monkeypatch):
    from hotsync.runtime.status import stamp_marker_command

    ready_slave(hotsync, sandbox)
    make_master_backup(sandbox, [FREEPBX, "nethserver-mail-server"])
    health(hotsync, sandbox)
    stamp_marker_command(Root(sandbox), {"RSYNC_EXIT_STATUS": "0"})
    families = parse((sandbox / "var/lib/node_exporter/textfile_collector/hotsync.prom").read_text())
    assert value(families, "hotsync_freshness", state="ok") == 1
    assert value(families, "hotsync_ready_to_promote") == 0
    assert value(families, "hotsync_readiness_check", check="packages") == 0


def test_a_master_in_continuous_mode_whose_watch_never_ran_says_it_is_not_running(hotsync, sandbox):
    from test_status import plan_for

    from hotsync.plan import save_plan

    save_plan(Root(sandbox), plan_for("master", mode="continuous"))
    families = parse(hotsync("--root", sandbox, "status", "--prometheus").out)
    assert value(families, "hotsync_continuous_running") == 0
    assert "hotsync_continuous_backlog" not in families and "hotsync_continuous_rpo_seconds" not in families
    save_plan(Root(sandbox), plan_for("master"))
    assert "hotsync_continuous_running" not in parse(hotsync("--root", sandbox, "status", "--prometheus").out)


def test_no_metrics_folder_no_metrics_file(hotsync, sandbox):
    ready_slave(hotsync, sandbox, "MetricsDir", "off")
    health(hotsync, sandbox)
    assert not (sandbox / "var/lib/node_exporter").exists()
    assert "hotsync_freshness" in hotsync("--root", sandbox, "status", "--prometheus").out


@pytest.mark.e2e
def test_the_masters_metrics_after_real_pushes(host_pair, hotsync):
    pair = host_pair
    folder = pair.on_master("/srv/data")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.txt").write_text("x" * 5000)
    pair.include_on_master("/srv/data")
    assert pair.sync(in_process=True).code == 0
    families = parse(pair.on_master("/var/lib/node_exporter/textfile_collector/hotsync.prom").read_text())
    record = json.loads(pair.on_master("/var/lib/nethserver/hotsync/status.json").read_text())
    assert value(families, "hotsync_info", role="master") == 1
    assert value(families, "hotsync_last_run_success") == 1
    assert value(families, "hotsync_last_success_timestamp_seconds") == record["last_success_epoch"]
    assert value(families, "hotsync_last_run_sent_bytes") == record["bytes_sent"] > 0
    assert value(families, "hotsync_last_run_files_transferred") == record["files_transferred"] > 0
    assert value(families, "hotsync_last_run_duration_seconds") == record["duration_seconds"]
    assert value(families, "hotsync_last_run_files_deleted") == 0
    assert value(families, "hotsync_failures") == 0
    assert value(families, "hotsync_freshness", state="ok") == 1
    assert "hotsync_ready_to_promote" not in families

    pair.on_master("/etc/hotsync/rsync.password").write_text("wrong-password-here\n")
    assert pair.sync(in_process=True).code == 1
    families = parse(pair.on_master("/var/lib/node_exporter/textfile_collector/hotsync.prom").read_text())
    assert value(families, "hotsync_last_run_success") == 0
    assert value(families, "hotsync_failures") == 1
    assert value(families, "hotsync_last_success_timestamp_seconds") == record["last_success_epoch"]


@pytest.mark.e2e
def test_a_dump_failing_on_the_master_makes_the_slaves_status_say_the_dump_is_not_fresh(
    host_pair, hotsync, own_mariadb, mysql_connection, mysql_database  # noqa: F811
):
    """A real push carries the master's record of its dumps: after a dump that failed on the
    master, the slave's status names the database, the master's error and what to do, although
    the slave still holds the previous good dump file."""
    pair = host_pair
    folder = "/var/lib/nethserver/backup/shop/"
    target = f"{folder}{mysql_database}.dump"
    pair.add_master_rule(Rule(name="shop", origin="test", conditions=(Condition("databases"),),
                              include=(PathEntry(folder),), dumps=(Dump("mysql", (mysql_database,), folder, mysql_connection),)))
    slave_plan = load_plan(pair.slave_root)
    restore = PromoteStep("restore", "mysql", (mysql_database,), (target,), connection=mysql_connection)
    save_plan(pair.slave_root, replace(slave_plan, rules=slave_plan.rules + (Rule(name="shop", origin="test",
                                                                                  promote=(restore,)),)))

    marker = pair.marker_version()
    assert pair.sync(in_process=True).code == 0
    pair.wait_for_new_marker(marker)
    (check,) = [check for check in status(hotsync, pair.slave.root)["readiness"]["checks"] if check["name"] == "dumps"]
    assert check["ok"] and re.fullmatch(  # the record came with the push: the dump's age is known
        r"dumps: the 1 dump\(s\) to restore are here, the oldest made \d s ago on the master", check["detail"])

    own_mariadb.query(f"DROP DATABASE {mysql_database}")  # the master's next dump of it fails
    marker = pair.marker_version()
    assert pair.sync(in_process=True).code == 1
    pair.wait_for_new_marker(marker)
    assert "'Rossi'" in pair.on_slave(target).read_text(), "the slave keeps the previous good dump"
    shown = hotsync("--root", pair.slave.root, "status").out
    (line,) = [line for line in shown.splitlines() if "dumps:" in line]
    assert line.startswith(f"  BLOCKS: dumps: the mysql dump of '{mysql_database}' failed on the master "
                           "(its last good dump was made ")
    assert "mysqldump failed" in line and mysql_database in line.split("failed on the master", 1)[1]
    assert line.endswith(": see 'hotsync status' on the master")
    assert "ready to promote: no" in shown
