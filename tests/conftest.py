"""Shared test helpers: run the CLI in-process or as a real process, make sandbox roots."""

from pathlib import Path

import pytest

from helpers import Outcome
from hotsync.cli import main as hotsync_main


@pytest.fixture
def hotsync(capsys):
    """Run ``hotsync ARGS`` in-process; returns exit code and captured output."""

    def run(*arguments) -> Outcome:
        capsys.readouterr()
        code = hotsync_main([str(argument) for argument in arguments])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def sandbox(tmp_path) -> Path:
    """An empty sandbox root."""
    root = tmp_path / "host"
    root.mkdir()
    return root
