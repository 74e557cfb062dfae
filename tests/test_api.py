"""The web API as NethServer's Cockpit calls it: the executables ``hotsync install`` lays under
``/usr/libexec/nethserver/api/nethserver-hotsync/``, a JSON request on stdin, JSON on stdout."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from support.hosts import Host, free_port
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync

from hotsync.paths import API_FOLDER, API_SUDOERS, JOBS_FOLDER, LOG_PATH
from hotsync.root import Root
from hotsync.sandbox.processes import process_alive, read_pid

API_CALLS = ("dashboard/read", "logs/read", "settings/execute", "settings/read", "settings/update", "settings/validate")


def call_api(root: Path, name: str, request: Any = None, raw: str = "") -> Tuple[int, Dict[str, Any], str]:
    """Run the root's executable for ``name`` as Cockpit does; (exit code, answer, stdout)."""
    executable = Root(root).path(f"{API_FOLDER}/{name}")
    text = raw or (json.dumps(request) if request is not None else "")
    finished = subprocess.run([str(executable)], input=text, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in finished.stdout + finished.stderr
    return finished.returncode, json.loads(finished.stdout), finished.stdout


@pytest.fixture
def master(tmp_path) -> Path:
    root = tmp_path / "master"
    Host(root, tunnel_port=free_port(), rsync_port=free_port()).configure("master", peer="192.0.2.10", password=PASSWORD)
    admin(root, "compile")
    yield root
    run_hotsync("--root", root, "services", "stop")  # the save event starts them


def database_text(root: Path) -> bytes:
    return Root(root).path("/var/lib/nethserver/db/configuration").read_bytes()


def test_install_lays_one_executable_per_call_and_the_sudoers_rule_naming_them(master):
    folder = Root(master).path(API_FOLDER)
    found = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    assert found == sorted(API_CALLS)
    assert all(os.access(folder / name, os.X_OK) for name in found)
    sudoers = Root(master).path(API_SUDOERS)
    assert sudoers.stat().st_mode & 0o777 == 0o440
    text = sudoers.read_text()
    assert "Cmnd_Alias NSAPI_NETHSERVER_HOTSYNC" in text
    assert all(f"{API_FOLDER}/{name}" in text for name in API_CALLS)


def test_settings_read_gives_the_form_and_only_whether_a_password_is_set(master):
    code, answer, out = call_api(master, "settings/read", {})
    assert code == 0
    assert answer["configuration"] == {
        "status": "enabled", "role": "master", "slaveHost": "192.0.2.10", "masterHost": "", "databases": "enabled",
        "tunnelAuth": "", "passwordSet": True,
    }
    assert answer["tunnel"]["auth"] in ("psk", "certificate")
    assert PASSWORD not in out


def test_a_valid_form_passes_validation_and_changes_nothing(master):
    before = database_text(master)
    request = {"configuration": {"role": "slave", "masterHost": "master.example.org"}}
    code, answer, _ = call_api(master, "settings/validate", request)
    assert (code, answer["state"]) == (0, "success")
    assert database_text(master) == before


def test_a_bad_slave_address_is_not_valid_with_the_message_compile_check_prints(master, tmp_path):
    before = database_text(master)
    code, answer, _ = call_api(master, "settings/validate", {"configuration": {"slaveHost": "10.0.0.300;rm"}})
    assert code == 1
    assert answer["type"] == "NotValid" and answer["message"] == "validation_failed"
    assert answer["attributes"][0]["parameter"] == "slaveHost"
    assert answer["attributes"][0]["value"] == "10.0.0.300;rm"
    assert database_text(master) == before
    # the same value stored, and compiled by the command an admin runs
    admin(master, "config", "setprop", "hotsync", "SlaveHost", "10.0.0.300;rm")
    check = run_hotsync("--root", master, "compile", "--check")
    assert check.code == 1
    printed = [line.split(": error: ", 1) for line in check.err.splitlines() if ": error: " in line]
    assert [(span, message) for span, message in printed] == [
        ("configuration:hotsync.SlaveHost", attribute["error"]) for attribute in answer["attributes"]]


def test_every_problem_is_reported_at_once_and_a_bad_password_is_never_echoed(master):
    weak = "short-pw"
    code, answer, out = call_api(master, "settings/validate", {"configuration": {
        "role": "boss", "password": weak, "databases": 3, "slaveIp": "10.0.0.1"}})
    assert code == 1
    errors = {attribute["parameter"]: attribute for attribute in answer["attributes"]}
    assert set(errors) == {"databases", "slaveIp"}  # wrong types and names stop before compiling
    assert errors["databases"]["error"] == "expected text"
    assert "unknown setting 'slaveIp'" in errors["slaveIp"]["error"]
    code, answer, out = call_api(master, "settings/validate", {"configuration": {"role": "boss"}})
    assert answer["attributes"] == [{"parameter": "role", "value": "boss",
                                     "error": "'boss' is not a role (expected master, slave, server or empty)"}]
    code, answer, out = call_api(master, "settings/validate", {"configuration": {"slaveHost": "a b", "password": weak}})
    errors = {attribute["parameter"]: attribute for attribute in answer["attributes"]}
    assert set(errors) == {"slaveHost", "password"}
    assert errors["password"] == {"parameter": "password", "value": "", "error": errors["password"]["error"]}
    assert "too short" in errors["password"]["error"]
    assert weak not in out


def test_a_request_that_is_not_json_gets_a_json_error(master):
    code, answer, _ = call_api(master, "settings/validate", raw="{not json")
    assert code == 1
    assert answer["type"] == "Error" and answer["message"].startswith("the request is not JSON")


def test_update_writes_the_database_and_runs_the_save_event(master):
    code, answer, _ = call_api(master, "settings/update", {"action": "configuration", "configuration": {
        "role": "slave", "masterHost": "192.0.2.1", "slaveHost": None, "password": ""}})
    assert (code, answer) == (0, {"state": "success"})
    shown = admin(master, "config", "show", "hotsync").out
    assert "    role=slave\n" in shown and "    MasterHost=192.0.2.1\n" in shown
    assert "    SlaveHost=192.0.2.10\n" in shown  # null: left as stored
    assert admin(master, "config", "getprop", "rsyncd", "password").out.strip() == PASSWORD  # empty: kept
    # the save event compiled the new role into the plan and the generated files
    plan = json.loads(Root(master).path("/var/lib/nethserver/hotsync/plan.json").read_text())
    assert plan["role"] == "slave" and plan["master_host"] == "192.0.2.1"
    code, answer, _ = call_api(master, "settings/read")
    assert answer["configuration"]["role"] == "slave"


def test_a_null_role_leaves_the_role_as_stored(master):
    code, answer, _ = call_api(master, "settings/update", {"configuration": {"role": None, "slaveHost": "192.0.2.11"}})
    assert (code, answer) == (0, {"state": "success"})
    assert admin(master, "config", "getprop", "hotsync", "role").out == "master\n"
    assert admin(master, "config", "getprop", "hotsync", "SlaveHost").out == "192.0.2.11\n"


def test_no_role_is_the_empty_string_both_ways(tmp_path):
    root = tmp_path / "new"
    admin(root, "install", "--quiet")
    assert call_api(root, "settings/read")[1]["configuration"]["role"] == ""
    code, answer, _ = call_api(root, "settings/update", {"configuration": {"role": "", "databases": "disabled"}})
    assert (code, answer) == (0, {"state": "success"})
    shown = admin(root, "config", "show", "hotsync").out
    assert "    role=\n" in shown and "    databases=disabled\n" in shown


def test_an_invalid_update_writes_nothing(master):
    before = database_text(master)
    code, answer, _ = call_api(master, "settings/update", {"configuration": {"role": "master", "slaveHost": "bad host"}})
    assert code == 1 and answer["type"] == "NotValid"
    assert database_text(master) == before


def test_execute_refuses_an_action_of_the_other_role(master):
    code, answer, _ = call_api(master, "settings/execute", {"action": "install-packages"})
    assert code == 1
    assert answer["attributes"][0]["error"] == "this host's role is master; install-packages runs on the slave"
    code, answer, _ = call_api(master, "settings/execute", {"action": "reboot"})
    assert code == 1 and answer["attributes"][0]["parameter"] == "action"


@pytest.fixture
def silent_slave():
    """A TCP port that accepts connections and never answers: a push to it hangs in the TLS handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_execute_starts_sync_in_the_background_and_refuses_a_second_run(tmp_path, silent_slave):
    root = tmp_path / "master"
    Host(root, tunnel_port=silent_slave, rsync_port=free_port()).configure("master", peer="127.0.0.1", password=PASSWORD)
    admin(root, "compile")
    admin(root, "services", "start", "stunnel")
    pid_file = Root(root).path(f"{JOBS_FOLDER}/hotsync.pid")
    try:
        code, answer, _ = call_api(root, "settings/execute", {"action": "sync"})
        assert (code, answer["state"], answer["job"]) == (0, "started", "hotsync")
        pid = read_pid(pid_file)
        assert pid and process_alive(pid)
        assert call_api(root, "dashboard/read")[1]["jobs"] == {"sync": True, "install-packages": False}
        code, answer, _ = call_api(root, "settings/execute", {"action": "sync"})
        assert (code, answer) == (1, {"type": "Error", "message": "hotsync is already running"})
    finally:
        pid = read_pid(pid_file)
        if pid and process_alive(pid):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while pid and process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        admin(root, "services", "stop")
    assert call_api(root, "dashboard/read")[1]["jobs"]["sync"] is False
    code, answer, _ = call_api(root, "dashboard/read")
    assert answer["last_result"] == "failed"  # the stopped run was recorded


def test_dashboard_after_a_real_sync_shows_the_age_freshness_and_daemons(host_pair):
    admin(host_pair.master.root, "sync")
    code, answer, out = call_api(host_pair.master.root, "dashboard/read", {})
    assert code == 0
    assert answer["role"] == "master" and answer["peer"] == {"slave": "127.0.0.1"}
    assert answer["last_result"] == "ok" and answer["last_errors"] == []
    assert 0 <= answer["age_seconds"] < 60 and answer["age_words"].endswith(" s")
    assert answer["freshness"]["state"] == "ok"
    assert answer["freshness"]["warning_after_seconds"] == 1350  # the setting's default: 1.5 x 15 minutes
    assert answer["daemons"] == {"stunnel": True, "rsyncd": False}
    assert set(answer["next_runs"]) == {"sync"}
    assert answer["readiness"] == {"known": False, "ready": None, "reasons": [], "checks": [], "dumps": []}
    assert PASSWORD not in out
    code, answer, out = call_api(host_pair.slave.root, "dashboard/read", {})
    assert answer["role"] == "slave" and answer["last_result"] == "ok" and answer["freshness"]["state"] == "ok"
    assert answer["readiness"]["known"] is True and answer["readiness"]["reasons"]
    assert answer["daemons"] == {"stunnel": True, "rsyncd": True}
    assert PASSWORD not in out


def test_logs_read_gives_the_last_lines_of_the_hotsync_log(master):
    log = Root(master).path(LOG_PATH)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {number}\n" for number in range(1, 201)))
    code, answer, _ = call_api(master, "logs/read", {"lines": 3})
    assert (code, answer) == (0, {"path": LOG_PATH, "lines": ["line 198", "line 199", "line 200"]})
    assert len(call_api(master, "logs/read", {})[1]["lines"]) == 100
    code, answer, _ = call_api(master, "logs/read", {"lines": "all"})
    assert code == 1 and answer["attributes"][0]["parameter"] == "lines"


def test_no_call_ever_returns_the_password(master):
    for name, request in (("settings/read", {}), ("dashboard/read", {}), ("logs/read", {}),
                          ("settings/validate", {"configuration": {"password": PASSWORD + "|x"}}),
                          ("settings/validate", {"configuration": {"password": "\n" + PASSWORD}}),
                          ("settings/update", {"configuration": {"password": PASSWORD[:5]}})):
        _, _, out = call_api(master, name, request)
        assert PASSWORD not in out and PASSWORD[:5] not in out, name


def test_on_nethserver_execute_runs_a_transient_unit_and_refuses_while_it_is_active(fake_process):
    from hotsync.host import JobRunning, host_for

    host = host_for(Root(Path("/")))
    fake_process.register(["systemctl", "is-active", "--quiet", "hotsync"], returncode=3)
    fake_process.register(["systemctl", "reset-failed", "hotsync"])
    fake_process.register(["systemd-run", "--unit=hotsync", "--setenv=HOME=/root", "/usr/sbin/hotsync"])
    assert host.start_job("hotsync", "hotsync") == "started hotsync (follow it with 'journalctl -u hotsync')"
    assert fake_process.call_count(["systemd-run", "--unit=hotsync", "--setenv=HOME=/root", "/usr/sbin/hotsync"]) == 1
    fake_process.register(["systemctl", "is-active", "--quiet", "hotsync-slave"], returncode=0)
    with pytest.raises(JobRunning, match="hotsync-slave is already running"):
        host.start_job("hotsync-slave", "hotsync-slave")
    assert fake_process.call_count(["systemd-run", fake_process.any()]) == 1


def test_install_packages_on_a_slave_installs_what_the_master_has_in_the_background(tmp_path):
    import hashlib
    import io
    import tarfile

    root = tmp_path / "slave"
    Host(root, tunnel_port=free_port(), rsync_port=free_port()).configure("slave", peer="192.0.2.1", password=PASSWORD)
    admin(root, "compile")
    Root(root).path("/var/lib/hotsync").mkdir(parents=True, exist_ok=True)
    Root(root).path("/var/lib/hotsync/sandbox-packages").write_text("nethserver-base 7.9\n")
    # the master's configuration backup, as a push leaves it: its package list inside
    listing = b"nethserver-base\nnethserver-cups\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        member = tarfile.TarInfo("var/lib/nethserver/backup/package-list")
        member.size = len(listing)
        archive.addfile(member, io.BytesIO(listing))
    backup = Root(root).path("/var/lib/nethserver/backup/backup-config.tar.xz")
    backup.parent.mkdir(parents=True, exist_ok=True)
    backup.write_bytes(buffer.getvalue())
    backup.with_name("backup-config.tar.xz.md5").write_text(
        f"{hashlib.md5(buffer.getvalue()).hexdigest()}  backup-config.tar.xz\n")
    with socket.socket() as repository:
        repository.bind(("127.0.0.1", 0))
        repository.listen()
        repo_file = Root(root).path("/etc/yum.repos.d/nethserver.repo")
        repo_file.parent.mkdir(parents=True, exist_ok=True)
        repo_file.write_text(f"[nethserver-base]\nbaseurl=http://127.0.0.1:{repository.getsockname()[1]}/7/base/\n")

        assert call_api(root, "settings/execute", {"action": "sync"})[0] == 1  # a master's action
        code, answer, _ = call_api(root, "settings/execute", {"action": "install-packages"})
        assert (code, answer["job"]) == (0, "hotsync-slave")
        deadline = time.monotonic() + 60
        while call_api(root, "dashboard/read")[1]["jobs"]["install-packages"]:
            assert time.monotonic() < deadline, "the upkeep did not end"
            time.sleep(0.5)
    installed = Root(root).path("/var/lib/hotsync/sandbox-packages").read_text().splitlines()
    assert installed == ["nethserver-base 7.9", "nethserver-cups"]
