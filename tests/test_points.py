"""Restore points without daemons: pushes simulated as rsync --backup-dir makes them, then
every point restored exactly, also after points in the middle and at the start were pruned."""

import json
import os
import random
import time
from pathlib import Path

import pytest

from hotsync.plan import Plan, save_plan
from hotsync.root import Root
from hotsync.runtime.points import (
    INCOMING_FOLDER,
    PUSH_ADDED_PATH,
    Point,
    drop_point,
    kept_by_grid,
    list_points,
    restore,
    seal_point,
)
from hotsync.runtime.status import stamp_marker_command

HOUR = 3600


def push(root: Root, new_state: dict, now: float) -> None:
    """What a push with --backup --backup-dir does on the slave, then the post-xfer seal."""
    data = root.path("/srv/data")
    data.mkdir(parents=True, exist_ok=True)
    current = {path.name: path.read_text() for path in data.iterdir()}
    incoming = root.path(INCOMING_FOLDER) / "srv/data"
    for name, text in current.items():
        if new_state.get(name) != text:
            incoming.mkdir(parents=True, exist_ok=True)
            os.rename(data / name, incoming / name)
    for name, text in new_state.items():
        if current.get(name) != text:
            (data / name).write_text(text)
    added = [f"srv/data/{name}" for name in new_state if name not in current]
    root.path(PUSH_ADDED_PATH).parent.mkdir(parents=True, exist_ok=True)
    root.path(PUSH_ADDED_PATH).write_text(json.dumps(added))
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
    data = root.path("/srv/data")
    (data / "f9").write_text("new")  # what this push's rsync wrote; its seal comes from post-xfer exec
    root.path(PUSH_ADDED_PATH).write_text(json.dumps(["srv/data/f9"]))

    assert stamp_marker_command(root, {"RSYNC_EXIT_STATUS": "0"}) == 0
    points = list_points(root)
    assert len(points) == kept_count
    assert restored(root, points[-1], tmp_path) == state
