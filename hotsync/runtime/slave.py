"""Slave upkeep, driven by the plan: ``hotsync-slave`` (daily) and ``hotsync-slave fixperm``.

* ``reinstall_packages``: install the master's packages the slave lacks, from the package
  list inside the synced configuration backup. Unreachable repositories are a warning
  (the slave keeps working; the packages come later), never a failure.
* ``push_backup_to_history``: the master's configuration backup joins this host's restore
  history (NethServer's own action), so the admin can pick it in the restore page;
* ``create_vpn_databases``: packages installed here are not configured (yum's events plugin
  is off): the VPN packages' update event runs once, so their ``vpn`` database exists;
* ``disable_synced_cron_jobs``: the master's cron jobs arrive with every sync, executable;
  they must not run on the slave (they would mail, back up or rotate a copy).
* ``apply_owner_fixes``: user ids differ between hosts, so the active rules' ``owner``
  statements give synced paths their owners back, by name, resolved through the root's own
  account files.

``run_role_setup`` is the slave's part of the save and update events' role action: a
slave keeps yum's events plugin off (``package_events.py``) and gets its VPN databases, a
host that stops being a slave gets the plugin back.

Each step reports what it did; ``UpkeepResult.failed`` counts the failed steps, which is
the command's exit status.
"""

import os
import stat
import tarfile
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from ..errors import HotsyncError
from ..files import file_digest, write_file_atomic
from ..frozen import field, frozen
from ..host import host_for
from ..paths import PUSH_TO_HISTORY_ACTION, SIGNAL_EVENT_TOOL, VPN_DATABASE, YUM_EVENTS_PLUGIN_CONF
from ..plan import OwnerFix, Plan
from ..root import Root
from .accounts import Accounts, UnknownAccount, read_accounts
from .backup import ARCHIVE_MD5_PATH, ARCHIVE_PATH, PACKAGE_LIST_PATH
from .conditions import InstalledPackages, evaluate_rules
from .fence import read_fence_settings
from .ownership import UnsafeLink, change_owners
from .package_events import disable_package_events, enable_package_events
from .status import UPKEEP_PATH, iso_time, render_json

# Synced cron files the slave must not run (they belong to the master's own duties).
CRON_FILES_REMOVED_ON_SLAVE = ("/etc/cron.d/backup-data", "/etc/cron.d/dante", "/etc/cron.d/queuereport")
CRON_FOLDERS = ("/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly")
CRON_NEVER_EXECUTABLE = ("jobs.deny",)  # anacron's list of disabled jobs: data, not a job
# The packages whose update event makes the VPN database, in the order the original ran them.
VPN_UPDATE_EVENTS = (("nethserver-openvpn", "nethserver-openvpn-update"),
                     ("nethserver-ipsec-tunnels", "nethserver-ipsec-tunnels-update"))


@frozen
class StepReport:
    """One upkeep step: what it did (``done``), what the admin should know, what failed."""

    name: str
    done: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@frozen
class UpkeepResult:
    steps: Tuple[StepReport, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> int:
        """How many steps failed: the exit status of ``hotsync-slave``."""
        return sum(1 for step in self.steps if not step.ok)


def check_plan_is_slave(plan: Plan, command: str = "hotsync-slave") -> None:
    """Refuse to run slave upkeep on a host that is not a slave (it would disable its cron jobs)."""
    if plan.role != "slave":
        role = plan.role or "no role"
        raise HotsyncError(f"this host is not a slave (role: {role}); {command} runs on the slave only")


def promotion_blocks_upkeep(root: Root) -> str:
    """Why upkeep must not touch this host because of a promotion ("" when it may run).

    Once a promotion has started the synced files are the promoted data: upkeep would
    disable the cron jobs the promotion re-enables, or reinstall packages behind its back.
    """
    fence = read_fence_settings(root)
    if fence.promoting:
        return "this slave's promotion has started: nothing to do (run 'hotsync-promote' to finish it)"
    if fence.role == "master" and fence.generation:
        return f"this host was promoted to master (promotion generation {fence.generation}): nothing to do"
    return ""


def run_upkeep(root: Root, plan: Plan, reinstall: bool) -> UpkeepResult:
    """The daily upkeep (``reinstall``: packages first) or the fixperm run; every step runs."""
    packages = InstalledPackages(root)
    steps: List[StepReport] = []
    if reinstall:
        steps.append(reinstall_packages(root, packages))
        packages = InstalledPackages(root)  # the reinstall may have activated more rules
        steps.append(create_vpn_databases(root, packages))
        steps.append(push_backup_to_history(root))
    steps.append(disable_synced_cron_jobs(root))
    steps.extend(apply_owner_fixes(root, plan, packages))
    return UpkeepResult(tuple(steps))


def run_role_setup(root: Root) -> UpkeepResult:
    """What the role action does for this host's role beside the daemons; every step runs.

    A slave whose promotion has started is left to the promotion (it turns the plugin on).
    """
    role = read_fence_settings(root).role
    if role == "slave":
        blocked = promotion_blocks_upkeep(root)
        if blocked:
            return UpkeepResult((StepReport("role setup", (blocked,)),))
        return UpkeepResult((package_events_step(root, disable_package_events),
                             create_vpn_databases(root, InstalledPackages(root))))
    if role in ("master", "server"):
        return UpkeepResult((package_events_step(root, lambda root: enable_package_events(root, only_if_marked=True)),))
    return UpkeepResult()


def package_events_step(root: Root, change: Callable[[Root], str]) -> StepReport:
    """Turn yum's events plugin on or off with ``change``; a file that cannot be written fails the step."""
    name = "yum events plugin"
    try:
        return StepReport(name, (change(root),))
    except OSError as error:
        return StepReport(name, error=f"cannot change {YUM_EVENTS_PLUGIN_CONF}: {error.strerror or error}")


# ----------------------------------------------------------------------------- NethServer's tools


def create_vpn_databases(root: Root, packages: InstalledPackages) -> StepReport:
    """Run the installed VPN packages' update events when the ``vpn`` database is missing.

    With yum's events plugin off nothing ran them when the packages came: their actions
    (and the configuration restore at promotion) fail without the database.
    """
    name = "VPN databases"
    if root.path(VPN_DATABASE).exists():
        return StepReport(name, (f"{VPN_DATABASE} exists",))
    events = [event for package, event in VPN_UPDATE_EVENTS if packages.version_of(package) is not None]
    if not events:
        return StepReport(name, ("no VPN package installed",))
    host = host_for(root)
    done, failures = [], []
    for event in events:
        try:
            ran = host.run_host_tool(SIGNAL_EVENT_TOOL, (event,))
        except HotsyncError as error:
            failures.append(f"{event}: {error}")
            continue
        if ran is None:
            return StepReport(name, warnings=(f"{VPN_DATABASE} is missing and {SIGNAL_EVENT_TOOL} is not "
                                              f"installed here: {', '.join(events)} not run",))
        done.append(f"ran {event} ({VPN_DATABASE} was missing)")
    return StepReport(name, tuple(done), error="; ".join(failures))


def push_backup_to_history(root: Root) -> StepReport:
    """Offer the master's configuration backup to this host's restore history.

    Only a backup that matches its ``.md5`` goes in (NethServer's action keys the history
    on it, and skips a backup it already holds).
    """
    name = "restore history"
    if not root.path(ARCHIVE_PATH).is_file():
        return StepReport(name, (f"no configuration backup from the master yet ({ARCHIVE_PATH})",))
    if not root.path(ARCHIVE_MD5_PATH).is_file():
        return StepReport(name, warnings=(f"not added: {ARCHIVE_MD5_PATH} is missing (wait for the next sync)",))
    try:
        verify_backup_checksum(root)
    except HotsyncError as error:
        return StepReport(name, warnings=(f"not added: {error}",))
    try:
        ran = host_for(root).run_host_tool(PUSH_TO_HISTORY_ACTION)
    except HotsyncError as error:
        return StepReport(name, error=str(error))
    if ran is None:
        return StepReport(name, (f"no restore history on this host ({PUSH_TO_HISTORY_ACTION} is not installed)",))
    tool = Path(PUSH_TO_HISTORY_ACTION).name
    return StepReport(name, (f"the master's configuration backup is in the restore history ({tool})",))


def record_upkeep(root: Root, action: str, result: UpkeepResult, now: float) -> None:
    """Keep what the upkeep run ``action`` (``upkeep`` or ``fixperm``) found, for ``hotsync status``."""
    record = {
        "action": action,
        "finished": iso_time(now),
        "finished_epoch": int(now),
        "failed": result.failed,
        "errors": [f"{step.name}: {step.error}" for step in result.steps if step.error],
        "warnings": [f"{step.name}: {warning}" for step in result.steps for warning in step.warnings],
    }
    write_file_atomic(root.path(UPKEEP_PATH), render_json(record), mode=0o644, durable=False)


# ----------------------------------------------------------------------------- cron jobs


def disable_synced_cron_jobs(root: Root) -> StepReport:
    """Remove the master-only cron files and take the execute bits off the periodic jobs."""
    done = []
    for host_path in CRON_FILES_REMOVED_ON_SLAVE:
        path = root.path(host_path)
        if path.is_file() or path.is_symlink():
            path.unlink()
            done.append(f"removed {host_path}")
    changed = [name for name in _periodic_jobs(root) if _set_executable(root.path(name), False)]
    if changed:
        done.append(f"made {len(changed)} job(s) non-executable: {', '.join(changed)}")
    return StepReport("cron jobs", tuple(done) or ("synced cron jobs already disabled",))


def enable_synced_cron_jobs(root: Root) -> StepReport:
    """Make the periodic jobs executable again (a promoted slave runs the master's duties)."""
    changed = [
        name for name in _periodic_jobs(root)
        if Path(name).name not in CRON_NEVER_EXECUTABLE and _set_executable(root.path(name), True)
    ]
    if changed:
        return StepReport("cron jobs", (f"made {len(changed)} job(s) executable: {', '.join(changed)}",))
    return StepReport("cron jobs", ("cron jobs already executable",))


def _periodic_jobs(root: Root) -> List[str]:
    """Host paths of the regular files in the cron.{hourly,daily,weekly,monthly} folders."""
    jobs = []
    for folder in CRON_FOLDERS:
        real = root.path(folder)
        if real.is_dir() and not real.is_symlink():
            jobs += [f"{folder}/{entry.name}" for entry in sorted(real.iterdir())
                     if entry.is_file() and not entry.is_symlink()]
    return jobs


def _set_executable(path: Path, executable: bool) -> bool:
    """Add or remove the execute bits; True when the mode changed.

    Adding gives execute permission to whoever may read the file, which is what the
    master had before the slave took it away.
    """
    mode = stat.S_IMODE(path.lstat().st_mode)
    wanted = mode | ((mode & 0o444) >> 2) if executable else mode & ~0o111
    if wanted == mode:
        return False
    os.chmod(path, wanted)
    return True


# ----------------------------------------------------------------------------- ownership


def apply_owner_fixes(root: Root, plan: Plan, packages: InstalledPackages) -> List[StepReport]:
    """One step per ``owner`` statement of the active rules, in plan order."""
    accounts = read_accounts(root)
    reports = []
    for state in evaluate_rules(root, plan, packages):
        if state.active:
            reports += [apply_owner_fix(root, fix, accounts) for fix in state.rule.owners]
    return reports


def apply_owner_fix(root: Root, fix: OwnerFix, accounts: Accounts) -> StepReport:
    """Give ``fix.paths`` (and their content when recursive, or the names matching the
    pattern) the owner and group by name. Symbolic links are changed themselves, never
    followed: a synced link must not hand a file outside the synced tree to a service user
    (see ``hotsync.runtime.ownership``, which also keeps a user from racing the walk)."""
    name = describe_owner_fix(fix)
    # A missing account or path is a warning, as the original went on without it: the
    # package or the data may come with the next upkeep or sync, and a standby that mails
    # at every fixperm, or a promotion that stops on it, helps nobody.
    try:
        ids = (accounts.user_id(fix.owner), accounts.group_id(fix.group))
    except UnknownAccount as error:
        return StepReport(name, warnings=(f"{error}: install the package that creates it "
                                          f"(run 'hotsync-slave' to reinstall the master's packages)",))
    changed, failures = 0, []
    absent: List[str] = []
    missing: List[str] = []
    for host_path in fix.paths:
        try:
            changed += change_owners(root, host_path, ids, fix.recursive, fix.pattern)
        except (FileNotFoundError, NotADirectoryError):
            (absent if fix.optional else missing).append(host_path)
        except UnsafeLink as error:
            failures.append(f"{host_path}: {error}")
        except OSError as error:
            failures.append(f"{host_path}: cannot change owners: {error.strerror or error}")
    done: Tuple[str, ...] = (f"{changed} path(s) given to {fix.owner}:{fix.group}",)
    if absent:
        done += (f"absent, optional: {', '.join(absent)}",)
    warnings = (f"missing: {', '.join(missing)} (has the master synced them?)",) if missing else ()
    return StepReport(name, done, warnings, error="; ".join(failures))


def describe_owner_fix(fix: OwnerFix) -> str:
    words = [f"owner {fix.owner}:{fix.group}"]
    words += [word for word, wanted in (("recursive", fix.recursive), ("optional", fix.optional)) if wanted]
    if fix.pattern:
        words.append(f"pattern {fix.pattern}")
    text = " ".join(words + list(fix.paths))
    return f"{text} ({fix.origin})" if fix.origin else text


# ----------------------------------------------------------------------------- packages


def reinstall_packages(root: Root, packages: InstalledPackages) -> StepReport:
    """Install the master's packages this host lacks; unreachable repositories only warn."""
    name = "packages"
    try:
        wanted = read_master_package_list(root)
    except HotsyncError as error:
        return StepReport(name, error=str(error))
    if wanted is None:
        return StepReport(name, warnings=(f"no configuration backup from the master yet ({ARCHIVE_PATH}): "
                                          "nothing to reinstall until the first sync",))
    installed = set(packages.all_names())
    missing = [package for package in wanted if package not in installed]
    if not missing:
        return StepReport(name, (f"all {len(wanted)} package(s) of the master are installed",))
    host = host_for(root)
    unreachable = host.unreachable_repositories()
    if unreachable:
        return StepReport(name, warnings=(
            f"Cannot download packages: the repositories are unreachable ({unreachable}); "
            f"{len(missing)} package(s) of the master are not installed: {', '.join(missing)}. "
            "They will be installed by the next 'hotsync-slave' run once the network is back",))
    try:
        return StepReport(name, (host.install_packages(missing),))
    except HotsyncError as error:
        return StepReport(name, error=f"installing {len(missing)} package(s) failed: {error}")


def read_master_package_list(root: Root) -> Optional[Tuple[str, ...]]:
    """Package names from the synced configuration backup (None when no backup arrived yet).

    The archive is checked against its ``.md5`` first: a damaged backup must not drive a
    reinstall (nor, later, a restore).
    """
    archive = root.path(ARCHIVE_PATH)
    if not archive.is_file():
        return None
    verify_backup_checksum(root)
    member = PACKAGE_LIST_PATH.lstrip("/")
    try:
        with tarfile.open(archive, mode="r:*") as bundle:
            stream = bundle.extractfile(member)
            if stream is None:
                raise KeyError(member)
            text = stream.read().decode("utf-8", "replace")
    except KeyError:
        raise HotsyncError(f"{ARCHIVE_PATH} holds no {member}: the master made an incomplete backup") from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise HotsyncError(f"{ARCHIVE_PATH} cannot be read ({error}): wait for the next sync") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def verify_backup_checksum(root: Root) -> None:
    """Raise when ``backup-config.tar.xz.md5`` exists and disagrees with the archive."""
    try:
        expected = root.path(ARCHIVE_MD5_PATH).read_text(encoding="utf-8").split()[0]
    except (FileNotFoundError, IndexError):
        return
    if file_digest(root.path(ARCHIVE_PATH), "md5") != expected:
        raise HotsyncError(f"{ARCHIVE_PATH} does not match its checksum in {ARCHIVE_MD5_PATH} "
                           "(a sync was interrupted?): wait for the next sync, or run 'hotsync' on the master")
