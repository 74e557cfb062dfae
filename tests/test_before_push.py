"""``before push run PROGRAM``: a program the master runs before each push (the shared
folders' ACL dump, as the original ran it every sync). A failing one warns; the push runs."""

import json

import pytest
from test_compile import SCENARIOS, compiled_host

DUMPER = "/etc/e-smith/events/actions/nethserver-ibays-dump-acls"
BACKUP = "/var/lib/nethserver/backup"
ACL_DUMP = f"{BACKUP}/acls.dump"
STATUS = "/var/lib/nethserver/hotsync/status.json"


def test_a_before_push_program_reaches_the_plan_with_its_arguments_and_origin(sandbox):
    compiled_host(sandbox, **SCENARIOS["master"])
    (sandbox / "etc/hotsync/rules.d/acls.hs").write_text(
        'rule fresh-acls {\n    before push run /usr/bin/getfacl "-R" "/srv/shares"\n}\n')
    outcome_plan = compiled_host(sandbox)
    plan = json.loads((outcome_plan / "var/lib/nethserver/hotsync/plan.json").read_text())
    (rule,) = [rule for rule in plan["rules"] if rule["name"] == "fresh-acls"]
    assert rule["before_push"] == [{"arguments": ["/usr/bin/getfacl", "-R", "/srv/shares"],
                                    "origin": "/etc/hotsync/rules.d/acls.hs:2:5"}]


def write_dumper(pair, script: str) -> None:
    dumper = pair.on_master(DUMPER)
    dumper.parent.mkdir(parents=True, exist_ok=True)
    dumper.write_text("#!/bin/sh\n" + script)
    dumper.chmod(0o755)


@pytest.mark.e2e
def test_the_acl_dump_is_made_again_before_each_push(host_pair, hotsync):
    """The shipped rule (70-acls.hs) runs the dumper wherever nethserver-ibays installed it."""
    pair = host_pair
    # Like nethserver-ibays-dump-acls: the ACLs of the moment, into the backup folder.
    write_dumper(pair, f'mkdir -p "$HOTSYNC_ROOT{BACKUP}"\ncat "$HOTSYNC_ROOT/srv/shares/acl" > "$HOTSYNC_ROOT{ACL_DUMP}"\n')
    pair.on_master("/srv/shares").mkdir(parents=True)
    for acl in ("user:rossi:rwx", "user:bianchi:r-x"):
        pair.on_master("/srv/shares/acl").write_text(acl + "\n")

        outcome = pair.sync(in_process=True)

        assert outcome.code == 0, outcome.err
        assert pair.on_slave(ACL_DUMP).read_text() == acl + "\n"
    status = json.loads(pair.on_master(STATUS).read_text())
    assert not [text for text in status["warnings"] if text.startswith("before push:")]


@pytest.mark.e2e
def test_a_failing_before_push_program_warns_with_its_exit_and_output_and_the_push_still_runs(host_pair, hotsync):
    pair = host_pair
    pair.on_master(ACL_DUMP).parent.mkdir(parents=True, exist_ok=True)
    pair.on_master(ACL_DUMP).write_text("yesterday's ACLs\n")
    write_dumper(pair, 'echo "getfacl: /srv/shares: Input/output error" >&2\nexit 3\n')
    pair.on_master("/srv/shares").mkdir(parents=True)
    pair.on_master("/srv/shares/report.odt").write_text("today's work\n")
    pair.include_on_master("/srv/shares")

    outcome = pair.sync(in_process=True)

    assert outcome.code == 0, outcome.err
    assert pair.on_slave("/srv/shares/report.odt").read_text() == "today's work\n"
    assert pair.on_slave(ACL_DUMP).read_text() == "yesterday's ACLs\n"
    status = json.loads(pair.on_master(STATUS).read_text())
    assert status["result"] == "ok"
    (warning,) = [text for text in status["warnings"] if text.startswith("before push:")]
    assert "exit 3" in warning and "Input/output error" in warning and "70-acls.hs:" in warning
    shown = pair.master.run("status", in_process=True)
    assert any(line.startswith("  warning: before push:") and "exit 3" in line for line in shown.out.splitlines())
