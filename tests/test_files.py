"""The file helpers: the atomic write, the atomic target a program writes, the log append, the digest."""

import hashlib
import os
import subprocess

import pytest

from hotsync.files import (
    advance_mtime_if_rewritten,
    append_to_log,
    atomic_target,
    file_differs,
    file_digest,
    file_status,
    write_file_atomic,
)


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


def test_a_program_writes_the_atomic_target_which_replaces_the_file_only_when_it_succeeded(tmp_path):
    target = tmp_path / "dumps" / "calls.dump"
    target.parent.mkdir()
    target.write_text("previous good dump\n")

    with pytest.raises(subprocess.CalledProcessError):
        with atomic_target(target, 0o600, suffix=".partial") as temp:
            subprocess.run(["sh", "-c", 'echo half > "$1"; exit 3', "sh", str(temp)], check=True)
    assert target.read_text() == "previous good dump\n"
    assert sorted(os.listdir(target.parent)) == ["calls.dump"]

    with atomic_target(target, 0o600, suffix=".partial") as temp:
        assert temp.parent == target.parent and temp.name.endswith(".partial")
        assert temp.stat().st_mode & 0o777 == 0o600, "the mode is set before the program writes"
        subprocess.run(["sh", "-c", 'echo whole > "$1"', "sh", str(temp)], check=True)
    assert target.read_text() == "whole\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(target.parent)) == ["calls.dump"]


def test_a_log_is_appended_to_and_created_readable_by_root_alone(tmp_path):
    log = tmp_path / "var/log/hotsync.log"
    append_to_log(log, "first\n")
    append_to_log(log, "second\n")
    assert log.read_text() == "first\nsecond\n"
    assert log.stat().st_mode & 0o777 == 0o600


def test_the_digest_of_a_file_larger_than_a_block_is_the_digest_of_its_content(tmp_path):
    data = os.urandom(3 * (1 << 20) + 5)
    path = tmp_path / "backup-config.tar.xz"
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(data).hexdigest()


def rewritten_in_the_same_second(path, rewrite):
    """Give ``path`` the current second as its time, then ``rewrite`` it within that second
    (what rsync's quick check cannot tell from the old version when the size is the same)."""
    import time

    for _ in range(20):
        now = time.time()
        if now - int(now) < 0.5:
            os.utime(path, (int(now), int(now)))
            rewrite()
            if int(time.time()) == int(now):
                return int(now)
        time.sleep(1 - (now - int(now)))
    raise AssertionError("could not rewrite the file within one second")


@pytest.mark.parametrize("how", ["content", "program"])
def test_a_rewrite_in_the_same_second_gets_a_later_second(tmp_path, how):
    path = tmp_path / "db.dump"
    path.write_text("value A\n")

    def rewrite():
        if how == "content":
            write_file_atomic(path, "value B\n", mode=0o600)
        else:
            with atomic_target(path, 0o600) as temp:
                subprocess.run(["sh", "-c", f"printf 'value B\\n' > {temp}"], check=True)

    second = rewritten_in_the_same_second(path, rewrite)
    assert path.read_text() == "value B\n"
    assert int(path.stat().st_mtime) == second + 1


def test_a_rewrite_never_goes_back_in_time(tmp_path):
    path = tmp_path / "db.dump"
    path.write_text("value A\n")
    future = 4_000_000_000  # a file stamped by a clock that ran ahead
    os.utime(path, (future, future))
    write_file_atomic(path, "value B\n")
    assert int(path.stat().st_mtime) == future + 1
    fresh = tmp_path / "new.dump"
    write_file_atomic(fresh, "value\n")  # nothing replaced: the time is the clock's
    assert abs(fresh.stat().st_mtime - os.stat(tmp_path).st_mtime) < 5


def test_a_file_another_program_left_alone_keeps_its_time(tmp_path):
    path = tmp_path / "backup-config.tar.xz"
    path.write_bytes(b"archive")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    before = file_status(path)
    advance_mtime_if_rewritten(path, before)
    assert path.stat().st_mtime == 1_700_000_000
    os.replace(_written(tmp_path / "new", b"archivf"), path)
    os.utime(path, (1_700_000_000, 1_700_000_000))  # the tool kept the time (same second)
    advance_mtime_if_rewritten(path, before)
    assert path.stat().st_mtime == 1_700_000_001


def _written(path, data):
    path.write_bytes(data)
    return path
