"""Settings as NethServer's tools and the original HotSync leave them in the configuration database."""

import re
from pathlib import Path

from support.hosts import free_port
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync

from hotsync.root import Root

DB = "var/lib/nethserver/db/configuration"
GENERATED = ("/etc/cron.d/hotsync", "/etc/stunnel/stunnel.conf", "/etc/rsyncd.conf", "/etc/rsyncd.secrets",
             "/etc/hotsync.conf", "/var/lib/nethserver/hotsync/plan.json")


def configured(root: Path, *hotsync_props: str) -> Path:
    admin(root, "install", "--quiet")
    admin(root, "config", "setprop", "rsyncd", "password", PASSWORD)
    admin(root, "config", "setprop", "hotsync", *hotsync_props)
    return root


def generated_files(root: Path) -> dict:
    """The files the compiler wrote, the root's own path in them spelled ROOT."""
    return {path: Root(root).path(path).read_text().replace(str(root), "ROOT") for path in GENERATED}


# --- the original's role 'server': a master that does not push ----------------------


def test_role_server_compiles_as_a_master_that_does_not_push(tmp_path):
    server = configured(tmp_path / "server", "role", "server", "SlaveHost", "192.168.1.2")
    disabled_master = configured(tmp_path / "master", "role", "master", "SlaveHost", "192.168.1.2", "status", "disabled")

    outcome = admin(server, "compile")
    admin(disabled_master, "compile", "--quiet")

    assert generated_files(server) == generated_files(disabled_master)
    assert "5,20,35,50" not in (server / "etc/cron.d/hotsync").read_text()  # no sync job
    assert "role 'server' is read as a master that does not push" in outcome.err + outcome.out


def test_role_server_needs_no_slave_and_its_role_action_starts_no_tunnel(sandbox):
    configured(sandbox, "role", "server")

    outcome = run_hotsync("--root", sandbox, "signal-event", "nethserver-hotsync-save")

    assert outcome.code == 0, outcome.err
    assert admin(sandbox, "config", "getprop", "stunnel", "status").out == "disabled\n"
    assert admin(sandbox, "config", "getprop", "rsyncd", "status").out == "disabled\n"
    status = admin(sandbox, "status").out
    assert status.startswith("role: master (disabled)\n")
    sync = run_hotsync("--root", sandbox, "sync")
    assert sync.code == 1 and "HotSync is disabled on this host" in sync.err


# --- the shared secret and NethServer's '|' ---------------------------------------------


def test_the_generated_password_holds_no_character_nethservers_tools_change(tmp_path):
    for index in range(5):
        root = tmp_path / f"host{index}"
        root.mkdir()
        admin(root, "install", "--quiet")
        password = admin(root, "config", "getprop", "rsyncd", "password").out.rstrip("\n")
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", password), "no '|' (stripped or split on) and no '\\'"


def test_a_password_with_a_pipe_written_by_another_tool_is_refused_at_compile(sandbox):
    configured(sandbox, "role", "master", "SlaveHost", "192.168.1.2")
    database = sandbox / DB
    text = database.read_text().replace(f"password|{PASSWORD}|", "password|long-enough\\|secret|")
    database.write_text(text)  # an escaped '|', as an earlier HotSync wrote it

    outcome = run_hotsync("--root", sandbox, "compile", "--check")

    assert outcome.code == 1
    assert outcome.err.splitlines()[0] == (
        "configuration:rsyncd.password: error: the password contains '|', which NethServer's tools strip or cut"
        " the record at: choose one without '|' and set it on both hosts")
    assert "long-enough" not in outcome.err


def test_a_password_with_a_raw_pipe_from_nethservers_config_stops_hotsync_at_its_line(sandbox):
    configured(sandbox, "role", "master", "SlaveHost", "192.168.1.2")
    database = sandbox / DB
    lines = database.read_text().splitlines(keepends=True)
    number = next(index for index, line in enumerate(lines, 1) if line.startswith("rsyncd="))
    # what 'config setprop rsyncd password long|secret' leaves: the fields after the '|' shift
    lines[number - 1] = "rsyncd=service|TCPPort|873|password|long|secret|status|disabled\n"
    database.write_text("".join(lines))

    outcome = run_hotsync("--root", sandbox, "compile", "--check")

    assert outcome.code == 1
    assert outcome.err == (
        f"hotsync: {database}:{number}: error: record 'rsyncd' has a property without a value ('disabled' is read"
        " as absent): a raw '|' inside a value, as 'config setprop' writes it, shifts every field after it\n")


def test_an_odd_record_hotsync_does_not_use_is_a_warning_and_the_event_still_runs(sandbox):
    configured(sandbox, "role", "master", "SlaveHost", "192.168.1.2")
    database = sandbox / DB
    database.write_text(database.read_text() + "sshd=service|Banner|a|b|status|enabled\n")
    number = database.read_text().count("\n")

    outcome = run_hotsync("--root", sandbox, "compile")

    assert outcome.code == 0, outcome.err
    assert f"hotsync: {database}:{number}: warning: record 'sshd' has a property without a value" in outcome.err
    assert "sshd=service|Banner|a|b|status|enabled\n" in database.read_text()


def test_a_master_whose_role_is_cleared_stops_its_tunnel_and_the_event_succeeds(host):
    configured(host, "role", "master", "SlaveHost", "127.0.0.1", "SlavePort", str(free_port()))
    admin(host, "config", "setprop", "rsyncd", "TCPPort", str(free_port()))
    assert run_hotsync("--root", host, "signal-event", "nethserver-hotsync-save").code == 0
    assert (host / "var/run/stunnel.pid").exists(), "the master's tunnel client runs"
    admin(host, "config", "setprop", "hotsync", "role", "")

    outcome = run_hotsync("--root", host, "signal-event", "nethserver-hotsync-save")

    assert outcome.code == 0, outcome.err
    assert admin(host, "config", "getprop", "stunnel", "status").out == "disabled\n"
    assert admin(host, "config", "getprop", "rsyncd", "status").out == "disabled\n"
    assert not (host / "var/run/stunnel.pid").exists(), "no tunnel is left running without a role"
