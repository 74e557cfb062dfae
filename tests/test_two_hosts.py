"""Two real hosts (network namespaces), real ports, real faults: nothing the master had is lost."""

import pytest

from two_hosts import databases, hosts, network  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_smoke(hosts):
    pair = hosts
    pair.master.write("/srv/office/a.txt", "hello\n")
    outcome = pair.sync()
    print(outcome)
    assert outcome.code == 0
    assert pair.synced_files(pair.master) == pair.synced_files(pair.slave)
    print(pair.synced_files(pair.slave))
