"""The Cockpit app in headless Chromium, against two real sandbox hosts on loopback.

An admin opens the app on the master, presses "Sync now" and sees the age of the slave's copy;
types a bad slave address and reads the API's message beside the field; the slave's page
offers to install the master's packages. The password is nowhere: not in what the server
sent, not in the page's source or DOM, not in any field. Screenshots are saved in the test's
tmp folder (``dashboard.png``, ``settings.png``, ``slave.png``).
"""

import shutil

import pytest
from cockpit_browser import Browser, CockpitStandIn
from support.passwords import PASSWORD
from support.runner import admin, run_hotsync

pytestmark = pytest.mark.skipif(not (shutil.which("chromedriver") and shutil.which("chromium")),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")

EVERYTHING_IN_THE_PAGE = """
return document.documentElement.outerHTML + "\\n" +
    Array.prototype.map.call(document.querySelectorAll("input, select"), function (f) { return f.value; }).join("\\n");
"""


def assert_password_nowhere(browser: Browser, server: CockpitStandIn) -> None:
    assert server.responses, "the page made no API call"
    for response in server.responses:
        assert PASSWORD not in response
    assert PASSWORD not in browser.source()
    assert PASSWORD not in browser.run(EVERYTHING_IN_THE_PAGE)


def test_the_app_shows_a_real_sync_a_bad_address_and_never_the_password(host_pair, tmp_path):
    with CockpitStandIn(host_pair.master.root) as server, Browser(tmp_path / "chromedriver.log") as browser:
        browser.open(server.app_url + "#dashboard")
        browser.wait_for(lambda: browser.text("#role") == "master", "the dashboard to show the role")
        assert browser.text("#peer") == "slave 127.0.0.1"
        assert browser.text("#data-age") == "never"
        assert not browser.run("return document.getElementById('sync-now').hidden")
        assert browser.run("return document.getElementById('install-packages').hidden")

        marker_before = host_pair.marker_version()
        browser.click("#sync-now")
        browser.wait_for(lambda: "finished" in (browser.text("#alert") or ""), "the sync to finish", timeout=90)
        assert browser.text("#last-result").endswith("(ok)")
        assert browser.text("#last-errors") == "none"
        assert not browser.run("return document.getElementById('progress').offsetParent")  # hidden again
        age = browser.text("#data-age")
        assert age.endswith(" s old") and int(age.split()[0]) < 60
        assert "fresh-ok" in browser.run("return document.getElementById('data-age').className")
        assert browser.text("#freshness").startswith("fresh")
        assert browser.text("#next-run").startswith("sync: ")
        assert browser.text("#daemons") == "rsyncd stopped, stunnel running"
        assert browser.text("#readiness") == "not checked"
        # what the master's dashboard says is what the slave holds (its daemon stamps it just after)
        assert host_pair.wait_for_new_marker(marker_before)["result"] == "ok"
        browser.screenshot(tmp_path / "dashboard.png")

        browser.open(server.app_url + "#settings")
        browser.wait_for(lambda: browser.run("return document.getElementById('field-slaveHost').value") == "127.0.0.1",
                         "the settings form to load")
        assert browser.run("return document.getElementById('field-password').value") == ""
        assert browser.run("return document.getElementById('field-password').placeholder").startswith("set")
        stored = host_pair.on_master("/var/lib/nethserver/db/configuration").read_bytes()
        browser.replace_text("#field-slaveHost", "10.0.0.300")
        browser.click("#save")
        message = browser.wait_for(lambda: browser.text("#error-slaveHost"), "the error beside the slave host")
        check = admin_compile_check_message(host_pair.master.root, "10.0.0.300")
        assert message == check
        assert host_pair.on_master("/var/lib/nethserver/db/configuration").read_bytes() == stored
        browser.screenshot(tmp_path / "settings.png")

        browser.open(server.app_url + "#logs")
        browser.wait_for(lambda: browser.text("#log") and "(the log is empty)" != browser.text("#log"), "the log")
        assert browser.text("#log-path") == "/var/log/hotsync.log"
        assert_password_nowhere(browser, server)

    with CockpitStandIn(host_pair.slave.root) as server, Browser(tmp_path / "chromedriver-slave.log") as browser:
        browser.open(server.app_url)
        browser.wait_for(lambda: browser.text("#role") == "slave", "the slave's dashboard")
        assert browser.text("#peer") == "master 127.0.0.1"
        assert browser.text("#data-age").endswith(" s old")
        assert not browser.run("return document.getElementById('install-packages').hidden")
        # the slave checks whether a promotion would succeed, and says why
        assert browser.text("#readiness") in ("yes", "no")
        reasons = browser.run("return Array.prototype.map.call(document.querySelectorAll('#readiness-reasons li'),"
                              " function (item) { return item.textContent; })")
        assert reasons and all(reason.startswith(("ok: ", "blocks: ")) for reason in reasons)
        assert browser.run("return document.getElementById('sync-now').hidden")
        browser.screenshot(tmp_path / "slave.png")
        assert_password_nowhere(browser, server)


def admin_compile_check_message(root, slave_host: str) -> str:
    """The messages ``hotsync compile --check`` prints for ``slave_host`` (the database put back after)."""
    database = root / "var/lib/nethserver/db/configuration"
    saved = database.read_bytes()
    try:
        admin(root, "config", "setprop", "hotsync", "SlaveHost", slave_host)
        check = run_hotsync("--root", root, "compile", "--check")
        assert check.code == 1
        prefix = "configuration:hotsync.SlaveHost: error: "
        return "; ".join(line[len(prefix):] for line in check.err.splitlines() if line.startswith(prefix))
    finally:
        database.write_bytes(saved)
