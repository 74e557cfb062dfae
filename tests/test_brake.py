"""The brake: a push that looks like ransomware or a wipe is paused before one byte is sent."""

import json
import random
import re
import sys
import time
from pathlib import Path

import pytest
from support.trees import tree_digest

from hotsync.runtime.backup import CONFIG_BACKUP_FILES
from hotsync.runtime.brake import Entry, judge, leave_out, produced_by_hotsync
from hotsync.runtime.points import PUSH_ADDED_PATH
from hotsync.runtime.status import STATUS_PATH

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.tree import TreeShape, apply_change, file_path, generate_tree, undo_change

pytestmark = pytest.mark.e2e

SHAPE = TreeShape(files=1000, total_mib=8, files_per_folder=50)


def office_on_master(pair) -> Path:
    data = pair.on_master("/srv/office")
    generate_tree(data, SHAPE)
    pair.include_on_master("/srv/office")
    return data


def encrypt(data: Path, share: float, rename: bool, seed: int = 7) -> int:
    """What ransomware does: random bytes over ``share`` of the files, renamed ``*.locked`` or not."""
    chooser = random.Random(seed)
    numbers = chooser.sample(range(SHAPE.files), int(SHAPE.files * share))
    for number in numbers:
        path = file_path(data, number, SHAPE)
        scrambled = chooser.randbytes(path.stat().st_size)
        if rename:
            path.unlink()
            path = path.with_name(path.name + ".locked")
        path.write_bytes(scrambled)
    return len(numbers)


def status_of(pair) -> dict:
    return json.loads(pair.on_master(STATUS_PATH).read_text())


def sealed(pair, timeout: float = 15) -> None:
    """Wait until the slave's daemon has sealed the last push into a restore point (it does so
    just after the push ended, when the master's command may already be done): cycles minutes
    apart never overlap that step, back-to-back ones in a test could."""
    added = pair.on_slave(PUSH_ADDED_PATH)
    deadline = time.monotonic() + timeout
    while added.exists():
        assert time.monotonic() < deadline, "the slave did not seal the push into a restore point"
        time.sleep(0.05)


def test_ordinary_one_percent_cycles_never_pause_the_push(host_pair, hotsync, tmp_path):
    pair = host_pair
    data = office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    sealed(pair)
    for _ in range(5):
        apply_change(data, tmp_path / "stash", SHAPE, 1.0)
        changed = pair.sync(in_process=True)
        assert changed.code == 0, changed.err
        sealed(pair)
        undo_change(data, tmp_path / "stash", SHAPE, 1.0)
        restored = pair.sync(in_process=True)
        assert restored.code == 0, restored.err
        sealed(pair)


def test_files_encrypted_and_renamed_pause_the_push_with_nothing_sent_until_forced(host_pair, hotsync, mailbox):
    pair = host_pair
    pair.change_master_plan(notify="admin@example.com")
    data = office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    before = tree_digest(pair.on_slave("/srv/office"), owners_and_times=True)
    encrypted = encrypt(data, 0.30, rename=True)

    paused = pair.sync(in_process=True)

    assert paused.code == 3
    assert "paused: suspected mass change" in paused.err
    assert re.search(rf"{encrypted} of 10\d\d files would be deleted on the slave", paused.err)
    assert "a new extension '.locked'" in paused.err
    assert "random-looking (encrypted?) content" in paused.err
    assert "hotsync sync --force" in paused.err
    assert tree_digest(pair.on_slave("/srv/office"), owners_and_times=True) == before, "not one byte reached the slave"
    status = status_of(pair)
    assert status["result"] == "paused" and status["brake"]["deleted"] == encrypted
    (recipients, content), = mailbox.messages
    assert "Subject: HotSync paused a push on" in content and ".locked" in content
    shown = pair.master.run("status", in_process=True)
    assert "paused" in shown.out + shown.err

    assert pair.sync(in_process=True).code == 3, "the brake holds until the admin forces a push"
    forced = pair.master.run("--force", in_process=True)
    assert forced.code == 0, forced.err
    assert len(list(pair.on_slave("/srv/office").rglob("*.locked"))) == encrypted
    assert pair.sync(in_process=True).code == 0, "after a forced push the new state is the baseline"


def test_files_encrypted_in_place_pause_the_push(host_pair, hotsync):
    pair = host_pair
    data = office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    before = tree_digest(pair.on_slave("/srv/office"), owners_and_times=True)
    encrypt(data, 0.15, rename=False)  # below MaxRewritePercent: only the content gives it away

    paused = pair.sync(in_process=True)

    assert paused.code == 3, paused.out + paused.err
    assert "random-looking (encrypted?) content" in paused.err
    assert "MaxRewritePercent" not in paused.err
    assert tree_digest(pair.on_slave("/srv/office"), owners_and_times=True) == before


def test_ransom_notes_in_several_folders_pause_the_push_and_a_dry_run_says_so(host_pair, hotsync):
    pair = host_pair
    data = office_on_master(pair)
    assert pair.sync(in_process=True).code == 0
    for folder in sorted(path for path in data.rglob("folder-*"))[:3]:
        (folder / "HOW_TO_DECRYPT_FILES.txt").write_text("pay us\n")

    preview = pair.master.run("--dry-run", in_process=True)
    assert preview.code == 0
    assert "the brake would pause this push" in preview.out and "ransom notes in 3 folders" in preview.out

    paused = pair.sync(in_process=True)
    assert paused.code == 3
    assert "3 new files named like ransom notes in 3 folders" in paused.err
    assert not list(pair.on_slave("/srv/office").rglob("HOW_TO_DECRYPT*"))


def test_a_rewrite_of_most_files_pauses_at_the_setting():
    before = {f"d/f{number}.txt": Entry(100, "t0", 4.0) for number in range(100)}
    now = dict(before)
    for number in range(40):
        now[f"d/f{number}.txt"] = Entry(100, "t1", 4.0)  # rewritten, still ordinary content
    assert judge(before, now, ["/d"], 20, 50).reasons == ()
    verdict = judge(before, now, ["/d"], 20, 30)
    assert verdict.reasons == ("40 of 100 files would be rewritten (more than MaxRewritePercent 30 %)",)
    assert verdict.paused


def test_what_hotsync_itself_rewrites_each_cycle_never_pauses_a_small_hosts_push():
    """The configuration backup, the dumps and the points' list change every cycle by design: on a
    host with many databases and few files of its own they alone are more than MaxRewritePercent."""
    dumps = "/var/lib/nethserver/backup/mysql/"
    produced = produced_by_hotsync([dumps])
    users = {f"srv/small/{number}.txt": Entry(6, "2026/12/01-10:00:00") for number in range(30)}
    ours = [name.lstrip("/") for name in (*CONFIG_BACKUP_FILES, PUSH_ADDED_PATH)]
    ours += [f"{dumps.lstrip('/')}db{number}.dump" for number in range(25)]
    before = dict(users, **{name: Entry(100, "2026/12/01-10:00:00") for name in ours})
    now = dict(users, **{name: Entry(120, "2026/12/01-10:15:00") for name in ours})

    assert judge(before, now, ["srv/small/"], 50, 30).paused, "counted, HotSync's own files look like a mass rewrite"
    assert not judge(leave_out(before, produced), leave_out(now, produced), ["srv/small/"], 50, 30).paused


def test_editing_the_few_files_a_small_host_syncs_is_no_mass_change():
    before = {f"srv/docs/{number}.txt": Entry(6, "2026/12/01-10:00:00") for number in range(19)}
    now = {name: Entry(9, "2026/12/01-10:15:00") for name in before}

    assert not judge(before, now, ["srv/docs/"], 50, 30).paused, "19 files rewritten: below the minimum"
    before["srv/docs/19.txt"] = now["srv/docs/19.txt"] = Entry(6, "2026/12/01-10:00:00")
    now["srv/docs/19.txt"] = Entry(9, "2026/12/01-10:15:00")
    assert judge(before, now, ["srv/docs/"], 50, 30).paused, "20 of 20 rewritten: a mass change"
