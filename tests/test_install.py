"""``hotsync install`` and the admin's first steps on a fresh host (the README's quick start)."""

import os
import stat

from support.runner import admin, run_hotsync


def test_install_lays_events_defaults_rules_and_plugin_folder(sandbox):
    outcome = admin(sandbox, "install")
    events = sandbox / "etc/e-smith/events"
    role_action = events / "nethserver-hotsync-save/S70nethserver-hotsync-role"
    assert role_action.stat().st_mode & stat.S_IXUSR
    assert (events / "nethserver-hotsync-save/services2adjust/stunnel").read_text() == "restart\n"
    assert os.access(events / "nethserver-hotsync-update/S05nethserver-hotsync-compile", os.X_OK)
    assert not (events / "nethserver-hotsync-update/templates2expand").exists()
    assert (sandbox / "etc/e-smith/db/configuration/defaults/hotsync/SlavePort").read_text() == "273\n"
    assert (sandbox / "etc/hotsync/hotsync.hs").is_file()
    assert (sandbox / "etc/hotsync.d").is_dir()
    assert "default: hotsync.SlavePort=273" in outcome.out
    shown = admin(sandbox, "config", "show", "hotsync").out
    assert shown == (
        "hotsync=configuration\n    MasterHost=\n    Mode=interval\n    SlaveHost=\n    SlavePort=273\n"
        "    databases=enabled\n    role=\n    status=enabled\n"
    )
    assert admin(sandbox, "config", "gettype", "stunnel").out == "service\n"
    assert admin(sandbox, "config", "getprop", "rsyncd", "TCPPort").out == "873\n"


def test_install_generates_a_strong_secret_but_never_prints_it(sandbox):
    outcome = admin(sandbox, "install")
    password = admin(sandbox, "config", "getprop", "rsyncd", "password").out.strip()
    assert len(password) >= 24
    assert password not in outcome.out
    database = sandbox / "var/lib/nethserver/db/configuration"
    assert database.stat().st_mode & 0o777 == 0o600  # it holds the shared secret


def test_install_twice_keeps_the_admins_settings_and_edits(sandbox):
    admin(sandbox, "install", "--quiet")
    admin(sandbox, "config", "setprop", "hotsync", "SlavePort", "2730", "role", "master")
    admin(sandbox, "config", "setprop", "rsyncd", "password", "my-own-shared-secret")
    rules = sandbox / "etc/hotsync/hotsync.hs"
    edited = rules.read_text() + "\nrule local {\n    include /srv/local/\n}\n"
    rules.write_text(edited)

    outcome = admin(sandbox, "install")

    assert admin(sandbox, "config", "getprop", "hotsync", "SlavePort").out == "2730\n"
    assert admin(sandbox, "config", "getprop", "hotsync", "role").out == "master\n"
    assert admin(sandbox, "config", "getprop", "rsyncd", "password").out == "my-own-shared-secret\n"
    assert rules.read_text() == edited
    assert (sandbox / "etc/hotsync/hotsync.hs.hsnew").is_file()
    assert "kept your edited /etc/hotsync/hotsync.hs" in outcome.out


def test_install_again_with_nothing_to_do_says_so(sandbox):
    admin(sandbox, "install", "--quiet")
    outcome = admin(sandbox, "install")
    assert outcome.out == f"HotSync is installed and up to date in {sandbox}\n"


def test_install_restores_a_deleted_event_handler(sandbox):
    admin(sandbox, "install", "--quiet")
    handler = sandbox / "etc/e-smith/events/nethserver-hotsync-save/S70nethserver-hotsync-role"
    handler.unlink()
    admin(sandbox, "install", "--quiet")
    assert os.access(handler, os.X_OK)


def test_readme_quick_start_configures_a_master(sandbox):
    """The README's commands, as typed by a new admin: install, setprop, show, signal-event."""
    try:
        admin(sandbox, "install")
        admin(sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")
        assert "    role=master\n" in admin(sandbox, "config", "show", "hotsync").out
        admin(sandbox, "signal-event", "nethserver-hotsync-update")

        stunnel = (sandbox / "etc/stunnel/stunnel.conf").read_text()
        assert "client = yes" in stunnel and "connect = 127.0.0.1:273" in stunnel
        assert (sandbox / "etc/cron.d/hotsync").read_text().splitlines()[1].startswith("5,20,35,50 * * * * root ")
        assert admin(sandbox, "config", "getprop", "stunnel", "status").out == "enabled\n"
        assert admin(sandbox, "config", "getprop", "rsyncd", "status").out == "disabled\n"
        status = admin(sandbox, "services", "status").out
        assert "stunnel: running" in status and "rsyncd: stopped" in status
        log = (sandbox / "var/log/hotsync-events.log").read_text()
        assert "S05nethserver-hotsync-compile: ok" in log and "S70nethserver-hotsync-role: ok" in log
    finally:
        run_hotsync("--root", sandbox, "services", "stop")


def test_an_invalid_setting_fails_the_event_and_leaves_the_running_configuration(sandbox):
    try:
        admin(sandbox, "install", "--quiet")
        admin(sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")
        admin(sandbox, "signal-event", "nethserver-hotsync-save")
        before = (sandbox / "etc/stunnel/stunnel.conf").read_bytes()
        pid = (sandbox / "var/run/stunnel.pid").read_text()

        admin(sandbox, "config", "setprop", "hotsync", "SlaveHost", "bad host!")
        outcome = run_hotsync("--root", sandbox, "signal-event", "nethserver-hotsync-save")

        assert outcome.code == 1
        assert "S05nethserver-hotsync-compile" in outcome.err
        log = (sandbox / "var/log/hotsync-events.log").read_text()
        assert "configuration:hotsync.SlaveHost: error: 'bad host!' is not an IPv4/IPv6 address or a host name" in log
        assert (sandbox / "etc/stunnel/stunnel.conf").read_bytes() == before
        assert (sandbox / "var/run/stunnel.pid").read_text() == pid  # not restarted
    finally:
        run_hotsync("--root", sandbox, "services", "stop")


def test_install_removes_the_template_entries_an_earlier_version_left_without_templates(sandbox):
    """NethServer's signal-event fails on a templates2expand entry with no template fragments."""
    listed = sandbox / "etc/e-smith/events/nethserver-hotsync-save/templates2expand"
    for entry in ("etc/rsyncd.conf", "etc/stunnel/stunnel.conf", "etc/motd"):
        (listed / entry).parent.mkdir(parents=True, exist_ok=True)
        (listed / entry).write_text("")
    (sandbox / "etc/e-smith/templates/etc/motd").mkdir(parents=True)
    (sandbox / "etc/e-smith/templates/etc/motd/10banner").write_text("{ 'hello' }\n")

    outcome = admin(sandbox, "install")

    assert sorted(path.relative_to(listed).as_posix() for path in listed.rglob("*")) == ["etc", "etc/motd"]
    assert "removed: /etc/e-smith/events/nethserver-hotsync-save/templates2expand/etc/rsyncd.conf" in outcome.out
    old_update = sandbox / "etc/e-smith/events/nethserver-hotsync-update/templates2expand"
    old_update.mkdir(parents=True)
    (old_update / "hotsync.conf").write_text("")
    admin(sandbox, "install", "--quiet")
    assert not old_update.exists()


def test_install_gives_stunnel_a_unit_where_the_host_has_none(sandbox):
    admin(sandbox, "install", "--quiet")

    unit = (sandbox / "usr/lib/systemd/system/stunnel.service").read_text()
    assert "ExecStart=/usr/bin/stunnel /etc/stunnel/stunnel.conf\n" in unit
    assert "Type=forking\nPIDFile=/var/run/stunnel.pid\n" in unit
    assert "WantedBy=multi-user.target" in unit


def test_install_lays_the_continuous_push_service_disabled(sandbox):
    admin(sandbox, "install", "--quiet")

    unit = (sandbox / "usr/lib/systemd/system/hotsync-watch.service").read_text()
    assert "ExecStart=" in unit and unit.split("ExecStart=")[1].split("\n")[0].endswith("/hotsync watch")
    assert "SuccessExitStatus=143\n" in unit
    assert admin(sandbox, "config", "getprop", "hotsync-watch", "status").out == "disabled\n"


def test_install_leaves_a_stunnel_unit_the_platform_or_the_admin_has(sandbox):
    local = sandbox / "etc/systemd/system/stunnel.service"
    local.parent.mkdir(parents=True)
    local.write_text("[Service]\nExecStart=/opt/stunnel\n")

    admin(sandbox, "install", "--quiet")

    assert not (sandbox / "usr/lib/systemd/system/stunnel.service").exists()
    assert local.read_text() == "[Service]\nExecStart=/opt/stunnel\n"


def test_sync_interval_sets_the_push_schedule_and_bwlimit_caps_the_push(sandbox):
    """``SyncInterval`` and ``BwLimit`` as an admin sets them: the cron line and the plan follow."""
    admin(sandbox, "install", "--quiet")
    admin(sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")
    cron = sandbox / "etc/cron.d/hotsync"
    for interval, schedule in (("30", "5,35 * * * *"), ("7", "3,10,17,24,31,38,45,52,59 * * * *"),
                               ("1", "* * * * *"), ("360", "5 0,6,12,18 * * *")):
        admin(sandbox, "config", "setprop", "hotsync", "SyncInterval", interval, "BwLimit", "2048")
        admin(sandbox, "compile", "--quiet")
        assert cron.read_text().splitlines()[1].startswith(f"{schedule} root "), interval
    assert '"bwlimit": 2048' in (sandbox / "var/lib/nethserver/hotsync/plan.json").read_text()

    admin(sandbox, "config", "setprop", "hotsync", "SyncInterval", "90")
    before = cron.read_bytes()
    outcome = run_hotsync("--root", sandbox, "compile")
    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == ("configuration:hotsync.SyncInterval: error: '90' is not an interval cron can"
                                           " keep: above 60 minutes use whole hours (120, 180... 1440)")
    assert cron.read_bytes() == before


def test_a_schedule_in_the_rules_wins_over_sync_interval_and_says_so(sandbox):
    admin(sandbox, "install", "--quiet")
    admin(sandbox, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1", "SyncInterval", "5")
    rules = sandbox / "etc/hotsync/hotsync.hs"
    rules.write_text(rules.read_text().replace("role master {\n", 'role master {\n    schedule sync "0 3 * * *"\n'))
    line = rules.read_text().split("\n").index('    schedule sync "0 3 * * *"') + 1
    outcome = admin(sandbox, "compile")
    assert (f"/etc/hotsync/hotsync.hs:{line}:5: warning: this schedule replaces the push every 5 minutes set at"
            " configuration:hotsync.SyncInterval: remove it to push at that interval") in outcome.err
    assert (sandbox / "etc/cron.d/hotsync").read_text().splitlines()[1].startswith("0 3 * * * root ")
