"""``hotsync-promote`` on a sandbox slave whose synced files were arranged by hand
(the configuration backup is made by the master runtime's own backup code); the real
two-host story is in test_fencing.py."""

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import pexpect
from fake_tools import (
    install_recording_action,
    install_recording_restore_config,
    path_with,
    recorded_calls,
)
from support.hosts import free_port, write_file
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync
from support.trees import tree_digest

from hotsync.host import host_for
from hotsync.nethserver.esmith import database_path, read_database
from hotsync.root import Root
from hotsync.runtime.backup import make_config_backup
from hotsync.runtime.conditions import InstalledPackages
from hotsync.runtime.fence import writable_modules
from hotsync.runtime.lock import hold_sync_lock
from hotsync.runtime.promote import LOADED_DUMPS_FOLDER, STATE_PATH

PROMOTE = str(Path(sys.executable).parent / "hotsync-promote")



def unreachable_repositories(root):
    write_file(root / "etc/yum.repos.d/base.repo", f"[base]\nbaseurl=http://127.0.0.1:{free_port()}/base/\n")


def configuration(root, name="configuration"):
    return read_database(database_path(Root(root), name))


def test_promote_with_yes_makes_the_slave_the_master(slave):
    outcome = run_hotsync("--root", slave, "--yes", "--network", "continue", program="hotsync-promote")

    assert outcome.code == 0, outcome.err + outcome.out
    database = configuration(slave)
    assert database.get_prop("hotsync", "role") == "master"
    assert database.get_prop("hotsync", "MasterHost") == ""
    assert database.get_prop("hotsync", "SlaveHost") == ""
    assert database.get_prop("hotsync", "PromotionGeneration") == "1"
    assert database.get_prop("webapp", "TCPPort") == "8080"  # the master's configuration
    assert database.get_prop("rsyncd", "password") == PASSWORD  # this host's own HotSync records
    assert configuration(slave, "networks").get_prop("eth0", "ipaddr") == "192.168.1.1"  # the master's network
    assert stat.S_IMODE(os.stat(slave / "etc/cron.daily/logrotate").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(slave / "etc/cron.daily/jobs.deny").st_mode) == 0o644
    assert "[1/7] stop receiving data: rsync daemon stopped" in outcome.out
    assert "reinstall the master's packages: skipped" in outcome.out
    assert "(RTO)" in outcome.out and "(RPO)" in outcome.out and "10 min" in outcome.out
    assert "HotSync role is master (disabled): nothing is scheduled." in (slave / "etc/cron.d/hotsync").read_text()

    again = run_hotsync("--root", slave, "--yes", program="hotsync-promote")
    assert again.code == 1
    assert "this host is not a slave (role: master)" in again.err


def test_promotion_turns_yums_events_plugin_back_on_before_it_restores_the_configuration(slave):
    # as the original HotSync's slave left it: off, without HotSync's mark
    plugin = write_file(slave / "etc/yum/pluginconf.d/nethserver_events.conf", "[main]\nenabled = 0\nverbose = 0\n")

    outcome = run_hotsync("--root", slave, "--yes", "--network", "continue", program="hotsync-promote")

    assert outcome.code == 0, outcome.err + outcome.out
    assert plugin.read_text() == "[main]\nenabled = 1\nverbose = 0\n"
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o644
    steps = [line for line in outcome.out.splitlines() if line.startswith("[")]
    plugin_on = next(i for i, line in enumerate(steps) if "turn yum's events plugin back on: yum events plugin turned on" in line)
    restored = next(i for i, line in enumerate(steps) if "restore the configuration" in line)
    assert plugin_on == restored - 1


def test_a_failed_step_stops_with_what_to_do_and_a_rerun_resumes(slave):
    write_file(slave / "etc/hotsync/rules.d/90-tests.hs", 'rule tests-promote {\n    promote run /usr/local/bin/prepare "now"\n}\n')
    admin(slave, "compile", in_process=True)

    failed = run_hotsync("--root", slave, "--yes", program="hotsync-promote")

    assert failed.code == 1
    assert "promotion stopped at step 4/8 'tests-promote: run /usr/local/bin/prepare now'" in failed.err
    assert "program not found" in failed.err
    assert "What to do: run '/usr/local/bin/prepare now' by hand" in failed.err
    assert ("it resumes at this step (the 2 completed step(s) are not repeated; "
            "'stop receiving data' is checked again)") in failed.err
    assert configuration(slave).get_prop("hotsync", "role") == "slave"  # not half-promoted silently
    write_file(slave / "usr/local/bin/prepare", '#!/bin/sh\necho "$1" >> "$HOTSYNC_ROOT/prepared"\n', 0o755)

    resumed = run_hotsync("--root", slave, "--yes", program="hotsync-promote")

    assert resumed.code == 0, resumed.err
    assert "Resuming the promotion" not in resumed.out  # --yes: no confirmation text needed
    assert resumed.out.count("done by an earlier run") == 2  # closing the host is checked again
    assert "[1/8] stop receiving data: rsync daemon stopped" in resumed.out
    assert (slave / "prepared").read_text() == "now\n"
    assert configuration(slave).get_prop("hotsync", "role") == "master"
    assert "since the first attempt" in resumed.out


def spawn_promote(root):
    return pexpect.spawn(PROMOTE, ["--root", str(root)], encoding="utf-8", timeout=60)


def answer_confirmation(child):
    child.expect("Type 'yes' to promote this host: ")
    child.sendline("yes")


def exit_status(child) -> int:
    """How the promotion's process ended, once it has printed everything."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_interactive_choice_1_restores_the_master_network(slave):
    unreachable_repositories(slave)
    child = spawn_promote(slave)
    answer_confirmation(child)
    child.expect(r"Please choose an action \(1-3\): ")
    child.sendline("1")
    child.expect("Promotion complete")
    assert exit_status(child) == 0
    assert configuration(slave, "networks").get_prop("eth0", "ipaddr") == "192.168.1.1"


def test_interactive_choice_2_stops_before_any_change(slave):
    unreachable_repositories(slave)
    before = (database_path(Root(slave))).read_bytes()
    child = spawn_promote(slave)
    answer_confirmation(child)
    child.expect(r"Please choose an action \(1-3\): ")
    child.sendline("2")
    child.expect("fix the network in the Server Manager")
    assert exit_status(child) == 1
    assert database_path(Root(slave)).read_bytes() == before


def test_interactive_invalid_answer_then_choice_3(slave):
    unreachable_repositories(slave)
    child = spawn_promote(slave)
    answer_confirmation(child)
    child.expect(r"Please choose an action \(1-3\): ")
    child.sendline("7")
    child.expect("'7' is not a choice: type 1, 2 or 3.")
    child.expect(r"Please choose an action \(1-3\): ")
    child.sendline("3")
    child.expect("skipped \\(network choice: continue without reinstalling packages\\)")
    child.expect("Promotion complete")
    assert exit_status(child) == 0
    assert configuration(slave, "networks").get_prop("eth0", "ipaddr") == "192.168.1.1"  # the master's network


def test_interactive_no_means_nothing_changes(slave):
    child = spawn_promote(slave)
    child.expect("Type 'yes' to promote this host: ")
    child.sendline("no")
    child.expect("Promotion cancelled: nothing was changed.")
    assert exit_status(child) == 1
    assert configuration(slave).get_prop("hotsync", "role") == "slave"


def test_without_a_terminal_and_without_yes_nothing_changes(slave):
    outcome = run_hotsync("--root", slave, program="hotsync-promote")
    assert outcome.code == 1
    assert configuration(slave).get_prop("hotsync", "role") == "slave"


def test_bad_network_answer_is_a_usage_error(slave, hotsync):
    assert hotsync("--root", slave, "promote", "--network", "maybe").code == 2


# ----------------------------------------------------------------------------- a started promotion stays closed

FAILING_RULE = 'rule tests-promote {\n    promote run /usr/local/bin/prepare "now"\n}\n'


def stop_promotion_at_a_rule_step(slave):
    """Promotion stops at step 4: the program a rule's step runs is missing."""
    write_file(slave / "etc/hotsync/rules.d/90-tests.hs", FAILING_RULE)
    admin(slave, "compile", in_process=True)
    failed = run_hotsync("--root", slave, "--yes", "--network", "continue", program="hotsync-promote")
    assert failed.code == 1 and "promotion stopped at step 4/8" in failed.err, failed.err + failed.out
    return failed


def receives_pushes(slave) -> bool:
    """Whether anything on this host could take a push: the rsync daemon, or a writable module."""
    conf = (slave / "etc/rsyncd.conf").read_text()
    return host_for(Root(slave)).service_status("rsyncd").running or bool(writable_modules(conf))


def test_no_event_reopens_a_slave_whose_promotion_stopped_at_a_step(slave, hotsync):
    stop_promotion_at_a_rule_step(slave)
    assert not receives_pushes(slave)

    for event in ("nethserver-hotsync-save", "nethserver-hotsync-update"):
        assert hotsync("--root", slave, "signal-event", event).code == 0

    assert configuration(slave).get_prop("rsyncd", "status") == "disabled"
    assert configuration(slave).get_prop("hotsync", "role") == "slave"
    assert not receives_pushes(slave)
    stunnel = (slave / "etc/stunnel/stunnel.conf").read_text()
    port = configuration(slave).get_prop("hotsync", "SlavePort")
    assert "[hotsync-fence]" in stunnel and f"accept = {port}\n" in stunnel  # answers, to refuse
    assert host_for(Root(slave)).service_status("stunnel").running
    rsyncd = (slave / "etc/rsyncd.conf").read_text()
    assert "pre-xfer exec" in rsyncd and "early exec" not in rsyncd  # no need for rsync >= 3.2.4


def test_a_resumed_promotion_checks_the_daemon_again_instead_of_trusting_an_earlier_run(slave):
    # A promotion recorded its first step as done, but the daemon runs again (an earlier
    # HotSync trusted that record; an admin may have started it by hand).
    assert run_hotsync("--root", slave, "services", "start").code == 0
    assert receives_pushes(slave)
    started = int(time.time()) - 60
    write_file(slave / STATE_PATH.lstrip("/"), json.dumps({
        "started_epoch": started, "network": "continue", "data_epoch": None,
        "done": {"receiving": {"title": "stop receiving data", "message": "rsync daemon stopped", "epoch": started}},
    }), 0o600)

    stop_promotion_at_a_rule_step(slave)

    assert not receives_pushes(slave)


def test_upkeep_and_fixperm_do_nothing_once_a_promotion_has_started(slave):
    stop_promotion_at_a_rule_step(slave)
    job = write_file(slave / "etc/cron.daily/report", "#!/bin/sh\n", 0o755)  # the promotion re-enables jobs at its end

    for action in ((), ("fixperm",)):
        outcome = run_hotsync("--root", slave, *action, program="hotsync-slave")
        assert outcome.code == 0, outcome.err
        assert outcome.out == "hotsync-slave: this slave's promotion has started: nothing to do " \
                              "(run 'hotsync-promote' to finish it)\n"
        assert outcome.err == ""
    assert stat.S_IMODE(os.stat(job).st_mode) == 0o755


def test_upkeep_on_a_promoted_host_says_so_and_succeeds(slave):
    promoted = run_hotsync("--root", slave, "--yes", "--network", "continue", program="hotsync-promote")
    assert promoted.code == 0, promoted.err

    outcome = run_hotsync("--root", slave, "fixperm", program="hotsync-slave")

    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out == "hotsync-slave: this host was promoted to master (promotion generation 1): nothing to do\n"


def test_fixperm_ends_quietly_while_a_promotion_holds_the_lock(slave):
    job = write_file(slave / "etc/cron.daily/report", "#!/bin/sh\n", 0o755)
    with hold_sync_lock(Root(slave)) as held:
        assert held
        outcome = run_hotsync("--root", slave, "fixperm", program="hotsync-slave")
    assert (outcome.code, outcome.out, outcome.err) == (0, "", "")
    assert stat.S_IMODE(os.stat(job).st_mode) == 0o755  # fixperm would have disabled it


def test_promotion_waits_for_the_upkeep_holding_the_lock(slave):
    import subprocess

    child = None
    try:
        with hold_sync_lock(Root(slave)) as held:
            assert held
            child = subprocess.Popen([PROMOTE, "--root", str(slave), "--yes", "--network", "continue"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert child.stdout.readline() == "Waiting for the slave's upkeep (hotsync-slave) to end...\n"
            time.sleep(0.5)
            assert not (slave / STATE_PATH.lstrip("/")).exists()  # nothing done while it waits
            assert configuration(slave).get_prop("hotsync", "PromotionStarted") is None
    except BaseException:
        if child is not None:  # a promotion left to finish after the fixture stopped the daemons would outlive the test
            child.kill()
            child.wait()
        raise
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "Promotion complete" in out


# ----------------------------------------------------------------------------- NethServer's restore, the network


def promote_with_yes(slave, *arguments, environment=None):
    return run_hotsync("--root", slave, "--yes", *arguments, program="hotsync-promote", environment=environment)


def test_nethservers_restore_config_restores_the_backup_and_this_host_keeps_its_hotsync_records(slave):
    install_recording_restore_config(slave)
    install_recording_action(slave, "nethserver-hotsync-save")

    outcome = promote_with_yes(slave, "--network", "continue")

    assert outcome.code == 0, outcome.err + outcome.out
    # Closing the slave's daemon, then NethServer's restore (HotSync has installed the packages
    # already; the network is the master's), then the role, applied by the save event.
    assert recorded_calls(slave) == ["signal-event nethserver-hotsync-save", "restore-config --no-reinstall",
                                     "signal-event nethserver-hotsync-save"]
    assert "NethServer's restore-config restored the master's configuration backup" in outcome.out
    database = configuration(slave)
    assert database.get_prop("webapp", "TCPPort") == "8080"  # unpacked from the master's backup
    assert database.get_prop("rsyncd", "password") == PASSWORD
    assert database.get_prop("rsyncd", "TCPPort") != "873"  # the slave's own port, not the master's default
    assert (database.get_prop("hotsync", "role"), database.get_prop("hotsync", "SlaveHost")) == ("master", "")
    assert database.get_prop("hotsync", "PromotionGeneration") == "1"
    assert not (slave / "var/lib/nethserver/hotsync/promotion-configuration.saved").exists()  # it held the password


def test_network_keep_keeps_this_hosts_network_and_says_what_is_left(slave):
    install_recording_restore_config(slave)

    outcome = promote_with_yes(slave, "--network", "keep")

    assert outcome.code == 0, outcome.err + outcome.out
    assert recorded_calls(slave) == ["restore-config --no-reinstall --skip-network"]
    assert configuration(slave, "networks").get_prop("eth0", "ipaddr") == "192.168.1.2"
    assert configuration(slave).get_prop("webapp", "TCPPort") == "8080"  # the rest is the master's
    assert "this host kept its own network: move the old master's network roles" in outcome.out
    assert "this host now has the master's network" not in outcome.out


def test_without_restore_config_the_master_network_is_applied_by_interface_update(slave):
    # The stand-in action reads the networks database the event applies.
    install_recording_action(slave, "interface-update", "S30record",
                             'grep ^eth0 "$HOTSYNC_ROOT/var/lib/nethserver/db/networks" >> "$HOTSYNC_ROOT/calls.log"\n')

    outcome = promote_with_yes(slave, "--network", "continue")

    assert outcome.code == 0, outcome.err + outcome.out
    assert recorded_calls(slave) == ["signal-event interface-update", "eth0=ethernet|ipaddr|192.168.1.1|role|green"]
    assert "the master's network applied by 'signal-event interface-update'" in outcome.out
    assert "this host now has the master's network configuration" in outcome.out


def test_network_cards_named_otherwise_stop_the_promotion_before_any_change(slave):
    write_file(database_path(Root(slave), "networks"),
          "ens18=ethernet|ipaddr|192.168.1.2|role|green\nens19=ethernet|role|red\nbr0=bridge|role|blue\n")
    # The master's backup has eth0 (green) only; make it name a second card and a bridge too.
    master_networks = "eth0=ethernet|role|green\neth1=ethernet|role|red\nbr0=bridge|role|blue\n"
    rebuild_master_backup(slave, networks=master_networks)
    install_recording_restore_config(slave)
    before = tree_of(slave)

    stopped = promote_with_yes(slave, "--network", "continue")

    assert stopped.code == 1
    assert "promotion stopped before any change" in stopped.err
    assert "its network card(s) eth0, eth1 have no card of the same name here" in stopped.err
    assert "this host's cards: ens18, ens19" in stopped.err
    assert "'hotsync-promote --network keep'" in stopped.err
    assert "'hotsync-promote --remap-interfaces eth0=ens18,eth1=ens19'" in stopped.err
    assert tree_of(slave) == before
    assert recorded_calls(slave) == []

    kept = promote_with_yes(slave, "--network", "keep")

    assert kept.code == 0, kept.err + kept.out
    assert configuration(slave, "networks").get_prop("ens18", "ipaddr") == "192.168.1.2"


def cards_named_otherwise(slave) -> None:
    write_file(database_path(Root(slave), "networks"), "ens18=ethernet|ipaddr|192.168.1.2|role|green\nens19=ethernet\n")
    rebuild_master_backup(slave, networks="eth0=ethernet|ipaddr|192.168.1.1|role|green\neth1=ethernet|role|red\n")


def test_remapped_cards_take_the_masters_network_through_restore_config(slave):
    cards_named_otherwise(slave)
    install_recording_restore_config(slave)

    outcome = promote_with_yes(slave, "--network", "continue", "--remap-interfaces", "eth0=ens18,eth1=ens19")

    assert outcome.code == 0, outcome.err + outcome.out
    assert recorded_calls(slave) == ["restore-config --no-reinstall --remap-interfaces=eth0,ens18,eth1,ens19"]
    assert "onto ens18 (the master's eth0), ens19 (the master's eth1)" in outcome.out


def test_remapped_cards_are_renamed_by_interface_update_without_restore_config(slave):
    cards_named_otherwise(slave)
    install_recording_action(slave, "interface-update", "S20rename")

    outcome = promote_with_yes(slave, "--remap-interfaces", "eth0=ens18,eth1=ens19")

    assert outcome.code == 0, outcome.err + outcome.out
    assert recorded_calls(slave) == ["signal-event interface-update eth0 ens18 eth1 ens19"]


def test_a_remap_that_does_not_cover_the_masters_cards_stops_before_any_change(slave, hotsync):
    cards_named_otherwise(slave)
    before = tree_of(slave)

    partly = promote_with_yes(slave, "--remap-interfaces", "eth0=ens18")
    unknown = promote_with_yes(slave, "--remap-interfaces", "eth0=ens18,eth7=ens19")
    malformed = hotsync("--root", slave, "promote", "--yes", "--remap-interfaces", "eth0")
    twice = hotsync("--root", slave, "promote", "--yes", "--remap-interfaces", "eth0=ens18,eth1=ens18")
    contradictory = hotsync("--root", slave, "promote", "--yes", "--network", "keep", "--remap-interfaces", "eth0=ens18")

    assert partly.code == 1 and "its network card(s) eth1 have no card of the same name here" in partly.err
    assert unknown.code == 1 and "--remap-interfaces names eth7, which the master's network does not have" in unknown.err
    assert malformed.code == 2 and "'eth0' is not MASTER_CARD=THIS_CARD" in malformed.err
    assert twice.code == 2 and "this host's card ens18 is named more than once" in twice.err
    assert contradictory.code == 2 and "choose one" in contradictory.err
    assert tree_of(slave) == before


def test_a_failed_restore_config_stops_the_promotion_with_this_hosts_records_and_a_rerun_finishes(slave):
    install_recording_restore_config(slave, exit_code=1)

    failed = promote_with_yes(slave, "--network", "continue")

    assert failed.code == 1
    assert "'restore the configuration': restore-config --no-reinstall exited 1" in failed.err
    assert "Restore status: FAIL" in failed.err
    database = configuration(slave)
    assert database.get_prop("hotsync", "role") == "slave"  # not the master's record left by the unpacking
    assert database.get_prop("hotsync", "PromotionStarted")
    assert database.get_prop("rsyncd", "password") == PASSWORD
    install_recording_restore_config(slave)

    resumed = promote_with_yes(slave)

    assert resumed.code == 0, resumed.err + resumed.out
    assert recorded_calls(slave) == ["restore-config --no-reinstall"] * 2
    assert configuration(slave).get_prop("hotsync", "role") == "master"


# ----------------------------------------------------------------------------- nothing restored twice

# What nethserver-mysql's post-restore-data action does with the dumps folder (mysql-load-tables):
# every *.dump there is handed to the server to load.
LOAD_TABLES = 'for dump in "$HOTSYNC_ROOT"/var/lib/nethserver/backup/mysql/*.dump; do ' \
              'echo "load $(basename "$dump")" >> "$HOTSYNC_ROOT/calls.log"; done\n'


def test_post_restore_data_does_not_load_again_the_dumps_promotion_loaded(slave, tmp_path):
    write_file(slave / "var/lib/hotsync/sandbox-packages", "nethserver-mysql 1.0\nnethserver-nextcloud 1.0\n")
    dumps = slave / "var/lib/nethserver/backup/mysql"
    for name in ("mysql", "nextcloud", "shop"):
        write_file(dumps / f"{name}.dump", f"-- the master's {name} database\n")
    client = tmp_path / "bin/mysql"  # records what promotion asks the server to load
    write_file(client, f'#!/bin/sh\necho "mysql $*" >> "{slave}/calls.log"\n', 0o755)
    install_recording_action(slave, "post-restore-data", "S02load-tables", LOAD_TABLES)

    promoted = promote_with_yes(slave, "--network", "continue", environment={"PATH": path_with(client.parent)})
    assert promoted.code == 0, promoted.err + promoted.out
    assert f"source {slave}/var/lib/nethserver/backup/mysql/nextcloud.dump -- nextcloud" in recorded_calls(slave)[-1]
    assert "signal-event post-restore-data" in promoted.out
    admin(slave, "signal-event", "post-restore-data", in_process=True)

    loaded_again = [line for line in recorded_calls(slave) if line.startswith("load ")]
    assert loaded_again == ["load mysql.dump", "load shop.dump"]
    aside = slave / LOADED_DUMPS_FOLDER.lstrip("/") / "var/lib/nethserver/backup/mysql/nextcloud.dump"
    assert aside.read_text() == "-- the master's nextcloud database\n"
    assert stat.S_IMODE(os.stat(slave / LOADED_DUMPS_FOLDER.lstrip("/")).st_mode) == 0o700


# ----------------------------------------------------------------------------- helpers


def rebuild_master_backup(slave, networks: str) -> None:
    """The synced backup again, as the master would make it with ``networks`` as its networks database."""
    master = slave.parent / "master"
    write_file(database_path(Root(master), "networks"), networks)
    make_config_backup(Root(master), InstalledPackages(Root(master)))
    shutil.rmtree(slave / "var/lib/nethserver/backup")
    shutil.copytree(master / "var/lib/nethserver/backup", slave / "var/lib/nethserver/backup")


def tree_of(root):
    return tree_digest(root)


# ----------------------------------------------------------------------------- what does not stop a promotion

TOLERANT_RULES = """rule tests-tolerant {
    owner vmail:vmail recursive /var/lib/nethserver/vmail/
    promote optional run /usr/bin/freshclam
    promote run /usr/local/bin/after
}
"""


def test_a_failed_optional_step_and_a_missing_owner_are_reported_and_promotion_goes_on(slave, hotsync):
    """Without the internet (the dead master was the gateway) freshclam fails; the master's
    mailboxes never synced and this host has no vmail user. The original promoted anyway."""
    write_file(slave / "etc/hotsync/rules.d/90-tests.hs", TOLERANT_RULES)
    write_file(slave / "usr/bin/freshclam", "#!/bin/sh\necho 'Cannot connect to port 80 of host database.clamav.net' >&2\n"
          "exit 62\n", 0o755)
    write_file(slave / "usr/local/bin/after", f"#!/bin/sh\ntouch {slave}/ran-after\n", 0o755)
    admin(slave, "compile", in_process=True)

    outcome = run_hotsync("--root", slave, "--yes", "--network", "continue", program="hotsync-promote")

    assert outcome.code == 0, outcome.err + outcome.out
    assert configuration(slave).get_prop("hotsync", "role") == "master"
    assert (slave / "ran-after").exists(), "the steps after the failed optional one ran"
    assert "tests-tolerant: run /usr/bin/freshclam: FAILED (optional, promotion goes on): failed: " in outcome.out
    summary = outcome.out[outcome.out.index("Promotion complete"):]
    warnings = [line for line in summary.splitlines() if line.startswith("  warning: ")]
    assert len(warnings) == 2, summary
    assert warnings[0].startswith("  warning: fix permissions: owner vmail:vmail") and "user 'vmail' does not exist" in warnings[0]
    assert "exit 62" in warnings[1] and "database.clamav.net" in warnings[1] and "90-tests.hs:3:5" in warnings[1]
    status = hotsync("--root", slave, "status")
    assert status.code == 0
    assert "promotion: finished " in status.out
    assert [line for line in status.out.splitlines() if line.startswith("  warning: ")] == warnings
