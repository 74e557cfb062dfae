"""The tools' versions are found once, by 'hotsync compile', and kept in the plan: an admin
(or a test) reads in plan.json which rsync the options were chosen for."""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from support.hosts import Host
from support.runner import admin

from hotsync.tool_versions import at_least, parse_rsync_version, probe_tool_versions, version_tuple

PLAN = "var/lib/nethserver/hotsync/plan.json"
# What NethServer 7's rsync prints (rsync-3.1.2-12.el7_9), first lines.
RSYNC_312_VERSION = """rsync  version 3.1.2  protocol version 31
Copyright (C) 1996-2015 by Andrew Tridgell, Wayne Davison, and others.
Web site: http://rsync.samba.org/
"""


def fake_tool(folder: Path, name: str, output: str, exit_code: int = 0) -> Path:
    """A stand-in ``name`` in ``folder`` that prints ``output`` whatever it is asked."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def compiled_plan(root: Path) -> dict:
    Host(root).configure("master", peer="192.168.1.2", in_process=True)
    admin(root, "compile", "--quiet", in_process=True)
    return json.loads((root / PLAN).read_text())


def test_the_plan_records_the_rsync_found_on_path(sandbox, tmp_path, monkeypatch):
    fake_tool(tmp_path / "bin", "rsync", RSYNC_312_VERSION)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert compiled_plan(sandbox)["tools"]["rsync"] == "3.1.2"


def test_the_plan_records_this_machines_rsync(sandbox):
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    printed = subprocess.run(["rsync", "--version"], stdout=subprocess.PIPE, universal_newlines=True).stdout
    recorded = compiled_plan(sandbox)["tools"]["rsync"]
    assert recorded and printed.split()[2] == recorded


def test_a_missing_or_broken_rsync_leaves_the_version_unknown_and_compiling_works(sandbox, tmp_path, monkeypatch):
    fake_tool(tmp_path / "bin", "rsync", "Segmentation fault\n", exit_code=139)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert compiled_plan(sandbox)["tools"]["rsync"] == ""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert probe_tool_versions().rsync == ""


def test_a_recompile_after_the_tool_changed_records_the_new_version(sandbox, tmp_path, monkeypatch):
    fake_tool(tmp_path / "old", "rsync", RSYNC_312_VERSION)
    fake_tool(tmp_path / "new", "rsync", "rsync  version v3.4.1  protocol version 32\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'old'}{os.pathsep}{os.environ['PATH']}")
    assert compiled_plan(sandbox)["tools"]["rsync"] == "3.1.2"
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{os.environ['PATH']}")
    admin(sandbox, "compile", "--quiet", in_process=True)
    assert json.loads((sandbox / PLAN).read_text())["tools"]["rsync"] == "3.4.1"


@pytest.mark.parametrize("text, version", [
    (RSYNC_312_VERSION, "3.1.2"),
    ("rsync  version 3.5.0  protocol version 32\n", "3.5.0"),
    ("rsync  version v3.2.7  protocol version 31\n", "3.2.7"),
    ("rsync: command not found\n", ""),
    ("", ""),
])
def test_rsync_version_lines_are_read(text, version):
    assert parse_rsync_version(text) == version


def test_versions_compare_as_numbers_and_unknown_is_oldest():
    assert version_tuple("3.10.0") > version_tuple("3.9.9")
    assert at_least("3.1.3", (3, 1, 3)) and not at_least("3.1.2", (3, 1, 3))
    assert not at_least("", (0,))
