"""``config setprop hotsync Mode continuous`` makes a master run its continuous push
(``hotsync watch``) as the ``hotsync-watch`` service: the save event starts it, a file written
then reaches the slave without any ``hotsync sync``; with Mode interval nothing watches."""

import time

import pytest

from hotsync.plan import PLAN_PATH

pytestmark = pytest.mark.e2e


def wait_for_content(path, expected, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text() == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not hold {expected!r} within {timeout} s")


def watch_state(host):
    return host.admin("services", "status", "hotsync-watch").out.strip()


@pytest.fixture
def saved_master(host_pair):
    """The pair with /srv/office synced; the test sets Mode, then saves on the master."""
    host_pair.on_master("/srv/office").mkdir(parents=True)
    host_pair.include_on_master("/srv/office")

    def save(mode):
        host_pair.master.admin("config", "setprop", "hotsync", "Mode", mode)
        host_pair.master.admin("signal-event", "nethserver-hotsync-save")
        return host_pair

    yield save
    host_pair.master.run("services", "stop", "hotsync-watch")


def test_with_mode_continuous_a_file_written_on_the_master_reaches_the_slave_by_itself(saved_master):
    pair = saved_master("continuous")
    assert pair.master.admin("config", "getprop", "hotsync-watch", "status").out.strip() == "enabled"
    assert watch_state(pair.master).startswith("hotsync-watch: running (pid ")
    pair.on_master("/srv/office/report.txt").write_text("written after the save\n")
    wait_for_content(pair.on_slave("/srv/office/report.txt"), "written after the save\n", 30)


def test_with_mode_interval_nothing_watches(saved_master):
    pair = saved_master("continuous")
    assert watch_state(pair.master).startswith("hotsync-watch: running")
    pair = saved_master("interval")
    assert pair.master.admin("config", "getprop", "hotsync-watch", "status").out.strip() == "disabled"
    assert watch_state(pair.master) == "hotsync-watch: stopped"
    pair.on_master("/srv/office/later.txt").write_text("waits for the scheduled push\n")
    time.sleep(3)
    assert not pair.on_slave("/srv/office/later.txt").exists()


def test_a_bad_mode_is_refused_with_one_line_and_nothing_is_written(host_pair):
    master = host_pair.master
    assert master.admin("config", "getprop", "hotsync", "Mode").out.strip() == "interval"
    plan = master.path(PLAN_PATH)
    before = plan.read_bytes()
    master.admin("config", "setprop", "hotsync", "Mode", "always")  # the database takes any text
    saved = master.run("signal-event", "nethserver-hotsync-save")
    assert saved.code != 0
    compiled = master.run("compile")
    assert compiled.code == 1
    assert compiled.err.strip().splitlines() == [
        "configuration:hotsync.Mode: error: 'always' is not a push mode (expected interval or continuous)",
        "hotsync: 1 error; nothing was written"]
    assert plan.read_bytes() == before
    assert watch_state(master) == "hotsync-watch: stopped"
