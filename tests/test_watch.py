"""Continuous push (``hotsync watch``) between two sandbox hosts through the real tunnel and
daemon: a change reaches the slave within about a second, deletions and new folders too,
excludes and the delete guard still hold."""

import json
import os
import signal
import time

import pytest
from support.hosts import kill_processes_of
from support.runner import run_hotsync, start_hotsync

from hotsync.runtime.watch import WATCH_STATE_PATH

pytestmark = pytest.mark.e2e


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def content(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


@pytest.fixture
def watching(host_pair):
    pair = host_pair
    data = pair.on_master("/srv/office")
    (data / "old").mkdir(parents=True)
    (data / "old/gone.txt").write_text("to be deleted\n")
    (data / "old/kept.txt").write_text("kept\n")
    (data / "filler").mkdir()
    for number in range(100):  # enough files that the delete guard lets a few deletions through
        (data / f"filler/{number}.txt").write_text(f"{number}\n")
    pair.include_on_master("/srv/office")
    listing = pair.on_master("/etc/backup-data.d/tests.exclude")
    listing.write_text("/srv/office/cache/\n")
    process = start_hotsync("--root", pair.master.root, "watch")
    try:
        # The first full push carries what was there before the watch started.
        wait_until(lambda: content(pair.on_slave("/srv/office/old/kept.txt")) == "kept\n", 30)
        wait_until(lambda: pair.on_master(WATCH_STATE_PATH).exists(), 10)
        yield pair, data, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_changes_deletions_and_new_folders_reach_the_slave_within_a_second(watching):
    pair, data, process = watching
    slave = pair.on_slave("/srv/office")
    started = time.monotonic()
    (data / "old/new.txt").write_text("written while watched\n")
    arrived = wait_until(lambda: content(slave / "old/new.txt") == "written while watched\n")
    assert arrived - started < 2.0

    (data / "old/gone.txt").unlink()
    wait_until(lambda: not (slave / "old/gone.txt").exists())
    assert content(slave / "old/kept.txt") == "kept\n"

    (data / "made/deeper").mkdir(parents=True)
    (data / "made/deeper/inside.txt").write_text("in a new folder\n")
    wait_until(lambda: content(slave / "made/deeper/inside.txt") == "in a new folder\n")

    os.rename(data / "made", data / "renamed")
    wait_until(lambda: content(slave / "renamed/deeper/inside.txt") == "in a new folder\n")
    wait_until(lambda: not (slave / "made").exists())

    (data / "cache").mkdir()
    (data / "cache/scratch.tmp").write_text("excluded\n")
    (data / "old/after-cache.txt").write_text("later\n")
    wait_until(lambda: content(slave / "old/after-cache.txt") == "later\n")
    assert not (slave / "cache/scratch.tmp").exists()

    wait_until(lambda: json.loads(pair.on_master(WATCH_STATE_PATH).read_text())["backlog"] == 0)
    assert json.loads(pair.on_master(WATCH_STATE_PATH).read_text())["folders_watched"] >= 3
    assert process.poll() is None
    shown = run_hotsync("--root", pair.master.root, "status")
    assert "continuous push: running, backlog 0, oldest change not on the slave: none" in shown.out
    report = json.loads(run_hotsync("--root", pair.master.root, "status", "--json").out)
    assert report["continuous"]["running"] and report["continuous"]["rpo_seconds"] == 0.0


def test_status_shows_the_backlog_and_its_age_while_the_slave_is_unreachable(watching):
    pair, data, process = watching
    run_hotsync("--root", pair.slave.root, "services", "stop")
    (data / "old/waiting.txt").write_text("cannot go out yet\n")
    time.sleep(2.5)
    report = json.loads(run_hotsync("--root", pair.master.root, "status", "--json").out)["continuous"]
    assert report["running"] and report["backlog"] == 1
    assert 1.5 <= report["rpo_seconds"] < 30
    assert "failed, to be tried again" in pair.on_master("/var/log/hotsync.log").read_text()
    run_hotsync("--root", pair.slave.root, "services", "start")
    wait_until(lambda: content(pair.on_slave("/srv/office/old/waiting.txt")) == "cannot go out yet\n", 20)


def test_a_file_written_in_pieces_ends_whole_on_the_slave(watching):
    pair, data, _process = watching
    with open(data / "old/growing.log", "w") as growing:
        for number in range(30):
            growing.write(f"line {number}\n")
            growing.flush()
            time.sleep(0.05)
    expected = "".join(f"line {number}\n" for number in range(30))
    wait_until(lambda: content(pair.on_slave("/srv/office/old/growing.log")) == expected)


def test_the_delete_guard_caps_each_batch(watching):
    pair, data, _process = watching
    for number in range(60):  # more than MaxDeletePercent (20 %) of the slave's files at once
        (data / f"filler/{number}.txt").unlink()
    log = pair.on_master("/var/log/hotsync.log")
    wait_until(lambda: "delete guard" in log.read_text())
    left = sorted(pair.on_slave("/srv/office/filler").iterdir())
    assert 100 - 60 < len(left) < 100  # some deletions went through, not all of them


def test_sigterm_ends_the_watch_with_143(watching):
    _pair, _data, process = watching
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    assert "Traceback" not in process.stderr.read()


# The issue asks for 60 s of writes; the suite writes for 10 s (the kill and the checks are the
# same). HOTSYNC_CRASH_SECONDS=60 runs the full length.
CRASH_SECONDS = float(os.environ.get("HOTSYNC_CRASH_SECONDS", "10"))


def test_a_master_killed_during_a_stream_of_writes_leaves_whole_files_and_the_last_second_lost_at_most(watching):
    """The master's processes (watch, rsync, tunnel) are killed at once during a stream of writes:
    each file written up to a second before is on the slave with its content, and no file on the
    slave under its final name holds part of its content (rsync writes a temp file, then renames)."""
    pair, data, process = watching
    stream = data / "stream"
    stream.mkdir()
    written = {}  # name -> (content, when its writing ended)
    started = time.monotonic()
    number = 0
    while time.monotonic() - started < CRASH_SECONDS:
        name = f"{number:06d}.bin"
        # Some files are large enough that a push is caught in the middle of one.
        payload = (f"{number:06d}".encode() * (40000 if number % 10 == 0 else 10))
        with open(stream / name, "wb") as out:
            out.write(payload[: len(payload) // 2])
            out.flush()
            time.sleep(0.005)
            out.write(payload[len(payload) // 2:])
        written[name] = (payload, time.monotonic())
        number += 1
        time.sleep(0.01)
    killed = time.monotonic()
    kill_processes_of(pair.master.root)
    assert process.wait(timeout=10) == -signal.SIGKILL
    time.sleep(1.0)  # the slave's receiver notices the dropped connection and removes its temp file

    on_slave = pair.on_slave("/srv/office/stream")
    kept = {entry.name: entry.read_bytes() for entry in on_slave.iterdir() if not entry.name.startswith(".")}
    for name, content in kept.items():
        assert content == written[name][0], f"{name} on the slave is not the file written"
    due = [name for name, (_content, ended) in written.items() if ended <= killed - 1.0]
    missing = [name for name in due if name not in kept]
    assert not missing, f"{len(missing)} of {len(due)} files written a second before the kill are missing: {missing[:5]}"
    assert len(due) > 100
