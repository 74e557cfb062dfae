"""The host builder of the tests' toolbox stops every daemon its hosts started, also when the
test that built them fails: an inner test run by pytester starts a master and a slave, loses
track of one daemon (its pid file gone), and fails; afterwards no process of either root is left."""

import json
import os
from pathlib import Path

from support.hosts import processes_of

TESTS = Path(__file__).parent

INNER_TEST = '''
import json
import os
from pathlib import Path

from support.hosts import free_port


def read_pid(host, name):
    return int(host.path(f"/var/run/{name}.pid").read_text().strip())


def test_fails_with_its_daemons_running(make_host):
    tunnel_port = free_port()
    slave = make_host("slave", "slave", tunnel_port=tunnel_port, rsync_port=free_port())
    master = make_host("master", "master", tunnel_port=tunnel_port, rsync_port=free_port())
    for host in (slave, master):
        host.admin("signal-event", "nethserver-hotsync-save")
    slave.admin("services", "start")
    master.admin("services", "start", "stunnel")
    daemons = [read_pid(slave, "stunnel"), read_pid(slave, "rsyncd"), read_pid(master, "stunnel")]
    slave.path("/var/run/rsyncd.pid").unlink()  # a daemon the supervisor lost track of
    background = master.start("services", "status")
    Path("started.json").write_text(json.dumps({"roots": [str(slave.root), str(master.root)],
                                                "daemons": daemons, "background": background.pid}))
    for pid in daemons:
        os.kill(pid, 0)  # each one runs now
    assert False, "this test fails with its daemons running"
'''


def test_the_host_builder_stops_every_daemon_even_when_the_test_fails(pytester):
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                          "pytest_plugins = ['support.runner', 'support.hosts']\n")
    pytester.makepyfile(test_inner=INNER_TEST)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*this test fails with its daemons running*"])
    started = json.loads((pytester.path / "started.json").read_text())
    assert len(started["daemons"]) == 3
    for root in started["roots"]:
        assert processes_of(Path(root)) == [], f"a process of {root} outlived its test"
    for pid in started["daemons"] + [started["background"]]:
        assert not alive(pid), f"process {pid} outlived its test"


def alive(pid: int) -> bool:
    """Running, not a zombie (a killed daemon stays one until the supervisor that forked it reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and os.path.exists(f"/proc/{pid}")
