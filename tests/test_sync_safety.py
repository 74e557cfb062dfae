"""A push that dies or stalls mid-transfer leaves the slave with whole files and ends in bounded time."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotsync.frozen import replace

pytestmark = pytest.mark.e2e

BLOB_SIZE = 8 * 1024 * 1024
BLOBS = 40


def fill_with_blobs(pair, version: bytes) -> None:
    data = pair.on_master("/srv/media")
    data.mkdir(parents=True, exist_ok=True)
    for number in range(BLOBS):
        (data / f"video-{number:02}.bin").write_bytes(version * (BLOB_SIZE // len(version)))


def start_sync(pair) -> subprocess.Popen:
    script = Path(sys.executable).parent / "hotsync"
    return subprocess.Popen([str(script), "--root", str(pair.master.root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_transfer_to_start(pair, timeout=30.0) -> None:
    """Until the slave receives the first blob bytes (a temp file or a finished file)."""
    folder = pair.on_slave("/srv/media")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and any(True for _ in folder.iterdir()):
            return
        time.sleep(0.01)
    raise AssertionError("the transfer never started")


def parent_of_each_process():
    """pid -> parent pid, for every process alive now."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


def slave_daemon_processes(pair):
    """The slave's rsync daemon and every process it forked (connection, generator, receiver)."""
    parents = parent_of_each_process()
    found = [int(pair.on_slave("/var/run/rsyncd.pid").read_text().split()[0])]
    for pid in found:  # grows while walking: children, then grandchildren
        found.extend(child for child, parent in parents.items() if parent == pid and child not in found)
    return found


def test_a_master_dying_mid_push_leaves_only_whole_files_on_the_slave(host_pair, hotsync):
    pair = host_pair
    fill_with_blobs(pair, b"old-")
    pair.include_on_master("/srv/media")
    assert pair.sync(in_process=True).code == 0
    fill_with_blobs(pair, b"new!")

    run = start_sync(pair)
    time.sleep(0.3)  # into the transfer of the new versions
    os.killpg(run.pid, signal.SIGKILL)  # the master dies: hotsync and its rsync at once
    run.wait()

    time.sleep(1)  # the slave's receiver notices the lost connection and cleans up
    copy = pair.on_slave("/srv/media")
    names = sorted(path.name for path in copy.iterdir())
    assert names == [f"video-{number:02}.bin" for number in range(BLOBS)], "no half-written temp file remains"
    versions = {(copy / name).read_bytes()[:4] for name in names}
    for name in names:
        content = (copy / name).read_bytes()
        assert len(content) == BLOB_SIZE and content in (b"old-" * (BLOB_SIZE // 4), b"new!" * (BLOB_SIZE // 4))
    assert versions <= {b"old-", b"new!"}


def test_a_stalled_slave_ends_the_run_within_the_io_timeout(host_pair):
    pair = host_pair
    plan = pair.master_plan()
    pair.change_master_plan(limits=replace(plan.limits, io_timeout=2))
    fill_with_blobs(pair, b"data")
    pair.include_on_master("/srv/media")
    stopped = []
    try:
        run = start_sync(pair)
        wait_for_transfer_to_start(pair)
        for pid in slave_daemon_processes(pair):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        started = time.monotonic()
        _out, err = run.communicate(timeout=60)
        assert time.monotonic() - started < 30
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    assert run.returncode == 1
    assert "stalled for more than 2 s" in err or "timeout" in err


def children_of(pid: int):
    return [child for child, parent in parent_of_each_process().items() if parent == pid]


def test_a_terminated_run_stops_its_rsync_too(host_pair):
    pair = host_pair
    fill_with_blobs(pair, b"data")
    pair.include_on_master("/srv/media")
    run = start_sync(pair)
    wait_for_transfer_to_start(pair)
    rsync_children = children_of(run.pid)
    assert rsync_children, "rsync is running"

    run.send_signal(signal.SIGTERM)
    _out, err = run.communicate(timeout=30)

    assert run.returncode == 143
    assert "stopped by SIGTERM" in err
    for pid in rsync_children:
        assert not Path(f"/proc/{pid}").exists(), "no rsync left pushing after the run ended"
