"""``hotsync status [--json]``: role, peer, age of the slave's copy, last result, next runs.

Works on either role: the master reads its last run's record, the slave the marker its
rsync daemon stamped after the last push. It never reads the password files, so it
cannot show a secret.
"""

import json
import time
from datetime import datetime
from typing import Any, Dict, List

from ..errors import EXIT_OK, HotsyncError
from ..plan import load_plan
from ..root import Root
from ..runtime.health import describe_age
from ..runtime.metrics import collect_metrics
from ..runtime.promote import read_state
from ..runtime.schedule import next_run
from ..runtime.status import assess_health, read_marker, read_status, read_upkeep
from .parsing import CommandParser


def build_parser() -> CommandParser:
    parser = CommandParser("status", description="Show this host's HotSync role, peer, data age and last result.")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    shown.add_argument("--prometheus", action="store_true",
                       help="print the metrics in Prometheus' text format (as in the metrics file)")
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    if options.prometheus:
        print(collect_metrics(root, load_plan(root), time.time()), end="")
        return EXIT_OK
    report = collect_status(root, time.time())
    print(json.dumps(report, indent=2, sort_keys=True) if options.json else format_status(report))
    return EXIT_OK


def collect_status(root: Root, now: float) -> Dict[str, Any]:
    """Everything ``status`` shows, as plain data."""
    try:
        plan = load_plan(root)
    except HotsyncError as error:
        return {"role": "", "configured": False, "problem": str(error)}
    if plan.role == "master":
        record, peer = read_status(root), {"slave": plan.slave_host}
        last_run = record.get("finished")
        last_result, last_errors = record.get("result"), record.get("errors", [])
        last_warnings = record.get("warnings", [])
    elif plan.role == "slave":
        record, peer = read_marker(root), {"master": plan.master_host}
        last_run = record.get("finished")
        last_result = record.get("result")
        last_errors = [record["error"]] if record.get("error") else []
        last_warnings = []
    else:
        record, peer, last_run, last_result, last_errors, last_warnings = {}, {}, None, None, [], []
    last_success_epoch = record.get("last_success_epoch")
    return {
        "configured": True,
        "role": plan.role,
        "enabled": plan.enabled,
        "peer": peer,
        "databases": plan.databases_enabled,
        "last_run": last_run,
        "last_result": last_result,
        "last_errors": list(last_errors),
        "last_warnings": list(last_warnings),
        "last_success": record.get("last_success"),
        "last_success_epoch": last_success_epoch,
        "age_seconds": int(now - last_success_epoch) if last_success_epoch else None,
        "next_runs": next_runs(plan.schedules, now) if plan.enabled else {},
        # How the tunnel's ends authenticate: the other host must use the same.
        "tunnel": {"auth": plan.transport.auth, "chosen_by": plan.transport.auth_chosen_by,
                   "stunnel": plan.tools.stunnel} if plan.role else {},
        "upkeep": upkeep_report(root) if plan.role == "slave" else {},
        "promotion": promotion_report(root),
        **assess_health(root, now, plan),
    }


def upkeep_report(root: Root) -> Dict[str, Any]:
    """The slave's last upkeep or fixperm run: when, which, its failures and warnings."""
    upkeep = read_upkeep(root)
    if not upkeep:
        return {}
    return {key: upkeep.get(key) for key in ("action", "finished", "failed", "errors", "warnings")}


def promotion_report(root: Root) -> Dict[str, Any]:
    """This host's promotion, when it was promoted or is being: started, finished, where it
    stopped, and what went wrong without stopping it (failed optional steps, warnings)."""
    state = read_state(root)
    if not state:
        return {}
    return {
        "started_epoch": state.get("started_epoch"),
        "finished_epoch": state.get("finished_epoch"),
        "failed_step": (state.get("failed") or {}).get("step"),
        "warnings": list(state.get("warnings", [])),
    }


def next_runs(schedules: Dict[str, str], now: float) -> Dict[str, Any]:
    """Each scheduled job's next start (None when its expression cannot be read)."""
    moment = datetime.fromtimestamp(now)
    runs = {}
    for job, expression in sorted(schedules.items()):
        upcoming = next_run(expression, moment)
        runs[job] = upcoming.isoformat(timespec="minutes") if upcoming else None
    return runs


def format_status(report: Dict[str, Any]) -> str:
    """The report as the admin reads it."""
    if not report.get("configured"):
        return f"role: none\n{report.get('problem', '')}"
    peer = ", ".join(f"{kind} {host or '(not set)'}" for kind, host in report["peer"].items()) or "(none)"
    lines = [
        f"role: {report['role'] or 'none'}" + ("" if report["enabled"] else " (disabled)"),
        f"peer: {peer}",
        f"databases synchronized: {'yes' if report['databases'] else 'no'}",
        f"last success: {_with_age(report['last_success'], report['age_seconds'])}",
        f"last run: {report['last_run'] or 'never'}" + (f" ({report['last_result']})" if report["last_result"] else ""),
    ]
    lines += [f"  error: {error}" for error in report["last_errors"]]
    lines += [f"  warning: {warning}" for warning in report.get("last_warnings", [])]
    for job, moment in report["next_runs"].items():
        lines.append(f"next {job}: {moment or 'unreadable schedule'}")
    upkeep = report.get("upkeep")
    if upkeep:
        lines.append(f"last upkeep: {upkeep['finished']} ({upkeep['action']}, "
                     f"{'ok' if not upkeep['failed'] else str(upkeep['failed']) + ' step(s) failed'})")
        lines += [f"  error: {error}" for error in upkeep.get("errors") or []]
        lines += [f"  warning: {warning}" for warning in upkeep.get("warnings") or []]
    lines += _promotion_lines(report.get("promotion") or {})
    tunnel = report.get("tunnel")
    if tunnel:
        lines.append(f"tunnel: {tunnel['auth']}" + (f" ({tunnel['chosen_by']})" if tunnel["chosen_by"] else ""))
    continuous = report.get("continuous")
    if continuous:
        lines.append(f"continuous push: {'running' if continuous['running'] else 'NOT running'}, "
                     + ("PAUSED by the brake until 'hotsync --force', " if continuous.get("paused") else "")
                     + f"backlog {continuous['backlog']}, oldest change not on the slave: "
                     + (f"{continuous['rpo_seconds']:.1f} s ago" if continuous["rpo_seconds"] else "none"))
    freshness = report.get("freshness")
    if freshness and freshness["state"] != "unknown":
        lines.append(f"freshness: {freshness['state']} - {freshness['message']}")
    readiness = report.get("readiness") or {}
    if readiness.get("known"):
        lines.append(f"ready to promote: {'yes' if readiness['ready'] else 'no'}")
        lines += [f"  {'ok' if check['ok'] else 'BLOCKS'}: {check['detail']}" for check in readiness["checks"]]
    return "\n".join(lines)


def _promotion_lines(promotion: Dict[str, Any]) -> List[str]:
    if not promotion:
        return []
    if promotion.get("finished_epoch"):
        state = f"finished {datetime.fromtimestamp(promotion['finished_epoch']).isoformat(timespec='seconds')}"
    elif promotion.get("failed_step"):
        state = f"stopped at '{promotion['failed_step']}' (run hotsync-promote again)"
    else:
        state = "in progress"
    lines = [f"promotion: {state}"]
    return lines + [f"  warning: {warning}" for warning in promotion.get("warnings") or []]


def _with_age(moment: Any, age_seconds: Any) -> str:
    if not moment:
        return "never"
    return f"{moment} ({describe_age(age_seconds)} ago)"


