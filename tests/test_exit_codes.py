"""Each exit code an admin (or cron's mail, or a supervisor) can meet, from a real ``hotsync`` process:
0 done, 1 the work failed, 2 a wrong command line, 70 a bug, 130 Ctrl-C, 143 SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.runner import run_hotsync

from hotsync.paths import LOG_PATH
from hotsync.runtime.promote import STATE_PATH
from hotsync.runtime.status import STATUS_PATH

BUG_TEXT = "injected bug"


def inject_bug(tmp_path: Path, target: str) -> dict:
    """The environment of a ``hotsync`` process in which calling ``target`` (module.function) raises a bug.

    ``sitecustomize`` runs at the start of every Python process that finds it on its path,
    before ``hotsync`` imports the function by name."""
    module, function = target.rsplit(".", 1)
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import {module}\n"
        "def crash(*arguments, **options):\n"
        f"    raise RuntimeError({BUG_TEXT!r} + '\\nits second line')\n"
        f"{module}.{function} = crash\n")
    return {"PYTHONPATH": str(folder)}


def write_plugin(root: Path, name: str, body: str) -> None:
    plugin = root / "etc/hotsync.d" / name
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text("#!/bin/sh\n" + body)
    plugin.chmod(0o755)


def as_a_terminals_foreground_job() -> None:
    """Ctrl-C and SIGTERM as a job started at a terminal receives them: whatever this test
    process inherited or left behind (an ignored or blocked SIGINT) is not passed on."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def start_sync_blocked_in_a_plugin(root: Path) -> subprocess.Popen:
    """A real ``hotsync sync`` that waits in a slow plugin; returns once the plugin runs.

    The plugin's ``sleep`` writes its pid where the test can check it did not outlive the run."""
    write_plugin(root, "50-slow", f'sleep 60 &\necho $! > "{root}/plugin-sleep.pid"\nwait\n')
    script = Path(sys.executable).parent / "hotsync"
    run = subprocess.Popen([str(script), "--root", str(root), "sync"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=as_a_terminals_foreground_job)
    wait_for_file(root / "plugin-sleep.pid", run)
    return run


def wait_for_file(path: Path, run: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert run.poll() is None, f"hotsync ended before it blocked: {run.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_0_the_help_lists_every_exit_code():
    outcome = run_hotsync("--help")

    assert outcome.code == 0, outcome.err
    assert "0 success, 1 the work failed or the input is invalid, 2 usage error,\n3 a sync paused by the brake" in outcome.out
    assert "nothing sent: 'hotsync --force' pushes),\n70 internal error" in outcome.out
    assert "130 interrupted (Ctrl-C), 143 stopped by SIGTERM" in outcome.out


def test_1_work_that_failed_says_what_to_do(sandbox):
    outcome = run_hotsync("--root", sandbox, "sync")

    assert outcome.code == 1
    assert outcome.err == ("hotsync: no compiled plan at /var/lib/nethserver/hotsync/plan.json: "
                           "run 'signal-event nethserver-hotsync-update' first\n")


def test_2_a_wrong_command_line_is_a_usage_error(sandbox):
    outcome = run_hotsync("--root", sandbox, "frobnicate")

    assert (outcome.code, outcome.err) == (2, "hotsync: unknown command 'frobnicate' (try 'hotsync --help')\n")


def test_70_a_bug_outside_any_run_is_one_line_pointing_at_the_traceback_in_the_log(master, tmp_path):
    environment = inject_bug(tmp_path, "hotsync.runtime.status.read_status")

    outcome = run_hotsync("--root", master, "status", environment=environment)

    assert outcome.code == 70
    assert outcome.err == (f"hotsync: internal error RuntimeError: {BUG_TEXT} its second line (this is a bug; "
                           f"the traceback is in {LOG_PATH} - please report it)\n")
    log = (master / LOG_PATH[1:]).read_text()
    assert f"'hotsync status' stopped on an internal error RuntimeError: {BUG_TEXT} its second line:" in log
    assert "Traceback (most recent call last):" in log and f"RuntimeError: {BUG_TEXT}" in log


def test_70_a_bug_whose_log_cannot_be_written_says_why_in_its_one_line(master, tmp_path):
    (master / LOG_PATH[1:]).mkdir(parents=True)  # the log cannot be opened for appending
    environment = inject_bug(tmp_path, "hotsync.runtime.status.read_status")

    outcome = run_hotsync("--root", master, "status", environment=environment)

    assert outcome.code == 70
    assert outcome.err == (f"hotsync: internal error RuntimeError: {BUG_TEXT} its second line (this is a bug; "
                           f"its traceback could not be written to {LOG_PATH}: Is a directory - please report it)\n")


def test_130_ctrl_c_stops_a_sync_and_its_plugin(master):
    run = start_sync_blocked_in_a_plugin(master)
    plugin_sleep = int((master / "plugin-sleep.pid").read_text())

    os.killpg(run.pid, signal.SIGINT)  # what a terminal sends to its foreground process group
    _out, err = run.communicate(timeout=30)

    assert (run.returncode, err) == (130, "hotsync: interrupted\n")
    assert not is_running(plugin_sleep), "the plugin does not outlive the run"


def test_143_sigterm_stops_a_sync_which_records_and_mails_its_failure(master, mailbox):
    run = start_sync_blocked_in_a_plugin(master)
    plugin_sleep = int((master / "plugin-sleep.pid").read_text())

    run.terminate()
    _out, err = run.communicate(timeout=30)

    assert (run.returncode, err) == (143, "hotsync: stopped by SIGTERM before 'hotsync sync' finished\n")
    assert not is_running(plugin_sleep), "the plugin does not outlive the run"
    record = json.loads((master / STATUS_PATH[1:]).read_text())
    assert (record["result"], record["errors"]) == ("failed", ["stopped by SIGTERM before 'hotsync sync' finished"])
    (_recipients, content), = mailbox.messages
    assert "stopped by SIGTERM" in content


def test_143_sigterm_stops_any_command_here_a_promotion_waiting_for_its_confirmation(slave):
    script = Path(sys.executable).parent / "hotsync-promote"
    run = subprocess.Popen([str(script), "--root", str(slave)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    shown = ""
    while not shown.endswith("Type 'yes' to promote this host: "):
        character = run.stdout.read(1)
        assert character, f"hotsync-promote ended before it asked: {shown}{run.communicate()}"
        shown += character

    run.terminate()
    _rest, err = run.communicate(timeout=30)

    assert (run.returncode, err) == (143, "hotsync: stopped by SIGTERM before 'hotsync promote' finished\n")
    assert "This makes this host the master" in shown
    assert not (slave / STATE_PATH[1:]).exists(), "nothing was changed"
