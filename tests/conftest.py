"""The tests' toolbox is ``tests/support/``; its fixtures are registered here as pytest plugins.
Here too: the rsync under test (``HOTSYNC_TEST_RSYNC``) and no skip under CI."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["pytester", "support.runner", "support.hosts", "support.scenarios", "support.namespaces",
                  "support.databases", "support.pairs"]

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
