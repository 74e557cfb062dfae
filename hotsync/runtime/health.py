"""The health of this host's copy: how fresh it is, and whether a promotion would succeed now.

``status.assess_health`` is the one entry point: ``hotsync status``, the metrics, the web
API and the slave's quarter-hourly check (``hotsync-slave health``) all show what it returns.

Freshness follows sanoid's thresholds (late at 1.5x the interval between two pushes, stale
at 6x; settings ``freshness_warning`` and ``freshness_critical``), measured from the last
complete push: the slave's marker (written by its own rsync daemon) on a slave, the last
run's record on a master. A slave that never received a push counts from when its plan
was compiled, so a slave the master never reaches is noticed too.

Readiness (a slave only) runs the checks a promotion would trip over, changing nothing.
"""

import json
import shutil
from typing import Any, Dict, List, Optional, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..frozen import asdict, frozen
from ..paths import STATE_FOLDER
from ..plan import PLAN_PATH, Plan
from ..root import Root
from .accounts import UnknownAccount, read_accounts
from .backup import ARCHIVE_MD5_PATH, ARCHIVE_PATH
from .conditions import InstalledPackages, evaluate_rules
from .fence import read_fence_settings
from .notify import build_freshness_mail, send_message

FRESHNESS_STATES = ("ok", "warning", "critical", "unknown")
MIB = 1 << 20


@frozen
class Freshness:
    """How old the last complete push is, and what that means."""

    state: str  # one of FRESHNESS_STATES
    age_seconds: Optional[int]  # since the last complete push (or, never pushed, since the plan)
    warning_after_seconds: int
    critical_after_seconds: int
    message: str

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def assess_freshness(plan: Plan, last_success_epoch: Optional[float], plan_epoch: Optional[float],
                     now: float) -> Freshness:
    """The copy's freshness on a configured, enabled host (``unknown`` on any other)."""
    warning, critical = plan.health.freshness_warning, plan.health.freshness_critical
    if plan.role not in ("master", "slave") or not plan.enabled:
        return Freshness("unknown", None, warning, critical, "HotSync does not push or receive on this host")
    if last_success_epoch:
        age: Optional[int] = max(int(now - last_success_epoch), 0)
        since = f"the last complete push was {describe_age(age or 0)} ago"
    elif plan_epoch:
        age = max(int(now - plan_epoch), 0)
        since = f"no complete push since HotSync was set up here {describe_age(age or 0)} ago"
    else:
        return Freshness("unknown", None, warning, critical, "no complete push is recorded")
    assert age is not None
    if age < warning:
        return Freshness("ok", age, warning, critical, f"fresh: {since}")
    state = "critical" if age >= critical else "warning"
    limit = critical if state == "critical" else warning
    if plan.role == "slave":
        what = (f"{since} (more than {describe_age(limit)}): check the master {plan.master_host or ''}"
                " with 'hotsync status' there; a promotion now would lose every change made since")
    else:
        what = (f"{since} (more than {describe_age(limit)}): the slave {plan.slave_host} holds old data;"
                " see the last run's errors below")
    return Freshness(state, age, warning, critical, ("stale: " if state == "critical" else "late: ") + " ".join(what.split()))


# ----------------------------------------------------------------------------- readiness


@frozen
class Check:
    """One thing a promotion needs: ``ok``, and a sentence saying what was found."""

    name: str
    ok: bool
    detail: str


READINESS_CHECKS = ("role", "data", "dumps", "configuration backup", "network", "packages", "owners", "disk space")


def assess_readiness(root: Root, plan: Plan, freshness: Freshness) -> Dict[str, Any]:
    """Whether ``hotsync-promote`` would succeed now, with the reason of each check.

    ``known`` is False on a host that is not a slave. ``reasons`` holds what blocks a
    promotion (or, when ready, every check's finding); ``checks`` each check's result.
    """
    if plan.role != "slave":
        return {"known": False, "ready": None, "reasons": [], "checks": []}
    checks = readiness_checks(root, plan, freshness)
    blocking = [check for check in checks if not check.ok]
    return {
        "known": True,
        "ready": not blocking,
        "reasons": [check.detail for check in (blocking or checks)],
        "checks": [asdict(check) for check in checks],
    }


def readiness_checks(root: Root, plan: Plan, freshness: Freshness) -> List[Check]:
    packages = InstalledPackages(root)
    states = [state for state in evaluate_rules(root, plan, packages) if state.active]
    restores = [statement for state in states for statement in state.rule.promote if statement.kind == "restore"]
    dump_files = [target for statement in restores for target in statement.dump_targets]
    return [
        role_check(root, plan),
        Check("data", freshness.state in ("ok", "warning"), f"data: {freshness.message}"),
        dumps_check(root, dump_files),
        backup_check(root),
        network_check(root),
        packages_check(root, packages),
        owners_check(root, [fix for state in states for fix in state.rule.owners]),
        disk_check(root, plan, dump_files),
    ]


def role_check(root: Root, plan: Plan) -> Check:
    fence = read_fence_settings(root)
    if fence.promoting:
        return Check("role", True, "role: a promotion has started here: run 'hotsync-promote' to finish it")
    if not plan.enabled:
        return Check("role", True, "role: slave (HotSync disabled: no push arrives)")
    return Check("role", True, "role: slave")


def dumps_check(root: Root, dump_files: List[str]) -> Check:
    """Every dump a ``promote restore`` statement loads is here (its age is the push's)."""
    missing = [target for target in dump_files if not root.path(target).is_file()]
    if missing:
        return Check("dumps", False, f"dumps: missing {', '.join(missing)} (database sync disabled on the master, "
                                     "or its dump failed: see 'hotsync status' on the master)")
    if not dump_files:
        return Check("dumps", True, "dumps: no database to restore")
    return Check("dumps", True, f"dumps: the {len(dump_files)} dump(s) to restore are here")


def backup_check(root: Root) -> Check:
    """The master's configuration backup is here and matches its checksum."""
    from .slave import verify_backup_checksum  # slave imports this module's callers

    if not root.path(ARCHIVE_PATH).is_file():
        return Check("configuration backup", False,
                     f"configuration backup: {ARCHIVE_PATH} has not arrived from the master yet")
    if not root.path(ARCHIVE_MD5_PATH).is_file():
        return Check("configuration backup", False,
                     f"configuration backup: {ARCHIVE_MD5_PATH} is missing (wait for the next sync)")
    try:
        verify_backup_checksum(root)
    except HotsyncError as error:
        return Check("configuration backup", False, f"configuration backup: {error}")
    return Check("configuration backup", True, "configuration backup: present and matching its checksum")


def network_check(root: Root, network: str = "restore", remap: Tuple[Tuple[str, str], ...] = ()) -> Check:
    """The master's network cards have namesakes here (or in ``remap``), so a promotion can
    take its network: the check ``hotsync-promote`` makes before any change."""
    from .promote import interface_mismatch, takes_master_network  # promote reads this module's neighbours

    if not takes_master_network(network):
        return Check("network", True, "network: this host keeps its own (--network keep)")
    try:
        mismatch = interface_mismatch(root, remap)
    except HotsyncError as error:
        return Check("network", False, f"network: the master's network cannot be read: {error}")
    if mismatch:
        first = mismatch.split("\n")[0]
        return Check("network", False, f"network: {first} Promote with --remap-interfaces or --network keep "
                                       "(see 'hotsync-promote --check')")
    if remap:
        return Check("network", True, "network: every card of the master has its card here (--remap-interfaces)")
    return Check("network", True, "network: the master's network cards have namesakes here")


def packages_check(root: Root, packages: InstalledPackages) -> Check:
    """The master's packages (from its configuration backup) are installed here."""
    from .slave import read_master_package_list

    try:
        wanted = read_master_package_list(root)
        installed = set(packages.all_names())
    except HotsyncError as error:
        return Check("packages", False, f"packages: {error}")
    if wanted is None:
        return Check("packages", False, "packages: the master's package list has not arrived yet")
    missing = [name for name in wanted if name not in installed]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        return Check("packages", False, f"packages: {len(missing)} of the master's packages are not installed "
                                        f"here: {shown} (run 'hotsync-slave' to install them)")
    return Check("packages", True, f"packages: all {len(wanted)} of the master's packages are installed")


def owners_check(root: Root, fixes) -> Check:
    """Every owner the active rules give synced paths exists here."""
    accounts = read_accounts(root)
    unknown: List[str] = []
    for fix in fixes:
        for lookup, name in ((accounts.user_id, fix.owner), (accounts.group_id, fix.group)):
            try:
                lookup(name)
            except UnknownAccount as error:
                unknown.append(f"{error}{f' ({fix.origin})' if fix.origin else ''}")
    if unknown:
        return Check("owners", False, "owners: " + "; ".join(dict.fromkeys(unknown)) +
                     ": install the package that creates it (run 'hotsync-slave')")
    return Check("owners", True, f"owners: the {len(fixes)} owner fix(es) of the active rules apply")


def disk_check(root: Root, plan: Plan, dump_files: List[str]) -> Check:
    """Room to load the dumps (about their size again) and ``min_free_mib`` beside."""
    dumps_size = sum(_size(root, target) for target in dump_files)
    needed = plan.health.min_free_mib * MIB + dumps_size
    try:
        free = shutil.disk_usage(str(root.path("/"))).free
    except OSError as error:
        return Check("disk space", False, f"disk space: cannot tell the free space: {error.strerror or error}")
    text = f"{free // MIB} MiB free, {needed // MIB} MiB needed ({plan.health.min_free_mib} MiB and the dumps' size)"
    if free < needed:
        return Check("disk space", False, f"disk space: only {text}: free some space on this host")
    return Check("disk space", True, f"disk space: {text}")


def _size(root: Root, host_path: str) -> int:
    try:
        return root.path(host_path).stat().st_size
    except OSError:
        return 0


def plan_epoch(root: Root) -> Optional[float]:
    """When the plan was compiled (its file's time): a never-pushed slave's age counts from it."""
    try:
        return root.path(PLAN_PATH).stat().st_mtime
    except OSError:
        return None


def describe_age(seconds: int) -> str:
    """An age in the largest sensible unit: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


# ----------------------------------------------------------------------------- the quarter-hourly check

# The slave's last check: the freshness state told, and the readiness found (for the metrics
# the slave's rsync daemon writes after each push, which has no time to check it again).
CHECK_PATH = f"{STATE_FOLDER}/health.json"
# The states a change into which is told: a copy turning late or stale, and fresh again after.
ALERTED_STATES = ("warning", "critical")


def read_last_check(root: Root) -> Dict[str, Any]:
    try:
        data = json.loads(root.path(CHECK_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_check(root: Root, health: Dict[str, Any], now: float) -> Optional[Tuple[str, str]]:
    """Keep this check's findings; (state, message) when the freshness changed since the last
    check and the change is worth telling, else None. Each change is told once.

    Told: turning late (warning) or stale (critical), and fresh again after either. Not
    told: the first check of a fresh copy, and ``unknown`` (nothing to measure).
    """
    freshness = health["freshness"]
    state = freshness["state"]
    previous = read_last_check(root)
    changed = state != previous.get("freshness_state")
    record = {
        "checked_epoch": int(now),
        "freshness_state": state,
        "freshness_since_epoch": int(now) if changed else previous.get("freshness_since_epoch", int(now)),
        "readiness": health["readiness"],
    }
    write_file_atomic(root.path(CHECK_PATH), json.dumps(record, indent=2, sort_keys=True) + "\n",
                      mode=0o644, durable=False)
    if changed and (state in ALERTED_STATES or (state == "ok" and previous.get("freshness_state") in ALERTED_STATES)):
        return state, freshness["message"]
    return None


def tell_freshness_change(plan: Plan, state: str, message: str) -> List[str]:
    """Mail the change to the plan's recipient; the lines left to print (cron mails them to root).

    Without a recipient, or when the mail cannot be sent, the change is printed.
    """
    lines = [f"freshness {state}: {message}"]
    if plan.notify:
        problem = send_message(plan.notify, build_freshness_mail(plan.notify, state, message))
        if not problem:
            return []
        lines.append(problem)
    return lines
