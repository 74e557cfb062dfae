"""HotSync's own events, as NethServer's stock tools and HotSync's signal-event run them.

NethServer's Perl ``signal-event`` runs every executable of the event folder sorted by name,
adds its template expansion at S05 when ``templates2expand/`` exists (each entry must have
fragments under ``/etc/e-smith/templates/``, else "No templates were found"), and its service
adjustment at S90 when ``services2adjust/`` exists. These tests hold the shipped events to what
that tool needs, then run them with HotSync's own ``signal-event``.
"""

import os
import socket
import subprocess
from pathlib import Path

import pytest
from support.hosts import Host, free_port
from support.runner import admin, run_hotsync

from hotsync.host import host_for
from hotsync.nethserver.events import handler_environment, plan_event, run_event
from hotsync.resources import shipped_folder
from hotsync.root import Root

SAVE = "nethserver-hotsync-save"
UPDATE = "nethserver-hotsync-update"
EVENTS = shipped_folder("events")


def shipped_event_folders():
    return sorted(path for path in EVENTS.iterdir() if path.is_dir() and path.name != "__pycache__")


def test_hotsync_ships_the_update_and_save_events():
    assert [folder.name for folder in shipped_event_folders()] == [SAVE, UPDATE]


@pytest.mark.parametrize("folder", shipped_event_folders(), ids=lambda folder: folder.name)
def test_every_action_is_an_executable_script(folder):
    actions = [path for path in folder.iterdir() if path.is_file()]
    assert actions
    for action in actions:
        assert os.access(action, os.X_OK), f"{action.name} is not executable: the stock tool would skip it"
        assert action.read_text().startswith("#!/bin/sh\n")


@pytest.mark.parametrize("folder", shipped_event_folders(), ids=lambda folder: folder.name)
def test_no_template_entry_names_a_template_that_is_not_shipped(folder):
    """HotSync ships no e-smith template fragments: its compiler action writes the files."""
    listed = folder / "templates2expand"
    entries = [path for path in listed.rglob("*") if path.is_file()] if listed.exists() else []
    assert entries == []


@pytest.mark.parametrize("folder", shipped_event_folders(), ids=lambda folder: folder.name)
def test_the_tunnel_the_rsync_daemon_and_the_watch_are_restarted_the_nethserver_way(folder):
    services = folder / "services2adjust"
    assert {path.name: path.read_text() for path in services.iterdir()} == {
        "hotsync-watch": "restart\n", "rsyncd": "restart\n", "stunnel": "restart\n",
    }


def installed(sandbox: Path) -> Path:
    admin(sandbox, "install", "--quiet")
    return sandbox


def test_the_save_event_compiles_sets_the_role_opens_the_firewall_then_adjusts_and_backs_up(sandbox):
    steps = [step.name for step in plan_event(Root(installed(sandbox)), SAVE)]

    # The stock tool sorts the same names the same way (Perl's cmp on the file names).
    assert steps == ["S05nethserver-hotsync-compile", "S70nethserver-hotsync-role", "S89firewall-adjust",
                     "S90adjust-services", "S90backup-config-execute"]


def test_the_update_event_applies_the_defaults_before_it_compiles(sandbox):
    steps = [step.name for step in plan_event(Root(installed(sandbox)), UPDATE)]

    assert steps == ["S00initialize-default-databases", "S05nethserver-hotsync-compile",
                     "S70nethserver-hotsync-role", "S90adjust-services"]


def add_platform_action(root: Path, name: str, record: Path) -> None:
    """A stand-in for one of NethServer's actions: it notes its arguments and what the
    configuration database says about the tunnel when it runs."""
    actions = root / "etc/e-smith/events/actions"
    actions.mkdir(parents=True, exist_ok=True)
    action = actions / name
    action.write_text(f'#!/bin/sh\necho "{name} $* stunnel=$(hotsync config getprop stunnel status)'
                      f'/$(hotsync config getprop stunnel access)" >> "{record}"\necho "{name} done"\n')
    action.chmod(0o755)


def test_the_save_event_runs_nethservers_firewall_and_backup_actions_after_the_role(host, tmp_path):
    Host(host, tunnel_port=free_port(), rsync_port=free_port()).configure("slave")
    record = tmp_path / "record"
    add_platform_action(host, "firewall-adjust", record)
    add_platform_action(host, "backup-config-execute", record)

    result = run_event(Root(host), SAVE)

    assert result.ok, result.failed_steps
    assert record.read_text().splitlines() == [
        f"firewall-adjust {SAVE} stunnel=enabled/green",
        f"backup-config-execute {SAVE} stunnel=enabled/green",
    ]
    tunnel_port = int(admin(host, "config", "getprop", "hotsync", "SlavePort").out)
    with socket.create_connection(("127.0.0.1", tunnel_port), timeout=5):
        pass  # compiled, and the tunnel's daemon started by the services step


def test_without_nethservers_actions_the_save_event_says_there_is_nothing_to_adjust(sandbox):
    result = run_event(Root(installed(sandbox)), SAVE)

    assert result.ok, result.failed_steps
    outputs = {step.name: step.output for step in result.steps}
    assert outputs["S89firewall-adjust"].startswith("no firewall here (")
    assert outputs["S90backup-config-execute"].startswith("no configuration backup tool here (")


def test_a_failing_platform_action_fails_the_save_event(sandbox):
    installed(sandbox)
    actions = sandbox / "etc/e-smith/events/actions"
    actions.mkdir(parents=True)
    (actions / "firewall-adjust").write_text("#!/bin/sh\necho 'shorewall: bad rule' >&2\nexit 3\n")
    (actions / "firewall-adjust").chmod(0o755)

    outcome = run_hotsync("--root", sandbox, "signal-event", SAVE)

    assert outcome.code == 1
    assert "S89firewall-adjust" in outcome.err
    assert "    shorewall: bad rule" in (sandbox / "var/log/hotsync-events.log").read_text()



def test_the_role_action_stops_the_slaves_rsync_daemon_when_the_host_becomes_a_master(host):
    """NethServer's adjust-services takes the services in no set order: the master's tunnel
    client, which listens on the daemon's local port, must not be started while it still runs."""
    Host(host, tunnel_port=free_port(), rsync_port=free_port()).configure("slave")
    assert run_event(Root(host), SAVE).ok
    assert host_for(Root(host)).service_status("rsyncd").running
    admin(host, "config", "setprop", "hotsync", "role", "master", "SlaveHost", "127.0.0.1")

    role_action = host / "etc/e-smith/events" / SAVE / "S70nethserver-hotsync-role"
    environment = handler_environment(Root(host))
    finished = subprocess.run([str(role_action), SAVE], env=environment, capture_output=True, text=True, timeout=60)

    assert finished.returncode == 0, finished.stderr
    assert not host_for(Root(host)).service_status("rsyncd").running
    assert admin(host, "config", "getprop", "rsyncd", "status").out == "disabled\n"
