"""A run that crashes is still a failed run: its record, its log line with the traceback,
its mail, one line on the terminal and exit 70 (a bug, not a failed run). The crash is a bug injected in
process with monkeypatch, and once through ``sitecustomize`` in a real ``hotsync`` process."""

import json
import time

from support.runner import run_hotsync
from support.scenarios import LAST_SUCCESS, RECIPIENT, make_slave, make_synced_files

from hotsync.paths import LOG_PATH
from hotsync.runtime.promote import STATE_PATH

CRASH_TEXT = "injected crash"


def crash(*_arguments, **_options):
    raise RuntimeError(f"{CRASH_TEXT}\nits second line")


def assert_one_line_without_traceback(err: str) -> None:
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert f"internal error RuntimeError: {CRASH_TEXT} its second line (this is a bug; the traceback is in {LOG_PATH} - please report it)" in err


def assert_logged_with_traceback(root, what: str) -> None:
    log = (root / LOG_PATH[1:]).read_text()
    assert f"{what} stopped on an internal error RuntimeError: {CRASH_TEXT} its second line:" in log
    assert "Traceback (most recent call last):" in log and f"RuntimeError: {CRASH_TEXT}" in log


def test_a_sync_that_crashes_is_recorded_logged_and_mailed_as_a_failure(master, hotsync, mailbox, monkeypatch):
    monkeypatch.setattr("hotsync.runtime.sync.build_lists", crash)

    outcome = hotsync("--root", master, "sync")

    assert outcome.code == 70
    assert_one_line_without_traceback(outcome.err)
    status = json.loads(hotsync("--root", master, "status", "--json").out)
    assert status["last_result"] == "failed"
    assert status["last_errors"][0].startswith(f"internal error RuntimeError: {CRASH_TEXT}")
    assert status["last_success_epoch"] == LAST_SUCCESS
    text = hotsync("--root", master, "status").out
    assert "(failed)" in text and f"  error: internal error RuntimeError: {CRASH_TEXT}" in text
    record = json.loads((master / "var/lib/nethserver/hotsync/status.json").read_text())
    assert record["guard"]["files_total"] == 7, "the delete guard keeps the last complete push's baseline"
    assert_logged_with_traceback(master, "the sync")
    assert "sync failed in " in (master / LOG_PATH[1:]).read_text()
    (recipients, content), = mailbox.messages
    assert recipients == [RECIPIENT]
    assert f"internal error RuntimeError: {CRASH_TEXT}" in content and "Traceback" not in content


def test_a_crash_in_a_real_sync_process_is_a_recorded_failure(master, mailbox, tmp_path):
    # sitecustomize runs at the start of every Python process that finds it on its path.
    injected = tmp_path / "inject"
    injected.mkdir()
    (injected / "sitecustomize.py").write_text(
        "import hotsync.runtime.sync\n"
        "def crash(*arguments, **options):\n"
        f"    raise RuntimeError({CRASH_TEXT!r} + '\\nits second line')\n"
        "hotsync.runtime.sync.decide_guard = crash\n")

    outcome = run_hotsync("--root", master, environment={"PYTHONPATH": str(injected)})

    assert outcome.code == 70
    assert_one_line_without_traceback(outcome.err)
    status = run_hotsync("--root", master, "status")
    assert "(failed)" in status.out and f"error: internal error RuntimeError: {CRASH_TEXT}" in status.out
    assert_logged_with_traceback(master, "the sync")
    assert len(mailbox.messages) == 1


def test_a_dry_run_that_crashes_says_so_in_one_line_and_records_no_run(master, hotsync, mailbox, monkeypatch):
    monkeypatch.setattr("hotsync.runtime.sync.build_lists", crash)
    status_before = (master / "var/lib/nethserver/hotsync/status.json").read_text()

    outcome = hotsync("--root", master, "sync", "--dry-run")

    assert outcome.code == 70
    assert_one_line_without_traceback(outcome.err)
    assert (master / "var/lib/nethserver/hotsync/status.json").read_text() == status_before
    assert_logged_with_traceback(master, "a dry run")
    assert mailbox.messages == []


def test_a_sync_ended_by_an_error_it_did_not_catch_is_recorded_too(master, hotsync, monkeypatch):
    from hotsync.errors import HotsyncError

    def refuse(*_arguments, **_options):
        raise HotsyncError("rpm -qa failed (exit 1): rpmdb open failed")

    monkeypatch.setattr("hotsync.runtime.sync.build_lists", refuse)

    outcome = hotsync("--root", master, "sync")

    assert (outcome.code, outcome.err) == (1, "hotsync: rpm -qa failed (exit 1): rpmdb open failed\n")
    status = json.loads(hotsync("--root", master, "status", "--json").out)
    assert (status["last_result"], status["last_errors"]) == ("failed", ["rpm -qa failed (exit 1): rpmdb open failed"])


def test_a_crash_while_recording_the_crash_still_ends_in_one_line(master, hotsync, monkeypatch):
    monkeypatch.setattr("hotsync.runtime.sync.build_lists", crash)
    monkeypatch.setattr("hotsync.runtime.sync.write_status", crash)

    outcome = hotsync("--root", master, "sync")

    assert outcome.code == 70
    assert_one_line_without_traceback(outcome.err)
    log = (master / LOG_PATH[1:]).read_text()
    assert "the sync: could not record its failure" in log
    assert "Traceback (most recent call last):" in log


def test_slave_upkeep_that_crashes_is_logged_and_ends_in_one_line(hotsync, sandbox, monkeypatch):
    make_slave(hotsync, sandbox)
    make_synced_files(sandbox)
    monkeypatch.setattr("hotsync.runtime.slave.apply_owner_fixes", crash)

    for action in ((), ("fixperm",)):
        outcome = hotsync("--root", sandbox, "slave", *action)

        assert outcome.code == 70
        assert_one_line_without_traceback(outcome.err)
    assert_logged_with_traceback(sandbox, "the slave upkeep")


def test_a_promotion_step_that_crashes_is_a_failed_step_and_a_rerun_resumes_it(slave, hotsync, monkeypatch):
    monkeypatch.setattr("hotsync.runtime.promote.restore_configuration", crash)

    outcome = hotsync("--root", slave, "promote", "--yes", "--network", "continue")

    assert outcome.code == 70
    first = outcome.err.splitlines()[0]
    assert first.startswith("hotsync: promotion stopped at step 5/7 'restore the configuration': "
                            f"internal error RuntimeError: {CRASH_TEXT} its second line")
    assert "Traceback" not in outcome.err
    state = json.loads((slave / STATE_PATH[1:]).read_text())
    assert state["failed"]["step"] == "restore the configuration"
    assert "configuration" not in state["done"] and "fixperm" in state["done"]
    assert_logged_with_traceback(slave, "promotion step 'restore the configuration'")

    monkeypatch.undo()
    resumed = hotsync("--root", slave, "promote", "--yes")

    assert resumed.code == 0, resumed.err
    assert resumed.out.count("done by an earlier run") == 3  # the first step, closing the host, is checked again
    assert "[5/7] restore the configuration: restored" in resumed.out
    assert json.loads((slave / STATE_PATH[1:]).read_text())["finished_epoch"] <= time.time()
