"""The brake's scan lists what the push would consider, as the push's own rsync selects it.

The push hands rsync its include entries with ``--files-from``; the scan lists the same entries
as relative sources (``--list-only``, no receiver). These tests hold the two selections side by
side on one tree with the filters a host has: the scan must see exactly the files, sizes and
times a ``--files-from`` transfer would consider, in the manifest's spelling, or the brake
would judge a different tree than the one the push sends (and a manifest written by an
earlier scan would look rewritten).
"""

import os
import subprocess
import time
from pathlib import Path
from typing import Dict

import pytest

from hotsync.runtime import brake
from hotsync.runtime.brake import Entry, scan_commands, scan_files

INCLUDES = ["/srv/a", "/srv/b/", "/srv/c", "/srv/d e", "/var/lib/x/y", "/srv/missing", "/srv/top.txt",
            "/srv/odd", "/srv/linked-folder/", "/srv/linked-file", "/srv/glob*", "/srv/q[1]"]
EXCLUDES = ["*.tmp", "/srv/b/.recycle", "/srv/c", "/var/lib/x/y", "/srv/a/sub/deep/"]
FILES = ["srv/a/one.txt", "srv/a/sub/two.tmp", "srv/a/sub/three.txt", "srv/a/sub/deep/gone.txt",
         "srv/b/.recycle/old", "srv/b/keep", "srv/c/x.pid", "srv/d e/f g", "var/lib/x/y", "srv/top.txt",
         "srv/odd/café  two spaces", "srv/odd/new\nline", "srv/odd/ leading space", "srv/odd/-dash",
         "srv/elsewhere.txt", "shares/real/inside.txt", "shares/real.txt", "srv/glob*", "srv/globbed",
         "srv/q[1]", "srv/q1"]


@pytest.fixture
def host_tree(tmp_path) -> Path:
    source = tmp_path / "source"
    for number, name in enumerate(FILES):
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (number * 100 + 1))
        os.utime(str(path), (1_700_000_000 + number, 1_700_000_000 + number))
    os.symlink("/etc", str(source / "srv/a/link"))
    os.symlink("../shares/real", str(source / "srv/linked-folder"))  # named with a slash: followed
    os.symlink("../shares/real.txt", str(source / "srv/linked-file"))  # a link, not a file
    os.mkfifo(str(source / "srv/a/pipe"))
    return source


def lists(tmp_path: Path):
    include, exclude, empty = tmp_path / "push.include", tmp_path / "push.exclude", tmp_path / "empty"
    include.write_text("".join(f"{entry}\n" for entry in INCLUDES))
    exclude.write_text("".join(f"{entry}\n" for entry in EXCLUDES))
    empty.mkdir(exist_ok=True)
    return include, exclude, empty


def files_from_selection(source: Path, include: Path, exclude: Path, empty: Path,
                         missing_entries: bool = True) -> Dict[str, Entry]:
    """The regular files a ``--files-from`` transfer into an empty folder would send, with
    rsync's ``%l`` size and ``%M`` time (the spelling of every manifest written so far)."""
    listing = subprocess.run(["rsync", "-r", "-a", "--dry-run", "--out-format=%i %l %M %n",
                              f"--files-from={include}", f"--exclude-from={exclude}", f"{source}/", f"{empty}/"],
                             env=dict(os.environ, LC_ALL="C"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listing.returncode == (23 if missing_entries else 0), listing.stderr  # /srv/missing
    selected = {}
    for line in listing.stdout.decode("ascii").split("\n"):
        if line.startswith(">f"):
            _code, size, mtime, name = line.split(" ", 3)
            selected[name] = Entry(int(size), mtime)
    return selected


def test_the_scan_lists_exactly_what_the_push_selects_with_size_and_time(host_tree, tmp_path):
    include, exclude, empty = lists(tmp_path)

    scan, manifest = scan_files(scan_commands(include, exclude, None, str(host_tree), empty), tmp_path,
                                lambda: "read meanwhile")

    assert manifest == "read meanwhile"
    assert scan.error == ""
    assert scan.files == files_from_selection(host_tree, include, exclude, empty)
    assert "srv/odd/new\\#012line" in scan.files and "srv/odd/ leading space" in scan.files
    assert "srv/a/sub/deep/gone.txt" not in scan.files and "srv/elsewhere.txt" not in scan.files
    assert "srv/linked-folder/inside.txt" in scan.files and "srv/linked-file" not in scan.files
    assert "srv/glob*" in scan.files and "srv/globbed" not in scan.files, "an entry is a name, not a pattern"
    assert list(empty.iterdir()) == [], "the scan wrote into its destination"


def test_a_long_list_of_entries_is_scanned_in_several_runs_with_the_same_result(host_tree, tmp_path, monkeypatch):
    include, exclude, empty = lists(tmp_path)
    whole, _ = scan_files(scan_commands(include, exclude, None, str(host_tree), empty), tmp_path, lambda: None)
    monkeypatch.setattr(brake, "SCAN_ARGUMENT_BYTES", 40)

    commands = scan_commands(include, exclude, None, str(host_tree), empty)
    split, _ = scan_files(commands, tmp_path, lambda: None)

    assert len(commands) == len(INCLUDES)
    assert split == whole


def test_a_scan_rsync_refuses_is_an_error_not_an_empty_tree(host_tree, tmp_path):
    include, _exclude, empty = lists(tmp_path)

    commands = scan_commands(include, tmp_path / "no-such-exclude-file", None, str(host_tree), empty)
    scan, _ = scan_files(commands, tmp_path, lambda: None)

    assert scan.files == {}
    assert scan.error.startswith("the brake's scan failed (rsync exit ")


def test_a_listing_read_while_rsync_writes_it_misses_no_file(tmp_path):
    """The listing is read as it grows: thousands of lines arrive in many pieces, none lost or cut."""
    source = tmp_path / "source"
    for number in range(6000):
        path = source / f"srv/big/folder-{number // 100:02d}/file with a long name {number:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (number % 97))
    include, exclude, empty = tmp_path / "include", tmp_path / "exclude", tmp_path / "empty"
    include.write_text("/srv/big\n")
    exclude.write_text("")
    empty.mkdir()

    scan, _ = scan_files(scan_commands(include, exclude, None, str(source), empty), tmp_path,
                         lambda: time.sleep(0.05))

    assert scan.error == ""
    assert len(scan.files) == 6000
    assert scan.files == files_from_selection(source, include, exclude, empty, missing_entries=False)


def test_a_scan_that_cannot_write_its_listing_is_an_error_not_an_empty_tree(host_tree, tmp_path):
    include, exclude, empty = lists(tmp_path)

    scan, manifest = scan_files(scan_commands(include, exclude, None, str(host_tree), empty),
                                tmp_path / "no-such-folder", lambda: "read meanwhile")

    assert manifest == "read meanwhile"
    assert scan.files == {}
    assert scan.error.startswith(f"cannot write the brake's scan into {tmp_path / 'no-such-folder'}: ")
