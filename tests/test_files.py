"""The atomic write helper."""

import os

from hotsync.files import file_differs, write_file_atomic


def test_secret_file_is_never_readable_by_others(tmp_path):
    target = tmp_path / "etc" / "rsyncd.secrets"
    write_file_atomic(target, "hotsyncuser:secret\n", mode=0o600)
    assert target.read_text() == "hotsyncuser:secret\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_replacing_leaves_no_temp_file_and_changes_content(tmp_path):
    target = tmp_path / "a.conf"
    target.write_text("old\n")
    write_file_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["a.conf"]


def test_file_differs_notices_content_and_mode(tmp_path):
    target = tmp_path / "a.conf"
    write_file_atomic(target, "same\n", mode=0o644)
    assert not file_differs(target, "same\n", 0o644)
    assert file_differs(target, "other\n", 0o644)
    assert file_differs(target, "same\n", 0o600)
    assert file_differs(tmp_path / "missing", "", 0o644)


def test_scratch_files_are_written_whole_without_waiting_for_the_disk(tmp_path):
    target = tmp_path / "push.include"
    write_file_atomic(target, "/srv/data\n", mode=0o600, durable=False)
    assert target.read_text() == "/srv/data\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["push.include"]
