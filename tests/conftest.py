"""Shared test helpers: run the CLI in-process or as a real process, make sandbox roots."""

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from helpers import Outcome
from hotsync.cli import main as hotsync_main


TEST_RSYNC_VARIABLE = "HOTSYNC_TEST_RSYNC"


def pytest_configure(config):
    """``HOTSYNC_TEST_RSYNC=/path/to/rsync`` runs the suite against that rsync: a folder holding
    it as ``rsync`` goes first on ``PATH``, so every host's client, daemon and fence (and the
    version the compiler records) use it. How rsync 3.1.2 (NethServer 7's) is checked by hand."""
    chosen = os.environ.get(TEST_RSYNC_VARIABLE)
    if not chosen:
        return
    program = Path(chosen).resolve()
    if not (program.is_file() and os.access(program, os.X_OK)):
        raise pytest.UsageError(f"{TEST_RSYNC_VARIABLE}={chosen}: no such executable")
    folder = Path(tempfile.mkdtemp(prefix="hotsync-test-rsync-"))
    (folder / "rsync").symlink_to(program)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    config.hotsync_test_rsync_folder = folder


def pytest_unconfigure(config):
    folder = getattr(config, "hotsync_test_rsync_folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_report_header(config):
    if os.environ.get(TEST_RSYNC_VARIABLE):
        return f"rsync under test: {os.environ[TEST_RSYNC_VARIABLE]} ({TEST_RSYNC_VARIABLE})"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (``HOTSYNC_TESTS_NO_SKIP=1``, set by ``.ci/run``) a skipped test fails: a
    skip there means the machine lacks something ``.ci/run`` should have installed."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("HOTSYNC_TESTS_NO_SKIP") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where nothing may be missing: {report.longrepr}"


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


@pytest.fixture
def host(sandbox):
    """A sandbox root whose daemons are always stopped at the end, whatever the test did."""
    from hotsync.root import Root
    from hotsync.host import ServiceError, host_for

    yield sandbox
    for name in ("stunnel", "rsyncd"):
        try:
            host_for(Root(sandbox)).stop_service(name)
        except ServiceError:
            pass
        _kill_leftover(sandbox / f"var/run/{name}.pid")


def _kill_leftover(pid_file: Path) -> None:
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
