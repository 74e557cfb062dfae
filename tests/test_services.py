"""The admin's story with the daemons: start, see them serve, stop, see them gone, read their errors.

Under a sandbox root the supervisor runs the real stunnel and rsync daemons on
loopback high ports; under the root ``/`` only the systemctl command lines are
checked (pytest-subprocess), since the test machine has no systemd to drive.
"""

import os
import socket
from pathlib import Path

import pytest
from support.hosts import free_port

from hotsync.host import host_for
from hotsync.root import Root


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def write_rsyncd_config(root: Path, port: int, **extra_globals) -> None:
    (root / "srv").mkdir(exist_ok=True)
    options = {
        "pid file": root / "var/run/rsyncd.pid",
        "port": port,
        "address": "127.0.0.1",
        "use chroot": "no",
        **extra_globals,
    }
    lines = [f"{key} = {value}" for key, value in options.items()]
    lines += ["[data]", f"path = {root / 'srv'}", "read only = yes"]
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/rsyncd.conf").write_text("\n".join(lines) + "\n")


def write_stunnel_config(root: Path, port: int, key: str = "a-pre-shared-key-long-enough", extra: str = "") -> None:
    folder = root / "etc/stunnel"
    folder.mkdir(parents=True, exist_ok=True)
    secrets = folder / "psk.txt"
    secrets.write_text(f"test:{key}\n")
    secrets.chmod(0o600)
    (folder / "stunnel.conf").write_text(
        f"pid = {root / 'var/run/stunnel.pid'}\n"
        "foreground = no\n"
        f"{extra}"
        "[rsync]\n"
        f"accept = 127.0.0.1:{port}\n"
        f"connect = 127.0.0.1:{free_port()}\n"
        "ciphers = PSK\n"
        f"PSKsecrets = {secrets}\n"
    )


# ------------------------------------------------------------------ sandbox supervisor, real daemons


@pytest.mark.parametrize("name, write_config", [("rsyncd", write_rsyncd_config), ("stunnel", write_stunnel_config)])
def test_start_serves_on_the_port_and_stop_closes_it(hotsync, host, name, write_config):
    port = free_port()
    write_config(host, port)

    started = hotsync("--root", host, "services", "start", name)

    assert started.code == 0, started.err
    pid = int((host / f"var/run/{name}.pid").read_text())
    assert started.out == f"{name}: running (pid {pid})\n"
    assert accepts_connections(port)
    assert hotsync("--root", host, "services", "status", name).out == f"{name}: running (pid {pid})\n"

    stopped = hotsync("--root", host, "services", "stop", name)

    assert stopped.code == 0, stopped.err
    assert stopped.out == f"{name}: stopped\n"
    assert not accepts_connections(port)
    assert not (host / f"var/run/{name}.pid").exists()
    assert hotsync("--root", host, "services", "status", name).out == f"{name}: stopped\n"


def test_both_services_without_a_name(hotsync, host):
    rsync_port, stunnel_port = free_port(), free_port()
    write_rsyncd_config(host, rsync_port)
    write_stunnel_config(host, stunnel_port)

    assert hotsync("--root", host, "services", "start").code == 0
    status = hotsync("--root", host, "services", "status")

    assert status.code == 0
    assert [line.split(":")[0] for line in status.out.splitlines()] == ["stunnel", "rsyncd"]
    assert all("running (pid" in line for line in status.out.splitlines())
    assert accepts_connections(rsync_port) and accepts_connections(stunnel_port)

    assert hotsync("--root", host, "services", "stop").out == "stunnel: stopped\nrsyncd: stopped\n"
    assert not accepts_connections(rsync_port) and not accepts_connections(stunnel_port)


def test_starting_a_running_daemon_keeps_the_same_process(host):
    write_rsyncd_config(host, free_port())
    root = Root(host)

    first = host_for(root).start_service("rsyncd")
    second = host_for(root).start_service("rsyncd")

    assert first.pid == second.pid and first.running


def test_restart_gives_a_new_process_that_serves(hotsync, host):
    port = free_port()
    write_stunnel_config(host, port)
    first = host_for(Root(host)).start_service("stunnel")

    restarted = hotsync("--root", host, "services", "restart", "stunnel")

    assert restarted.code == 0, restarted.err
    assert f"(pid {first.pid})" not in restarted.out
    assert accepts_connections(port)


def test_a_stale_pid_file_reads_as_stopped_and_is_cleaned_by_start(hotsync, host):
    port = free_port()
    write_rsyncd_config(host, port)
    pid_file = host / "var/run/rsyncd.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not this root's rsync daemon

    assert hotsync("--root", host, "services", "status", "rsyncd").out == "rsyncd: stopped\n"
    assert hotsync("--root", host, "services", "start", "rsyncd").code == 0
    assert int(pid_file.read_text()) != os.getpid()
    assert accepts_connections(port)


def test_rsyncd_on_a_busy_port_fails_with_rsyncs_own_message(hotsync, host):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        write_rsyncd_config(host, squatter.getsockname()[1])

        outcome = hotsync("--root", host, "services", "start", "rsyncd")

    assert outcome.code == 1
    assert outcome.err.startswith("hotsync: rsyncd failed to start")
    assert "Address already in use" in outcome.err
    assert "Traceback" not in outcome.err


def test_stunnel_with_a_bad_option_fails_with_stunnels_own_message(hotsync, host):
    write_stunnel_config(host, free_port(), extra="no-such-option = 1\n")

    outcome = hotsync("--root", host, "services", "start", "stunnel")

    assert outcome.code == 1
    assert "stunnel failed to start" in outcome.err
    assert '"no-such-option = 1": Specified option name is not valid here' in outcome.err


def test_stunnel_with_a_short_key_fails_with_stunnels_own_message(hotsync, host):
    write_stunnel_config(host, free_port(), key="short")

    outcome = hotsync("--root", host, "services", "start", "stunnel")

    assert outcome.code == 1
    assert "Key shorter than 16 bytes" in outcome.err


def test_a_missing_config_names_the_file_and_what_to_run(hotsync, host):
    outcome = hotsync("--root", host, "services", "start", "rsyncd")

    assert outcome.code == 1
    assert str(host / "etc/rsyncd.conf") in outcome.err
    assert "hotsync --root" in outcome.err and "compile" in outcome.err


def test_a_config_with_another_pid_file_is_refused(hotsync, host, tmp_path):
    write_rsyncd_config(host, free_port(), **{"pid file": tmp_path / "elsewhere.pid"})

    outcome = hotsync("--root", host, "services", "start", "rsyncd")

    assert outcome.code == 1
    assert f"needs 'pid file = {host / 'var/run/rsyncd.pid'}'" in outcome.err
    assert not (tmp_path / "elsewhere.pid").exists()


def test_one_failure_does_not_stop_the_other_service(hotsync, host):
    port = free_port()
    write_rsyncd_config(host, port)  # stunnel has no configuration

    outcome = hotsync("--root", host, "services", "start")

    assert outcome.code == 1
    assert "stunnel: configuration file" in outcome.err
    assert outcome.out.startswith("rsyncd: running (pid ")
    assert accepts_connections(port)


def test_a_disabled_service_is_stopped_by_adjustment(host):
    write_rsyncd_config(host, free_port())
    root = Root(host)
    host_for(root).start_service("rsyncd")

    state = host_for(root).apply_service_state("rsyncd", enabled=False, action="restart")

    assert not state.running
    assert not host_for(root).service_status("rsyncd").running


def test_usage_errors_exit_2(hotsync, host):
    assert hotsync("--root", host, "services", "explode").code == 2
    assert hotsync("--root", host, "services", "start", "httpd").code == 2
    assert hotsync("--root", host, "services").code == 2


# ------------------------------------------------------------------ under /, systemd does the work


def test_under_the_real_root_systemctl_runs_the_units(hotsync, fake_process):
    fake_process.register(["systemctl", "restart", "stunnel"])
    fake_process.register(
        ["systemctl", "show", "--property=ActiveState", "--property=MainPID", "stunnel"],
        stdout="MainPID=4242\nActiveState=active\n",
    )

    outcome = hotsync("--root", "/", "services", "restart", "stunnel")

    assert outcome.code == 0, outcome.err
    assert outcome.out == "stunnel: running (pid 4242)\n"
    assert fake_process.call_count(["systemctl", "restart", "stunnel"]) == 1


def test_under_the_real_root_a_failing_systemctl_is_an_error(hotsync, fake_process):
    fake_process.register(["systemctl", "start", "rsyncd"], returncode=1,
                          stderr="Job for rsyncd.service failed because the control process exited.\n")

    outcome = hotsync("--root", "/", "services", "start", "rsyncd")

    assert outcome.code == 1
    assert "Job for rsyncd.service failed" in outcome.err
    assert "journalctl -u rsyncd" in outcome.err


def test_under_the_real_root_adjustment_enables_and_reloads(fake_process):
    for argv in (["systemctl", "enable", "rsyncd"], ["systemctl", "reload-or-restart", "rsyncd"],
                 ["systemctl", "disable", "stunnel"], ["systemctl", "stop", "stunnel"]):
        fake_process.register(argv)
    fake_process.register(["systemctl", "show", fake_process.any()], stdout="ActiveState=inactive\nMainPID=0\n",
                          occurrences=2)
    root = Root(Path("/"))

    host_for(root).apply_service_state("rsyncd", enabled=True, action="reload")
    host_for(root).apply_service_state("stunnel", enabled=False)

    assert fake_process.call_count(["systemctl", "reload-or-restart", "rsyncd"]) == 1
    assert fake_process.call_count(["systemctl", "disable", "stunnel"]) == 1
    assert fake_process.call_count(["systemctl", "stop", "stunnel"]) == 1
