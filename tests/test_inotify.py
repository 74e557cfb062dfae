"""The change watcher on a real kernel: what an admin's writes, new folders, moves and
deletions under the includes turn into (``hotsync/runtime/inotify.py``)."""

import os
import time
from pathlib import Path

from hotsync.runtime.inotify import CHANGED, DELETED, OVERFLOW, Watcher


def gather(watcher, seconds=0.5):
    changes = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        changes += watcher.read(0.05)
    return changes


def test_writes_deletions_and_new_folders_are_reported_as_paths(tmp_path):
    tree = tmp_path / "srv"
    (tree / "old").mkdir(parents=True)
    (tree / "old/gone.txt").write_text("x")
    with Watcher([str(tree)]) as watcher:
        (tree / "old/new.txt").write_text("hello")
        (tree / "old/gone.txt").unlink()
        (tree / "made/deeper").mkdir(parents=True)
        (tree / "made/deeper/inside.txt").write_text("written right after the folder")
        changes = set(gather(watcher))
    assert (CHANGED, str(tree / "old/new.txt")) in changes
    assert (DELETED, str(tree / "old/gone.txt")) in changes
    assert (CHANGED, str(tree / "made/deeper/inside.txt")) in changes
    with Watcher([str(tree)]) as watcher:
        (tree / "made/deeper/later.txt").write_text("in a folder that appeared while watched")
        assert (CHANGED, str(tree / "made/deeper/later.txt")) in set(gather(watcher))


def test_a_folder_moved_in_is_reported_whole_and_a_move_out_is_a_deletion(tmp_path):
    tree, outside = tmp_path / "srv", tmp_path / "elsewhere"
    tree.mkdir()
    (outside / "box").mkdir(parents=True)
    (outside / "box/letter.txt").write_text("moved in")
    (tree / "leaving.txt").write_text("moved out")
    with Watcher([str(tree)]) as watcher:
        os.rename(outside / "box", tree / "box")
        os.rename(tree / "leaving.txt", outside / "leaving.txt")
        changes = set(gather(watcher))
        assert (CHANGED, str(tree / "box/letter.txt")) in changes
        assert (DELETED, str(tree / "leaving.txt")) in changes
        assert not any(path.startswith(str(outside)) for _kind, path in changes)
        (tree / "box/second.txt").write_text("the moved folder is watched too")
        assert (CHANGED, str(tree / "box/second.txt")) in set(gather(watcher))


def test_a_file_include_reports_that_file_only(tmp_path):
    (tmp_path / "etc").mkdir()
    with Watcher([str(tmp_path / "etc/wanted.conf")]) as watcher:
        (tmp_path / "etc/wanted.conf").write_text("a")
        (tmp_path / "etc/other.conf").write_text("b")
        paths = {path for _kind, path in gather(watcher)}
    assert paths == {str(tmp_path / "etc/wanted.conf")}


def test_a_queue_overflow_is_reported(tmp_path):
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    tree = tmp_path / "srv"
    tree.mkdir()
    with Watcher([str(tree)]) as watcher:
        # Each new file queues two events (created, closed): more than the queue holds, none
        # read meanwhile (the kernel folds only identical consecutive events).
        for number in range(limit // 2 + 100):
            (tree / f"f{number}").touch()
        assert (OVERFLOW, "") in gather(watcher, 1.0)


def test_a_batch_lists_a_deleted_folder_once_and_not_the_files_that_left_with_it(tmp_path):
    from hotsync.runtime.watch import Pending

    base = str(tmp_path)
    (tmp_path / "srv/kept").mkdir(parents=True)
    (tmp_path / "srv/kept/here.txt").write_text("x")
    pending = Pending()
    pending.add([(CHANGED, f"{base}/srv/box/a.txt"), (CHANGED, f"{base}/srv/kept/here.txt"),
                 (DELETED, f"{base}/srv/box/deeper"), (DELETED, f"{base}/srv/box")], 100.0)
    batch = pending.take(base)
    assert batch.deleted == ("/srv/box",)
    assert batch.changed == ("/srv/kept/here.txt",)
    assert batch.oldest_epoch == 100.0 and len(pending) == 0
