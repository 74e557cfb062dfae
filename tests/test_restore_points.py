"""Restore points on the slave: encrypted files pushed by force come back from the point before."""

import json
import time

import pytest
from support.trees import tree_digest
from test_brake import encrypt, office_on_master

pytestmark = pytest.mark.e2e


def files_only(digest: dict) -> dict:
    """Each file's mode, owner, size, time and content (folders' times change with their entries)."""
    return {name: entry for name, entry in digest.items() if entry[0] == "file"}


def points_of(pair, hotsync, count: int) -> list:
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
    first, = points_of(pair, hotsync, 1)
    assert first["added"] >= 1000

    time.sleep(1.1)  # the next point gets its own second
    encrypted = encrypt(data, 0.30, rename=True)
    assert pair.sync(in_process=True).code == 3
    assert tree_digest(pair.on_slave("/srv/office"), owners_and_times=True) == original, "the slave untouched"
    marker = pair.marker_version()
    assert pair.master.run("--force", in_process=True).code == 0
    pair.wait_for_new_marker(marker)
    assert len(list(pair.on_slave("/srv/office").rglob("*.locked"))) == encrypted
    first_again, second = points_of(pair, hotsync, 2)
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
    points_of(pair, hotsync, 1)
    outcome = pair.slave.run("restore", "/srv/office", "--at", "2001-01-01T00:00:00Z", in_process=True)
    assert outcome.code == 1
    assert "no restore point at or before 2001-01-01T00:00:00Z" in outcome.err
