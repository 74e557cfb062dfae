"""``hotsync-slave`` on a sandbox slave: owners by the root's own names, cron jobs, packages."""

import hashlib
import io
import os
import shutil
import socket
import stat
import tarfile

import pytest
from support.hosts import Host, free_port, write_file
from support.runner import admin, run_hotsync
from support.scenarios import ASTERISK_ID, VMAIL_ID, make_slave, make_synced_files

from hotsync.root import Root
from hotsync.runtime.accounts import parse_account_file
from hotsync.runtime.ownership import change_owners

SAVE = "nethserver-hotsync-save"
UPDATE = "nethserver-hotsync-update"


def owner_of(path):
    status = os.lstat(path)
    return status.st_uid, status.st_gid


def test_fixperm_gives_synced_paths_their_owners_and_disables_cron_jobs(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    # a synced link pointing outside the tree must not hand its target to a service user
    outside = write_file(sandbox.parent / "outside.txt", "not ours\n")
    os.symlink(outside, sandbox / "var/lib/asterisk/escape")

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    asterisk = (ASTERISK_ID, ASTERISK_ID)
    for name in ("etc/freepbx.conf", "etc/amportal.conf", "etc/asterisk", "etc/asterisk/sip.conf",
                 "var/lib/asterisk/db/astdb", "var/www/html/freepbx/index.php", "var/lib/asterisk/escape"):
        assert owner_of(sandbox / name) == asterisk, name
    assert owner_of(outside) == (0, 0)
    assert owner_of(sandbox / "srv/vmail/user/cur/mail1") == (VMAIL_ID, VMAIL_ID)
    # 'matching': only the compiled sieve scripts
    assert owner_of(sandbox / "srv/sieve/user/default.svbin") == (VMAIL_ID, VMAIL_ID)
    assert owner_of(sandbox / "srv/sieve/user/default.sieve") == (0, 0)
    assert owner_of(sandbox / "srv/sieve/user") == (0, 0)
    # cron: master-only files gone, periodic jobs not executable, HotSync's own schedule kept
    for name in ("backup-data", "dante", "queuereport"):
        assert not (sandbox / "etc/cron.d" / name).exists()
    assert (sandbox / "etc/cron.d/hotsync").exists()
    for job in ("cron.hourly/0anacron", "cron.daily/logrotate", "cron.weekly/report", "cron.monthly/cleanup"):
        assert stat.S_IMODE(os.stat(sandbox / "etc" / job).st_mode) == 0o644, job
    assert "absent, optional: /srv/not-there" in outcome.out
    assert "made 4 job(s) non-executable" in outcome.out

    again = hotsync("--root", sandbox, "slave", "fixperm")
    assert again.code == 0
    assert "0 path(s) given to asterisk:asterisk" in again.out


def test_a_missing_user_is_a_warning_that_fixperm_does_not_mail_and_status_lists(hotsync, sandbox):
    """The original went on without the user; fixperm runs every 15 minutes from cron, which
    mails whatever reaches stderr: a warning there would mail root 96 times a day."""
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    write_file(sandbox / "etc/passwd", f"root:x:0:0::/root:/bin/sh\nvmail:x:{VMAIL_ID}:{VMAIL_ID}::/:/sbin/nologin\n")

    outcome = run_hotsync("--root", sandbox, "fixperm", program="hotsync-slave")

    # the three FreePBX owner statements warn, the mail ones still run
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.count("user 'asterisk' does not exist in /etc/passwd of this host") == 3
    assert "warning: owner asterisk:asterisk /etc/freepbx.conf /etc/amportal.conf" in outcome.out
    assert owner_of(sandbox / "srv/vmail/user/cur/mail1") == (VMAIL_ID, VMAIL_ID)
    status = hotsync("--root", sandbox, "status")
    warnings = [line for line in status.out.splitlines() if line.startswith("  warning: owner asterisk:asterisk")]
    assert len(warnings) == 3 and all("user 'asterisk' does not exist" in line for line in warnings)
    assert "last upkeep: " in status.out and "(fixperm, ok)" in status.out

    daily = run_hotsync("--root", sandbox, program="hotsync-slave")
    assert daily.code == 0
    assert daily.err.count("user 'asterisk' does not exist") == 3, "the daily upkeep mails them, once a day"


def test_a_missing_path_is_a_named_warning(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    (sandbox / "etc/amportal.conf").unlink()

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    assert "missing: /etc/amportal.conf" in outcome.out
    assert owner_of(sandbox / "etc/freepbx.conf") == (ASTERISK_ID, ASTERISK_ID), "the statement's other path"
    assert "missing: /etc/amportal.conf" in hotsync("--root", sandbox, "status").out



OTHER_ID = 4444  # owns a file outside the tree that must keep its owner


def make_outside_folder(sandbox):
    """A folder outside the synced tree, shaped like a mail folder, whose files a swapped
    link would hand to vmail: one owned by root, one by another user."""
    outside = sandbox.parent / "outside"
    write_file(outside / "secret", "root's\n")
    write_file(outside / "cur/mail1", "root's too\n")
    os.chown(write_file(outside / "other", "someone else's\n"), OTHER_ID, OTHER_ID)
    return outside


def owners_under(folder):
    return {str(path.relative_to(folder)): owner_of(path) for path in sorted(folder.rglob("*"))}


def chown_hook(monkeypatch, actions):
    """Run ``actions[name]()`` right after root changes the owner of an entry called
    ``name``, whichever call the code uses (by path or inside an open folder)."""
    for function_name in ("chown", "lchown"):
        original = getattr(os, function_name)

        def hooked(path, *arguments, original=original, **options):
            original(path, *arguments, **options)
            action = actions.pop(os.path.basename(os.fspath(path)), None)
            if action:
                action()

        monkeypatch.setattr(os, function_name, hooked)


def swap_for_link(folder, outside):
    """What a service user does: move their folder away and put a link to ``outside`` in its place."""
    def swap():
        folder.rename(folder.with_name(folder.name + ".moved"))
        folder.symlink_to(outside)
    return swap


@pytest.mark.parametrize("swapped, hook", [
    ("user", "user"),  # the folder the walk is about to enter
    ("user", "cur"),  # a folder the walk is inside of already
    ("user/cur", "cur"),  # a folder one level deeper
])
def test_a_folder_swapped_for_a_link_during_fixperm_hands_nothing_outside(hotsync, sandbox, monkeypatch,
                                                                          swapped, hook):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    outside = make_outside_folder(sandbox)
    before = owners_under(outside)
    chown_hook(monkeypatch, {hook: swap_for_link(sandbox / "srv/vmail" / swapped, outside)})

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    assert owners_under(outside) == before
    assert owner_of(sandbox / "srv/vmail" / f"{swapped}.moved") == (VMAIL_ID, VMAIL_ID)
    assert owner_of(sandbox / "srv/vmail" / swapped) == (0, 0), "the user's link came after the walk passed"


def test_files_vanishing_during_fixperm_are_skipped_and_later_rules_still_run(hotsync, sandbox, monkeypatch):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    mailbox = sandbox / "srv/vmail/user"
    write_file(mailbox / "cur/mail2", "read and deleted\n")
    write_file(mailbox / "new/mail3", "moved to cur\n")
    chown_hook(monkeypatch, {
        "mail1": (mailbox / "cur/mail2").unlink,  # listed, gone before its turn
        "cur": lambda: shutil.rmtree(mailbox / "new"),  # a listed folder gone before it is entered
    })

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    assert owner_of(mailbox / "cur/mail1") == (VMAIL_ID, VMAIL_ID)
    # the statement after the mail tree's still ran
    assert owner_of(sandbox / "srv/sieve/user/default.svbin") == (VMAIL_ID, VMAIL_ID)
    assert "FAILED" not in outcome.err


def test_a_link_on_the_way_to_a_path_is_followed_only_from_a_folder_only_root_writes(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    # the admin moved the FreePBX web folder to another disk: root's own link
    moved = sandbox.parent / "disk2/html"
    moved.parent.mkdir()
    (sandbox / "var/www/html").rename(moved)
    (sandbox / "var/www/html").symlink_to(moved)
    # asterisk owns /var/lib/asterisk: its 'db' swapped for a link is refused, not followed
    outside = make_outside_folder(sandbox)
    before = owners_under(outside)
    os.chown(sandbox / "var/lib/asterisk", ASTERISK_ID, ASTERISK_ID)
    write_file(sandbox / "etc/hotsync/rules.d/91-tests.hs",
          "rule tests-deep {\n    owner asterisk:asterisk recursive /var/lib/asterisk/db/cur/\n}\n")
    shutil.move(sandbox / "var/lib/asterisk/db", sandbox / "var/lib/asterisk/db.moved")
    (sandbox / "var/lib/asterisk/db").symlink_to(outside)
    assert hotsync("--root", sandbox, "compile").code == 0

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 1, outcome.err
    assert owner_of(moved / "freepbx/index.php") == (ASTERISK_ID, ASTERISK_ID)
    assert "FAILED owner asterisk:asterisk recursive /var/lib/asterisk/db/cur/ (" in outcome.err
    assert ("/var/lib/asterisk/db/cur/: the symbolic link 'db' on the way lies in a folder other users can write: "
            "not followed, owners left as they are") in outcome.err
    assert owners_under(outside) == before


def test_a_path_that_is_itself_a_link_gets_its_own_owner_and_is_not_followed(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    outside = make_outside_folder(sandbox)
    before = owners_under(outside)
    shutil.rmtree(sandbox / "srv/vmail")
    (sandbox / "srv/vmail").symlink_to(outside)

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 0, outcome.err
    assert owner_of(sandbox / "srv/vmail") == (VMAIL_ID, VMAIL_ID)
    assert owners_under(outside) == before



def test_a_pattern_without_recursion_changes_the_matching_direct_entries_only(sandbox):
    write_file(sandbox / "srv/sieve/default.svbin", "compiled\n")
    write_file(sandbox / "srv/sieve/default.sieve", "source\n")
    write_file(sandbox / "srv/sieve/user/deep.svbin", "compiled\n")
    open_descriptors = len(os.listdir("/proc/self/fd"))

    changed = change_owners(Root(sandbox), "/srv/sieve/", (VMAIL_ID, VMAIL_ID), recursive=False, pattern="*.svbin")

    assert changed == 1
    assert owner_of(sandbox / "srv/sieve/default.svbin") == (VMAIL_ID, VMAIL_ID)
    for name in ("srv/sieve", "srv/sieve/default.sieve", "srv/sieve/user/deep.svbin"):
        assert owner_of(sandbox / name) == (0, 0), name
    assert len(os.listdir("/proc/self/fd")) == open_descriptors, "every folder descriptor closed"



def test_account_lines_whose_id_is_not_an_ascii_number_are_skipped_not_a_traceback():
    text = "odd:x:\u00b2:1\nwide:x:\uff14\uff12:1\nhuge:x:99999999999:1\nvmail:x:4343:4343\n"
    assert parse_account_file(text) == {"vmail": 4343}


def make_master_backup(root, package_names):
    """The configuration backup a master pushes: package list inside, with its .md5."""
    buffer = io.BytesIO()
    content = "".join(f"{name}\n" for name in package_names).encode()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        member = tarfile.TarInfo("var/lib/nethserver/backup/package-list")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    data = buffer.getvalue()
    folder = root / "var/lib/nethserver/backup"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backup-config.tar.xz").write_bytes(data)
    (folder / "backup-config.tar.xz.md5").write_text(f"{hashlib.md5(data).hexdigest()}  backup-config.tar.xz\n")


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_repositories_are_a_warning_not_a_failure(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx", "nethserver-cups"])
    write_file(sandbox / "etc/yum.repos.d/nethserver.repo",
          f"[nethserver-base]\nname=base\nbaseurl=http://127.0.0.1:{closed_port()}/7/base/\nenabled=1\n")

    outcome = run_hotsync("--root", sandbox, program="hotsync-slave")

    assert outcome.code == 0, outcome.err
    assert "Cannot download packages" in outcome.err
    assert "nethserver-cups" in outcome.err
    assert "nethserver-cups" not in (sandbox / "var/lib/hotsync/sandbox-packages").read_text()
    # the other steps still ran
    assert stat.S_IMODE(os.stat(sandbox / "etc/cron.daily/logrotate").st_mode) == 0o644


def test_reachable_repositories_install_the_missing_packages(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx", "nethserver-cups"])
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        write_file(sandbox / "etc/yum.repos.d/nethserver.repo",
              f"[off]\nbaseurl=http://127.0.0.1:{closed_port()}/\nenabled=0\n"
              f"[nethserver-base]\nbaseurl=http://127.0.0.1:{server.getsockname()[1]}/7/base/\n")
        outcome = hotsync("--root", sandbox, "slave")

    assert outcome.code == 0, outcome.err
    assert "installed (sandbox: recorded in /var/lib/hotsync/sandbox-packages): nethserver-cups" in outcome.out
    lines = (sandbox / "var/lib/hotsync/sandbox-packages").read_text().splitlines()
    assert lines == ["nethserver-freepbx 15.0.1", "nethserver-cups"]
    again = hotsync("--root", sandbox, "slave")
    assert "all 2 package(s) of the master are installed" in again.out


def test_damaged_backup_is_a_failure(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx"])
    (sandbox / "var/lib/nethserver/backup/backup-config.tar.xz.md5").write_text("0" * 32 + "  backup-config.tar.xz\n")

    outcome = hotsync("--root", sandbox, "slave")

    assert outcome.code == 1
    assert "does not match its checksum" in outcome.err


def test_slave_upkeep_refuses_on_a_master(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    hotsync("--root", sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")
    assert hotsync("--root", sandbox, "compile").code == 0
    make_synced_files(sandbox)

    outcome = hotsync("--root", sandbox, "slave", "fixperm")

    assert outcome.code == 1
    assert "this host is not a slave (role: master)" in outcome.err
    assert stat.S_IMODE(os.stat(sandbox / "etc/cron.daily/logrotate").st_mode) == 0o755


@pytest.mark.parametrize("arguments", [("slave", "nonsense"), ("slave", "fixperm", "extra")])
def test_usage_errors(hotsync, sandbox, arguments):
    assert hotsync("--root", sandbox, *arguments).code == 2


# --- the role action: yum's events plugin -------------------------------------------------

PLUGIN_CONF = "etc/yum/pluginconf.d/nethserver_events.conf"
PLUGIN_AS_SHIPPED = "[main]\nenabled = 1\nverbose = 0\n"  # nethserver-yum's file
PLUGIN_OFF_BY_HOTSYNC = ("[main]\n# Turned off by HotSync on this slave: packages stay unconfigured until its promotion.\n"
                         "enabled = 0\nverbose = 0\n")


def configured_slave(root):
    Host(root, tunnel_port=free_port(), rsync_port=free_port()).configure("slave")
    return write_file(root / PLUGIN_CONF, PLUGIN_AS_SHIPPED)


def test_a_slave_turns_yums_events_plugin_off_and_a_master_turns_it_back_on(host):
    plugin = configured_slave(host)

    admin(host, "signal-event", SAVE)

    assert plugin.read_text() == PLUGIN_OFF_BY_HOTSYNC
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o644
    assert "yum events plugin turned off" in (host / "var/log/hotsync-events.log").read_text()
    admin(host, "signal-event", SAVE)  # saving again changes nothing
    assert plugin.read_text() == PLUGIN_OFF_BY_HOTSYNC

    # the admin makes the host a master again
    admin(host, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "192.0.2.7", "status", "disabled")
    admin(host, "signal-event", UPDATE)

    assert plugin.read_text() == PLUGIN_AS_SHIPPED
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o644


@pytest.mark.parametrize("written, off", [
    ("[main]\nenabled=1\nverbose=0\n", "[main]\n{mark}\nenabled = 0\nverbose=0\n"),
    ("# yum plugin\n[main]\nverbose = 1\nEnabled: yes\n", "# yum plugin\n[main]\nverbose = 1\n{mark}\nenabled = 0\n"),
    ("[other]\nenabled = 1\n[main]\nverbose = 0\n", "[other]\nenabled = 1\n[main]\n{mark}\nenabled = 0\nverbose = 0\n"),
])
def test_the_plugin_is_turned_off_however_its_file_spells_the_option(host, written, off):
    plugin = configured_slave(host)
    plugin.write_text(written)

    admin(host, "signal-event", UPDATE)

    mark = PLUGIN_OFF_BY_HOTSYNC.splitlines()[1]
    assert plugin.read_text() == off.format(mark=mark)


def test_a_master_keeps_the_plugin_off_when_its_admin_turned_it_off(host):
    Host(host).configure("master", peer="192.0.2.7")
    admin(host, "config", "setprop", "hotsync", "status", "disabled")
    plugin = write_file(host / PLUGIN_CONF, "[main]\nenabled = 0\nverbose = 0\n")

    admin(host, "signal-event", UPDATE)

    assert plugin.read_text() == "[main]\nenabled = 0\nverbose = 0\n"


def test_a_host_without_the_plugin_gets_no_plugin_file(host):
    Host(host, tunnel_port=free_port(), rsync_port=free_port()).configure("slave")

    outcome = admin(host, "signal-event", UPDATE)

    assert not (host / PLUGIN_CONF).exists()
    assert "nothing to turn off" in (host / "var/log/hotsync-events.log").read_text()
    assert outcome.err == ""


def test_a_plugin_file_that_cannot_be_read_fails_the_event_naming_it(host):
    Host(host, tunnel_port=free_port(), rsync_port=free_port()).configure("slave")
    (host / PLUGIN_CONF).mkdir(parents=True)  # root may write anywhere: a folder is what it cannot read

    outcome = run_hotsync("--root", host, "signal-event", UPDATE)

    assert outcome.code == 1
    assert "S70nethserver-hotsync-role" in outcome.err
    log = (host / "var/log/hotsync-events.log").read_text()
    assert f"FAILED yum events plugin: cannot change /{PLUGIN_CONF}: Is a directory" in log
    assert "Traceback" not in log


# --- NethServer's tools: the restore history, the VPN databases ---------------------------

SIGNAL_EVENT = "/sbin/e-smith/signal-event"
PUSH_TO_HISTORY = "/etc/e-smith/events/actions/nethserver-backup-config-push2history"


def install_recording_tool(root, host_path, body="", exit_code=0):
    """A stand-in for one of NethServer's tools inside the root, where HotSync looks for it:
    it appends its name and arguments to ROOT/calls.log, runs the shell lines ``body``, and
    exits ``exit_code``."""
    name = host_path.rsplit("/", 1)[1]
    return write_file(root / host_path.lstrip("/"),
                 f'#!/bin/sh\necho "{name} $*" >> "$HOTSYNC_ROOT/calls.log"\n{body}exit {exit_code}\n', 0o755)


def recorded_calls(root):
    log = root / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_daily_upkeep_configures_the_vpn_packages_it_installed_then_fills_the_restore_history(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx", "nethserver-openvpn"])
    with open(sandbox / "etc/passwd", "a") as accounts:
        accounts.write("srvmgr:x:4545:4545::/:/sbin/nologin\n")
    with open(sandbox / "etc/group", "a") as groups:
        groups.write("adm:x:4:\n")
    (sandbox / "var/lib/nethserver/openvpn-tunnels").mkdir(parents=True)
    # as nethserver-openvpn's update event does, the stand-in creates the vpn database
    install_recording_tool(sandbox, SIGNAL_EVENT, body='touch "$HOTSYNC_ROOT/var/lib/nethserver/db/vpn"\n')
    install_recording_tool(sandbox, PUSH_TO_HISTORY)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        write_file(sandbox / "etc/yum.repos.d/nethserver.repo", f"[base]\nbaseurl=http://127.0.0.1:{server.getsockname()[1]}/\n")
        outcome = hotsync("--root", sandbox, "slave")

    assert outcome.code == 0, outcome.err
    assert recorded_calls(sandbox) == ["signal-event nethserver-openvpn-update", "nethserver-backup-config-push2history "]
    assert "VPN databases: ran nethserver-openvpn-update (/var/lib/nethserver/db/vpn was missing)" in outcome.out
    assert "restore history: the master's configuration backup is in the restore history" in outcome.out

    hotsync("--root", sandbox, "slave", "fixperm")  # every 15 minutes: neither
    again = hotsync("--root", sandbox, "slave")  # the next day: the history only (the database exists now)
    assert again.code == 0, again.err
    assert recorded_calls(sandbox)[2:] == ["nethserver-backup-config-push2history "]


def test_a_backup_that_does_not_match_its_checksum_stays_out_of_the_restore_history(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx"])
    (sandbox / "var/lib/nethserver/backup/backup-config.tar.xz.md5").write_text("0" * 32 + "  backup-config.tar.xz\n")
    install_recording_tool(sandbox, PUSH_TO_HISTORY)

    outcome = hotsync("--root", sandbox, "slave")

    assert recorded_calls(sandbox) == []
    assert "warning: restore history: not added: /var/lib/nethserver/backup/backup-config.tar.xz does not match" in outcome.err
    assert outcome.code == 1  # the packages step's failure alone


def test_a_failing_restore_history_action_is_a_failed_step_with_its_message(hotsync, sandbox):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    make_master_backup(sandbox, ["nethserver-freepbx"])
    install_recording_tool(sandbox, PUSH_TO_HISTORY, body='echo "[ERROR] could not get a free archive element" >&2\n',
                           exit_code=2)

    outcome = run_hotsync("--root", sandbox, program="hotsync-slave")

    assert outcome.code == 1
    assert ("FAILED restore history: nethserver-backup-config-push2history exited 2:\n"
            "[ERROR] could not get a free archive element") in outcome.err
    assert "Traceback" not in outcome.err
    assert stat.S_IMODE(os.stat(sandbox / "etc/cron.daily/logrotate").st_mode) == 0o644  # the later steps ran


def test_the_role_action_runs_the_vpn_packages_update_events_while_the_vpn_database_is_missing(host):
    configured_slave(host)
    write_file(host / "var/lib/hotsync/sandbox-packages", "nethserver-openvpn 1.0\nnethserver-ipsec-tunnels 1.0\n")
    install_recording_tool(host, SIGNAL_EVENT)

    admin(host, "signal-event", UPDATE)

    assert recorded_calls(host) == ["signal-event nethserver-openvpn-update",
                                    "signal-event nethserver-ipsec-tunnels-update"]
    write_file(host / "var/lib/nethserver/db/vpn", "")
    admin(host, "signal-event", SAVE)
    assert len(recorded_calls(host)) == 2, "the database exists: nothing more to create"


def test_the_role_action_of_a_master_runs_no_vpn_event(host):
    Host(host).configure("master", peer="192.0.2.7")
    admin(host, "config", "setprop", "hotsync", "status", "disabled")
    write_file(host / "var/lib/hotsync/sandbox-packages", "nethserver-openvpn 1.0\n")
    install_recording_tool(host, SIGNAL_EVENT)

    admin(host, "signal-event", UPDATE)

    assert recorded_calls(host) == []
