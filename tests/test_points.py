"""Restore points without daemons: pushes simulated as rsync --backup-dir makes them, then
every point restored exactly, also after points in the middle and at the start were pruned."""

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from hotsync.errors import HotsyncError
from hotsync.paths import TRANSFERS_FOLDER
from hotsync.plan import Plan, save_plan
from hotsync.root import Root
from hotsync.runtime.points import (
    INCOMING_FOLDER,
    PUSH_ADDED_PATH,
    Point,
    drop_point,
    kept_by_grid,
    list_points,
    point_for,
    restore,
)
from hotsync.runtime.sealing import begin_transfer, new_push_name, seal_point, write_push_added
from hotsync.runtime.status import stamp_marker_command

HOUR = 3600


def transfer(root: Root, new_state: dict, name: str = "") -> None:
    """What a push's rsync (--backup --backup-dir=incoming/NAME) does on the slave: each file it
    replaces or deletes kept in the push's folder, and its list of added files (sent by its
    master), itself kept when it replaces another push's list."""
    name = name or new_push_name()
    data = root.path("/srv/data")
    data.mkdir(parents=True, exist_ok=True)
    current = {path.name: path.read_text() for path in data.iterdir()}
    folder = root.path(INCOMING_FOLDER) / name
    for file_name, text in current.items():
        if new_state.get(file_name) != text:
            move(data / file_name, folder / "srv/data" / file_name)
    for file_name, text in new_state.items():
        if current.get(file_name) != text:
            (data / file_name).write_text(text)
    added = [f"srv/data/{file_name}" for file_name in new_state if file_name not in current]
    listed = root.path(PUSH_ADDED_PATH)
    if listed.exists():
        move(listed, folder / PUSH_ADDED_PATH.lstrip("/"))
    listed.parent.mkdir(parents=True, exist_ok=True)
    write_push_added(root, name, added)


def move(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.rename(source, destination)


def push(root: Root, new_state: dict, now: float) -> None:
    """One push on the slave, then its post-xfer seal."""
    transfer(root, new_state)
    seal_point(root, 0, now)


def restored(root: Root, point: Point, tmp_path: Path) -> dict:
    target = tmp_path / f"out-{point.name}-{random.random()}"
    restore(root, point, "/srv/data", target, dry_run=False)
    folder = target / "data"
    return {path.name: path.read_text() for path in folder.iterdir()} if folder.is_dir() else {}


def test_every_point_restores_exactly_also_after_pruning(tmp_path):
    root = Root(tmp_path / "slave")
    chooser = random.Random(5)
    states, state = [], {}
    start = 1_800_000_000
    for number in range(8):
        state = dict(state)
        for name in list(state):
            if chooser.random() < 0.3:
                del state[name]
            elif chooser.random() < 0.3:
                state[name] = f"{name} v{number}"
        for extra in range(3):
            state[f"f{number}-{extra}"] = f"new {number}"
        push(root, state, start + number * HOUR)
        states.append(state)
    points = list_points(root)
    assert len(points) == 8
    assert [restored(root, point, tmp_path) for point in points] == states

    drop_point(root, points[3].name)  # a point in the middle
    drop_point(root, points[0].name)  # the oldest
    kept = list_points(root)
    assert [point.name for point in kept] == [point.name for index, point in enumerate(points) if index not in (0, 3)]
    assert [restored(root, point, tmp_path) for point in kept] == [states[i] for i in (1, 2, 4, 5, 6, 7)]

    in_place = restore(root, kept[0], "/srv/data", None, dry_run=False)
    assert in_place
    assert {path.name: path.read_text() for path in root.path("/srv/data").iterdir()} == states[1]



def running_transfer(root: Root) -> subprocess.Popen:
    """A process standing for a transfer the daemon runs, noted by its pre-xfer exec."""
    process = subprocess.Popen(["sleep", "120"])
    begin_transfer(root, {"RSYNC_PID": str(process.pid)})
    return process


def end(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


@pytest.mark.parametrize("waiter_alive", [False, True], ids=["rsync 3.1.2", "rsync 3.2 and later"])
def test_overlapping_pushes_share_one_point_where_the_first_tells_how_files_were(tmp_path, waiter_alive):
    """The second push ends first, while the first still runs: its seal leaves everything to
    the first one's, which seals both. File a was replaced by both: the point keeps the version
    before the first. (rsync 3.1.2's RSYNC_PID is the transfer, gone when its post-xfer exec
    runs; later ones name the process running post-xfer exec, alive until it is done.)"""
    root = Root(tmp_path / "slave")
    start = 1_800_000_000
    before = {"a": "v1", "b": "v1", "c": "v1"}
    push(root, before, start)
    first = running_transfer(root)
    transfer(root, {**before, "a": "first", "d": "first"})
    second = running_transfer(root)
    after = {"a": "second", "b": "second", "c": "v1", "d": "first", "e": "second"}
    transfer(root, after)
    if not waiter_alive:
        end(second)
    assert seal_point(root, 0, start + 60, transfer=second.pid) is None
    end(second)
    assert len(list(root.path(INCOMING_FOLDER).iterdir())) == 2, "both pushes wait, each in its folder"

    if not waiter_alive:
        end(first)
    point = seal_point(root, 0, start + 61, transfer=first.pid)
    end(first)
    assert point is not None and (point.added, point.changed, point.removed) == (2, 2, 0)
    points = list_points(root)
    assert len(points) == 2
    assert [restored(root, each, tmp_path) for each in points] == [before, after]
    assert not root.path(INCOMING_FOLDER).exists()


def test_a_seal_leaves_the_pushes_to_a_transfer_noted_before_it_the_last_to_end_seals(tmp_path):
    root = Root(tmp_path / "slave")
    start = 1_800_000_000
    push(root, {"a": "v1"}, start)
    transfer(root, {"a": "v2"})
    late = running_transfer(root)  # noted while the last push's post-xfer exec starts
    assert seal_point(root, 0, start + 60) is None, "a running push: the last to end seals"
    end(late)
    assert seal_point(root, 0, start + 61, transfer=late.pid) is not None
    transfer(root, {"a": "v3"})
    assert seal_point(root, 0, start + 62) is not None
    assert [restored(root, each, tmp_path) for each in list_points(root)] == [{"a": "v1"}, {"a": "v2"}, {"a": "v3"}]



def test_a_note_left_by_a_transfer_that_never_ended_holds_no_seal_back(tmp_path):
    """The daemon died before a transfer's post-xfer exec: its note stays, and its number may be
    taken by a later process. Neither is a running transfer."""
    root = Root(tmp_path / "slave")
    start = 1_800_000_000
    push(root, {"a": "v1"}, start)
    reused = running_transfer(root)
    gone = running_transfer(root)
    end(gone)
    notes = root.path(TRANSFERS_FOLDER)
    os.utime(notes / str(reused.pid), (time.time() - 60, time.time() - 60))  # noted before it started
    transfer(root, {"a": "v2"})
    try:
        assert seal_point(root, 0, start + 60) is not None
    finally:
        end(reused)
    assert not list(notes.iterdir())
    assert [restored(root, each, tmp_path) for each in list_points(root)] == [{"a": "v1"}, {"a": "v2"}]

def test_what_an_older_master_saved_straight_into_incoming_is_sealed_too(tmp_path):
    """A master of an earlier HotSync: one --backup-dir for every push, a plain list of added files."""
    root = Root(tmp_path / "slave")
    start = 1_800_000_000
    push(root, {"a": "v1", "b": "v1"}, start)
    data = root.path("/srv/data")
    move(data / "a", root.path(INCOMING_FOLDER) / "srv/data/a")
    (data / "a").write_text("v2")
    (data / "n").write_text("new")
    root.path(PUSH_ADDED_PATH).write_text(json.dumps(["srv/data/n"]))
    assert seal_point(root, 0, start + 60) is not None
    first, second = list_points(root)
    assert restored(root, first, tmp_path) == {"a": "v1", "b": "v1"}
    assert restored(root, second, tmp_path) == {"a": "v2", "b": "v1", "n": "new"}
    assert not root.path(INCOMING_FOLDER).exists()

def test_the_grid_keeps_every_recent_point_then_one_per_hour_day_and_week_and_always_the_newest():
    now = 1_800_000_000
    ages = [60, 1800, 3600, 7000, 3 * HOUR + 10, 3 * HOUR + 20, 30 * HOUR, 3 * 86400, 3 * 86400 + 60,
            20 * 86400, 70 * 86400]
    points = [Point(f"p{age}", now - age) for age in ages]
    kept = kept_by_grid(points, now)
    assert {"p60", "p1800", "p3600", "p7000"} <= kept  # every push for 2 hours
    assert len(kept & {f"p{3 * HOUR + 10}", f"p{3 * HOUR + 20}"}) == 1  # one an hour
    assert f"p{30 * HOUR}" in kept
    assert len(kept & {f"p{3 * 86400}", f"p{3 * 86400 + 60}"}) == 1  # one a day
    assert f"p{20 * 86400}" in kept  # one a week
    assert f"p{70 * 86400}" not in kept  # older than 8 weeks
    assert kept_by_grid([Point("old", now - 400 * 86400)], now) == {"old"}, "never the newest"


@pytest.mark.parametrize("keep, kept_count", [((), 4), ((0, 86400, 7 * 86400, 28 * 86400), 2)],
                         ids=["default plan", "RestorePointsKeep 0h,1d,7d,4w"])
def test_the_slave_prunes_its_points_with_the_grid_of_its_plan(tmp_path, keep, kept_count):
    """Three points within the last hour but one, under 2 hours old: the default grid keeps
    every point for 2 hours; a grid without that span keeps one of them (one an hour)."""
    root = Root(tmp_path / "slave")
    settings = {"restore_points_keep": keep} if keep else {}
    save_plan(root, Plan(version=1, source_hash="", role="slave", enabled=True, databases_enabled=True,
                         restore_points_free_percent=0, **settings))
    last_hour = (int(time.time()) // HOUR - 1) * HOUR
    state = {}
    for number in range(3):
        state = {**state, f"f{number}": "old"}
        push(root, state, last_hour + 60 + 50 * number)
    assert len(list_points(root)) == 3
    state = {**state, "f9": "new"}
    transfer(root, state)  # its seal comes from post-xfer exec

    assert stamp_marker_command(root, {"RSYNC_EXIT_STATUS": "0"}) == 0
    points = list_points(root)
    assert len(points) == kept_count
    assert restored(root, points[-1], tmp_path) == state


def test_at_takes_a_points_own_name_also_for_two_points_of_one_second(tmp_path):
    """'hotsync restore-points' lists the second of two points made in one second as NAME-2:
    '--at NAME-2' picks it, '--at NAME' the first; any other text is still a time."""
    root = Root(tmp_path / "slave")
    now = 1_764_620_100.0
    push(root, {"a.txt": "one\n"}, now)
    push(root, {"a.txt": "two\n"}, now + 0.2)
    push(root, {"a.txt": "three\n"}, now + 0.4)
    first, second, third = list_points(root)
    assert second.name == f"{first.name}-2" and third.name == f"{first.name}-3"
    assert point_for(root, second.name) == second
    assert point_for(root, f" {first.name} ") == first
    assert restored(root, point_for(root, second.name), tmp_path) == {"a.txt": "two\n"}
    with pytest.raises(HotsyncError, match="cannot read the time 'yesterday'"):
        point_for(root, "yesterday")
