"""The manifest of what the slave holds: the continuous push's journal over a full push's
manifest, and rsync's names for the files in it."""

from hotsync.root import Root
from hotsync.runtime.brake import scan_commands, scan_files
from hotsync.runtime.manifest import (
    JOURNAL_PATH,
    Entry,
    FileIndex,
    append_journal,
    listed_name,
    manifest_identity,
    read_manifest,
    real_name,
    write_manifest,
)


def test_the_journal_of_batches_is_read_over_the_manifest_until_a_full_push_replaces_it(tmp_path):
    root = Root(tmp_path)
    write_manifest(root, {"srv/a.txt": Entry(5, "t0", 4.0), "srv/b.txt": Entry(6, "t0", 4.0)})
    identity = manifest_identity(root)
    append_journal(root, identity, {"srv/a.txt": Entry(9, "t1", 4.1), "srv/c.txt": Entry(3, "t1")})
    append_journal(root, identity, {"srv/b.txt": None})
    assert read_manifest(root) == {"srv/a.txt": Entry(9, "t1", 4.1), "srv/c.txt": Entry(3, "t1")}

    with open(root.path(JOURNAL_PATH), "a") as journal:
        journal.write("+ 7 t2 4.00 srv/cut")  # a crash in the middle of a line: left out
    assert "srv/cut" not in read_manifest(root)

    write_manifest(root, {"srv/d.txt": Entry(1, "t3")})
    assert read_manifest(root) == {"srv/d.txt": Entry(1, "t3")}
    assert not root.path(JOURNAL_PATH).exists()


def test_a_journal_left_by_a_replaced_manifest_is_ignored(tmp_path):
    root = Root(tmp_path)
    write_manifest(root, {"srv/a.txt": Entry(5, "t0")})
    stale = manifest_identity(root)
    write_manifest(root, {"srv/a.txt": Entry(8, "t1")})
    append_journal(root, stale, {"srv/a.txt": None})
    assert read_manifest(root) == {"srv/a.txt": Entry(8, "t1")}


def test_names_are_spelled_as_rsync_lists_them_and_read_back_whole(tmp_path):
    source = tmp_path / "source"
    (source / "srv").mkdir(parents=True)
    names = ["plain.txt", "café.txt", "new\nline", "tab\there"]
    for name in names:
        (source / "srv" / name).write_text("x")
    (tmp_path / "list").write_text("/srv\n")
    (tmp_path / "exclude").write_text("")
    (tmp_path / "empty").mkdir()
    commands = scan_commands(tmp_path / "list", tmp_path / "exclude", None, str(source), tmp_path / "empty")
    scan, _ = scan_files(commands, tmp_path, lambda: None)
    assert scan.error == ""
    listed = set(scan.files)
    assert listed == {listed_name(f"/srv/{name}") for name in names}
    assert {real_name(name) for name in listed} == {f"srv/{name}" for name in names}


def test_the_index_finds_every_file_under_a_folder():
    index = FileIndex(["a/x", "a/y/z", "a.b", "ab/c", "a0"])
    index.add("a/new")
    present = {"a/x", "a/y/z", "a/new", "ab/c"}
    assert sorted(index.under("a", lambda name: name in present)) == ["a/new", "a/x", "a/y/z"]
