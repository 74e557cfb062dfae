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
import time
from pathlib import PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..frozen import asdict, frozen
from ..paths import STATE_FOLDER
from ..plan import PLAN_PATH, Plan
from ..root import Root
from .accounts import UnknownAccount, read_accounts
from .backup import ARCHIVE_MD5_PATH, ARCHIVE_PATH
from .conditions import InstalledPackages, RuleState, evaluate_rules
from .dumps import read_dump_record
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


def assess_readiness(root: Root, plan: Plan, freshness: Freshness, now: Optional[float] = None) -> Dict[str, Any]:
    """Whether ``hotsync-promote`` would succeed now, with the reason of each check.

    ``known`` is False on a host that is not a slave. ``reasons`` holds what blocks a
    promotion (or, when ready, every check's finding); ``checks`` each check's result;
    ``dumps`` what the master's record says of each dump a promotion would load.
    """
    if plan.role != "slave":
        return {"known": False, "ready": None, "reasons": [], "checks": [], "dumps": []}
    packages = InstalledPackages(root)
    states = [state for state in evaluate_rules(root, plan, packages) if state.active]
    judged = judge_dumps(root, plan, restore_dumps(states), time.time() if now is None else now)
    checks = readiness_checks(root, plan, freshness, packages, states, judged)
    blocking = [check for check in checks if not check.ok]
    return {
        "known": True,
        "ready": not blocking,
        "reasons": [check.detail for check in (blocking or checks)],
        "checks": [asdict(check) for check in checks],
        "dumps": [asdict(dump) for dump in judged],
    }


def readiness_checks(root: Root, plan: Plan, freshness: Freshness, packages: InstalledPackages,
                     states: List[RuleState], judged: List["DumpAge"]) -> List[Check]:
    return [
        role_check(root, plan),
        Check("data", freshness.state in ("ok", "warning"), f"data: {freshness.message}"),
        dumps_check(root, plan, judged),
        backup_check(root),
        network_check(root),
        packages_check(root, packages),
        owners_check(root, [fix for state in states for fix in state.rule.owners]),
        disk_check(root, plan, [dump.target for dump in judged]),
    ]


@frozen
class RestoreDump:
    """A dump a promotion would load: its engine, database and host file."""

    engine: str
    database: str
    target: str


def restore_dumps(states: List[RuleState]) -> List[RestoreDump]:
    """The dumps the active rules' ``promote restore`` statements load, in plan order."""
    restores = [statement for state in states for statement in state.rule.promote if statement.kind == "restore"]
    return [RestoreDump(statement.engine, database, target) for statement in restores
            for database, target in zip(statement.databases, statement.dump_targets)]


def role_check(root: Root, plan: Plan) -> Check:
    fence = read_fence_settings(root)
    if fence.promoting:
        return Check("role", True, "role: a promotion has started here: run 'hotsync-promote' to finish it")
    if not plan.enabled:
        return Check("role", True, "role: slave (HotSync disabled: no push arrives)")
    return Check("role", True, "role: slave")


@frozen
class DumpAge:
    """One dump a promotion would load, as this host and the master's record of its dumps see it.

    ``state``: ``ok``, ``late`` (older than the warning threshold), ``stale`` (older than the
    critical one, or never made), ``failing`` (the master's last attempt failed), ``missing``
    (no file here) or ``unknown`` (no record: an older master, or one that does not dump it).
    """

    engine: str
    database: str
    target: str
    state: str
    present: bool
    last_success_epoch: Optional[int]
    age_seconds: Optional[int]
    error: str  # the master's, from its last attempt


DUMP_BLOCKING_STATES = ("stale", "failing", "missing", "unknown")


def judge_dumps(root: Root, plan: Plan, restores: List[RestoreDump], now: float) -> List[DumpAge]:
    """Each dump a promotion would load, judged by the master's record against the freshness
    thresholds (a dump is as fresh as the master's last good dump of it, not as its file's time:
    an unchanged database keeps its previous file)."""
    record = read_dump_record(root)
    entries = record.get("dumps") or {}
    judged = []
    for dump in restores:
        present = root.path(dump.target).is_file()
        entry = entries.get(dump.target)
        folder = entries.get(str(PurePosixPath(dump.target).parent).rstrip("/") + "/")
        if not isinstance(entry, dict):
            # A failure before any file (the server could not list its databases) is the folder's.
            entry = folder if isinstance(folder, dict) and folder.get("error") else None
        judged.append(_judge_dump(plan, dump, present, entry if record else None, now))
    return judged


def _judge_dump(plan: Plan, dump: RestoreDump, present: bool, entry: Optional[Dict[str, Any]],
                now: float) -> DumpAge:
    success = entry.get("last_success_epoch") if entry else None
    last_success = int(success) if isinstance(success, (int, float)) and not isinstance(success, bool) else None
    age = max(int(now - last_success), 0) if last_success is not None else None
    error = str(entry.get("error") or "") if entry else ""
    if not present:
        state = "missing"
    elif entry is None:
        state = "unknown"
    elif error:
        state = "failing"
    elif age is None or age >= plan.health.freshness_critical:
        state = "stale"
    elif age >= plan.health.freshness_warning:
        state = "late"
    else:
        state = "ok"
    return DumpAge(dump.engine, dump.database, dump.target, state, present, last_success, age, error)


def dumps_check(root: Root, plan: Plan, judged: List[DumpAge]) -> Check:
    """Every dump a ``promote restore`` statement loads is here and, by the master's record of
    its dumps, fresher than the critical threshold, its last attempt not failed."""
    if not judged:
        return Check("dumps", True, "dumps: no database to restore")
    record = read_dump_record(root)
    if not record:
        return _dumps_without_record(judged)
    blocking = [_describe_dump(plan, dump) for dump in judged if dump.state in DUMP_BLOCKING_STATES]
    if blocking:
        disabled = "" if record.get("databases_enabled", True) else " (database sync is disabled on the master)"
        return Check("dumps", False, "dumps: " + "; ".join(blocking) + disabled
                     + ": see 'hotsync status' on the master")
    late = [_describe_dump(plan, dump) for dump in judged if dump.state == "late"]
    if late:
        return Check("dumps", True, "dumps: late: " + "; ".join(late))
    oldest = max(dump.age_seconds or 0 for dump in judged)
    return Check("dumps", True, f"dumps: the {len(judged)} dump(s) to restore are here, the oldest made "
                                f"{describe_age(oldest)} ago on the master")


def _dumps_without_record(judged: List[DumpAge]) -> Check:
    """A master older than the record: only whether the files are here; their age is unknown."""
    missing = [dump.target for dump in judged if not dump.present]
    if missing:
        return Check("dumps", False, f"dumps: missing {', '.join(missing)} (database sync disabled on the master, "
                                     "or its dump failed: see 'hotsync status' on the master)")
    return Check("dumps", True, f"dumps: the {len(judged)} dump(s) to restore are here, of unknown age (the "
                                "master sends no record of its dumps: update HotSync there)")


def _describe_dump(plan: Plan, dump: DumpAge) -> str:
    """What is wrong with one dump, in the words an admin acts on."""
    name = f"the {dump.engine} dump of '{dump.database}'"
    made = (f"its last good dump was made {describe_age(dump.age_seconds)} ago" if dump.age_seconds is not None
            else "the master never made a good one")
    if dump.state == "missing":
        why = f": the master's last attempt failed: {dump.error}" if dump.error else ""
        return f"{name} ({dump.target}) is missing here{why}"
    if dump.state == "unknown":
        return (f"{name} ({dump.target}) is of unknown age: the master's record of its dumps does not name it "
                "(does the master dump it?)")
    if dump.state == "failing":
        return f"{name} failed on the master ({made}): {dump.error}"
    limit = plan.health.freshness_critical if dump.state == "stale" else plan.health.freshness_warning
    if dump.age_seconds is None:
        return f"{name}: {made}"
    return f"{name} is {describe_age(dump.age_seconds)} old (more than {describe_age(limit)})"


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
