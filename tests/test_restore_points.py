"""Restore points on the slave: encrypted files pushed by force come back from the point before;
two pushes that overlap on the slave both succeed and lose no saved version."""

import json
import os
import time

import pytest
from support.hosts import free_port
from support.trees import tree_digest
from test_brake import encrypt, office_on_master

from hotsync.runtime.points import INCOMING_FOLDER, PUSH_ADDED_PATH

pytestmark = pytest.mark.e2e


def files_only(digest: dict) -> dict:
    """Each file's mode, owner, size, time and content (folders' times change with their entries)."""
    return {name: entry for name, entry in digest.items() if entry[0] == "file"}


def points_of(pair, count: int) -> list:
    """The slave's points once it has ``count`` (its daemon seals a point just after the push)."""
    deadline = time.monotonic() + 15
    while True:
        listing = pair.slave.run("restore-points", "--json", in_process=True)
        assert listing.code == 0, listing.err
        points = json.loads(listing.out)
        if len(points) >= count or time.monotonic() > deadline:
            return points
        time.sleep(0.05)


def test_a_forced_push_of_encrypted_files_is_undone_by_restore(host_pair, hotsync, tmp_path):
    pair = host_pair
    data = office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    pair.wait_for_new_marker(None)
    original = tree_digest(pair.on_slave("/srv/office"), owners_and_times=True)
    first, = points_of(pair, 1)
    assert first["added"] >= 1000

    time.sleep(1.1)  # the next point gets its own second
    encrypted = encrypt(data, 0.30, rename=True)
    assert pair.sync(in_process=True).code == 3
    assert tree_digest(pair.on_slave("/srv/office"), owners_and_times=True) == original, "the slave untouched"
    marker = pair.marker_version()
    assert pair.master.run("--force", in_process=True).code == 0
    pair.wait_for_new_marker(marker)
    assert len(list(pair.on_slave("/srv/office").rglob("*.locked"))) == encrypted
    first_again, second = points_of(pair, 2)
    assert first_again == first
    assert (second["added"], second["removed"]) == (encrypted, encrypted)

    preview = pair.slave.run("restore", "/srv/office", "--at", first["time"], "--dry-run", in_process=True)
    assert preview.code == 0, preview.err
    assert f"would restore /srv/office as it was at {first['time']}: {2 * encrypted} change(s)" in preview.out
    assert len(list(pair.on_slave("/srv/office").rglob("*.locked"))) == encrypted, "a dry run changes nothing"

    copy = pair.slave.run("restore", "/srv/office", "--at", first["time"], "--to", tmp_path / "copy", in_process=True)
    assert copy.code == 0, copy.err
    restored_copy = files_only(tree_digest(tmp_path / "copy" / "office", owners_and_times=True))
    assert restored_copy == files_only(original), "mode, content, owner, size and time"

    in_place = pair.slave.run("restore", "/srv/office", "--at", first["name"], in_process=True)
    assert in_place.code == 0, in_place.err
    assert files_only(tree_digest(pair.on_slave("/srv/office"), owners_and_times=True)) == files_only(original), "every file back, identical"


def test_restore_refuses_a_time_before_every_point(host_pair, hotsync):
    pair = host_pair
    office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    points_of(pair, 1)
    outcome = pair.slave.run("restore", "/srv/office", "--at", "2001-01-01T00:00:00Z", in_process=True)
    assert outcome.code == 1
    assert "no restore point at or before 2001-01-01T00:00:00Z" in outcome.err


def settled(pair, timeout: float = 30) -> None:
    """Wait until the slave's daemon has sealed every push: nothing left in incoming, no list
    of added files waiting."""
    deadline = time.monotonic() + timeout
    while pair.on_slave(INCOMING_FOLDER).exists() or pair.on_slave(PUSH_ADDED_PATH).exists():
        assert time.monotonic() < deadline, "the slave left pushes unsealed"
        time.sleep(0.05)


def write_files(host, contents: dict) -> None:
    for name, content in contents.items():
        host.write(name, content)


def test_two_pushes_overlapping_on_the_slave_both_succeed_and_keep_every_previous_version(
        host_pair, make_host, tmp_path):
    """One master's lock runs its pushes one at a time, but on the slave a transfer can overlap
    another (the next push against the last one's seal, a receiver whose master died against the
    next push). Here a second master pushes while the first one's slow push is still on its big
    file, after it replaced notes.txt: the second push replaces notes.txt again."""
    pair = host_pair
    other = make_host("other-master", "master", tunnel_port=pair.slave.tunnel_port, rsync_port=free_port(),
                      in_process=True)
    other.admin("compile", in_process=True)
    other.admin("services", "start", "stunnel", in_process=True)
    pair.include_on_master("/srv/shared")
    other.write("/etc/backup-data.d/tests.include", "/srv/shared/notes.txt\n/srv/two\n")
    big_before, big_after = os.urandom(3 << 20), os.urandom(3 << 20)
    before = {"/srv/shared/notes.txt": "v1", "/srv/shared/one.txt": "v1", "/srv/shared/zz-big": big_before}
    write_files(pair.master, before)
    write_files(other, {"/srv/shared/notes.txt": "v1", "/srv/two/two.txt": "v1"})
    assert pair.sync(in_process=True).code == 0
    settled(pair)
    assert other.run("sync", in_process=True).code == 0
    settled(pair)
    baseline = points_of(pair, 2)
    first_point = baseline[-1]
    original = files_only(tree_digest(pair.on_slave("/srv"), owners_and_times=True))
    time.sleep(1.1)  # the next point gets its own second

    pair.master.admin("config", "setprop", "hotsync", "BwLimit", "256", in_process=True)  # KiB/s: 12 s for the big file
    pair.master.admin("compile", in_process=True)
    write_files(pair.master, {"/srv/shared/notes.txt": "from the first push", "/srv/shared/one.txt": "v2",
                                   "/srv/shared/zz-big": big_after})
    write_files(other, {"/srv/shared/notes.txt": "from the second push", "/srv/two/two.txt": "v2"})
    slow = pair.master.start("sync")
    notes = pair.on_slave("/srv/shared/notes.txt")
    deadline = time.monotonic() + 30
    while notes.read_text() != "from the first push":  # then the first push is on its big file
        assert slow.poll() is None and time.monotonic() < deadline, slow.communicate()
        time.sleep(0.05)
    second = other.run("sync", in_process=True)
    assert slow.poll() is None, "the two pushes overlapped"
    assert second.code == 0, second.err
    out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err + out
    settled(pair)
    assert len(points_of(pair, len(baseline) + 1)) == len(baseline) + 1, "one point for the two pushes"

    copy = pair.slave.run("restore", "/srv", "--at", first_point["time"], "--to", tmp_path / "copy", in_process=True)
    assert copy.code == 0, copy.err
    assert files_only(tree_digest(tmp_path / "copy" / "srv", owners_and_times=True)) == original
    assert pair.on_slave("/srv/shared/notes.txt").read_text() == "from the second push"
    assert pair.on_slave("/srv/shared/zz-big").read_bytes() == big_after
