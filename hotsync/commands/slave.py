"""``hotsync-slave`` / ``hotsync slave [fixperm]``: the slave's upkeep.

Without an action (cron, daily): reinstall the master's packages, run the VPN packages'
update events when their database is missing, put the master's configuration backup in the
restore history, keep the synced cron jobs from running, fix the owners of synced paths.
``fixperm`` (cron, every 15 minutes): the last two only. ``health`` (cron, every 15 minutes):
the copy's freshness, mailed once per change, whether a promotion would succeed, the metrics
file (see ``hotsync.runtime.health``). The exit status is the number of failed steps; each is
named on stderr.
An unexpected error (a bug) ends the run with exit 70, one line on stderr and its traceback in the log.
Both take the lock promotion takes (a busy lock ends them quietly) and do nothing, saying
so, once a promotion has started.

``check-push`` and ``begin-push`` are run by the rsync daemon itself before a push is accepted
(see ``hotsync.runtime.fence`` and ``hotsync.runtime.sealing``), ``stamp-marker`` after a push
ended (see ``hotsync.runtime.status``), ``role-setup`` by the role action of the save and update
events (see ``run_role_setup``); an admin never needs them.
"""

import os
import sys
import time
from typing import List

from ..plan import Plan, load_plan
from ..root import Root
from ..runtime import fence
from ..runtime.failure import failure_recorded
from ..runtime.health import record_check, tell_freshness_change
from ..runtime.lock import hold_sync_lock
from ..runtime.metrics import write_metrics
from ..runtime.sealing import begin_transfer
from ..runtime.slave import (
    UpkeepResult,
    check_plan_is_slave,
    promotion_blocks_upkeep,
    record_upkeep,
    run_role_setup,
    run_upkeep,
)
from ..runtime.status import append_log, assess_health, stamp_marker_command
from .parsing import CommandParser

DESCRIPTION = """Slave upkeep. Without ACTION: reinstall the master's packages from the synced
package list (a warning when the repositories are unreachable), create the VPN database
(the VPN packages' update events), add the master's configuration backup to the restore
history, disable the synced cron jobs, fix the owners of synced paths. 'fixperm': only the
last two (run every 15 minutes). 'health' (every 15 minutes): check the copy's freshness
(mail NotifyTo when it turns late or stale, and fresh again) and whether a promotion would
succeed, and write the metrics file.
Exit status: the number of failed steps."""

ACTIONS = ("fixperm", "health", "check-push", "begin-push", "stamp-marker", "role-setup")


def build_parser() -> CommandParser:
    parser = CommandParser("slave", description=DESCRIPTION)
    parser.add_argument("action", nargs="?", choices=ACTIONS, metavar="ACTION",
                        help="fixperm or health (check-push, begin-push and stamp-marker are run by rsyncd, "
                             "role-setup by the events)")
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    if options.action == "check-push":
        return fence.check_push_command(root)
    if options.action == "begin-push":
        return begin_push(root)
    if options.action == "stamp-marker":
        return stamp_marker_command(root)
    if options.action == "role-setup":
        result = run_role_setup(root)
        report(result)
        return min(result.failed, 125)
    plan = load_plan(root)
    if options.action == "health":
        check_plan_is_slave(plan, "hotsync-slave health")
        with failure_recorded(root, "the slave's health check"):
            return check_health(root, plan)
    with hold_sync_lock(root) as held:
        if not held:
            return 0  # a promotion or another upkeep runs; the next scheduled run does this one's work
        blocked = promotion_blocks_upkeep(root)
        if blocked:
            print(f"hotsync-slave: {blocked}")
            return 0
        check_plan_is_slave(plan)
        with failure_recorded(root, "the slave upkeep"):
            result = run_upkeep(root, plan, reinstall=options.action is None)
        record_upkeep(root, options.action or "upkeep", result, time.time())
    report(result, mail_warnings=options.action is None)
    return min(result.failed, 125)


def begin_push(root: Root) -> int:
    """``pre-xfer exec`` of a fenced slave's module: the fence's check (a refusal ends it, see
    ``check-push``), then the transfer noted as running, so that no restore point is sealed from
    under it. A note that cannot be written is logged, and the push goes on: only a seal run
    meanwhile could fail it (rsync exit 11), and the next push redoes it."""
    refused = fence.check_push_command(root)
    if refused:
        return refused
    try:
        begin_transfer(root, os.environ)
    except Exception as error:  # noqa: BLE001 - the daemon shows a traceback to nobody; the log is the place
        try:
            append_log(root, f"could not note a push as running (its restore point may take part of the next): {error}")
        except OSError:
            pass
    return 0


def check_health(root: Root, plan: Plan) -> int:
    """The quarter-hourly check: a change of freshness is mailed (or printed on stderr, for
    cron to mail root) once; the metrics file is rewritten. Reads, never changes, the copy."""
    now = time.time()
    health = assess_health(root, now, plan)
    change = record_check(root, health, now)
    for line in tell_freshness_change(plan, *change) if change else []:
        print(f"hotsync-slave: {line}", file=sys.stderr)
    write_metrics(root, plan, now)
    return 0


def report(result: UpkeepResult, mail_warnings: bool = True) -> None:
    """What each step did on stdout; failures on stderr, so cron mails them to root. Warnings
    too, unless ``mail_warnings`` is False (fixperm, every 15 minutes: a missing path would
    mail root 96 times a day; the daily upkeep and 'hotsync status' still show them)."""
    for step in result.steps:
        for line in step.done:
            print(f"{step.name}: {line}")
        for warning in step.warnings:
            print(f"hotsync-slave: warning: {step.name}: {warning}", file=sys.stderr if mail_warnings else sys.stdout)
        if step.error:
            print(f"hotsync-slave: FAILED {step.name}: {step.error}", file=sys.stderr)
    if result.failed:
        print(f"hotsync-slave: {result.failed} step(s) failed", file=sys.stderr)
