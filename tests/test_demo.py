"""``hotsync demo``: the README's first command, run as a newcomer would."""

import glob
import tempfile

import pytest
from support.runner import run_hotsync


@pytest.mark.e2e
def test_demo_runs_the_whole_cycle_and_cleans_up():
    before = set(glob.glob(f"{tempfile.gettempdir()}/hotsync-demo-*"))
    outcome = run_hotsync("demo", timeout=240)
    assert outcome.code == 0, outcome.out + outcome.err
    lines = outcome.out.splitlines()
    assert "  RESULT: every file and row arrived" in lines
    assert "  the slave's role is now: master" in lines
    assert any(line.startswith("  RPO (age of the slave's data when the master failed): ") for line in lines)
    assert any(line.startswith("  RTO (promotion of the slave): ") for line in lines)
    assert any(line.startswith("  files: 211 of 211 identical") for line in lines)
    assert set(glob.glob(f"{tempfile.gettempdir()}/hotsync-demo-*")) == before
    assert "Traceback" not in outcome.err


@pytest.mark.e2e
def test_demo_keep_leaves_the_hosts_and_says_how_to_look_around():
    outcome = run_hotsync("demo", "--keep", timeout=240)
    assert outcome.code == 0, outcome.out + outcome.err
    kept = next(line for line in outcome.out.splitlines() if line.startswith("The two hosts are kept in "))
    folder = kept[len("The two hosts are kept in "):].split(". Look around with:")[0]
    try:
        status = run_hotsync("--root", f"{folder}/slave", "status")
        assert status.code == 0 and "role: master" in status.out
    finally:
        for host in ("slave", "master"):
            run_hotsync("--root", f"{folder}/{host}", "services", "stop")
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
