"""Promotion: this slave becomes the master, step by step, resumable.

Steps, in this order (reference §7, driven by the plan):

1. ``receiving``: close this host to pushes for good, before anything else: the promotion
   is marked started in the configuration database, the rsync daemon stops, and the
   daemons take the fence's form (every push refused, whatever event runs later; see
   ``fence.py``). This step runs again on every resume: it checks the daemon rather than
   trusting an earlier run;
2. ``packages``: reinstall the master's packages (skipped with network choice ``continue``),
   before the dumps are loaded: their servers come with them;
3. ``fixperm``: the slave's ownership fixes;
4. one step per ``promote`` statement of the active rules, in plan order: ``restore`` loads
   dumps into the local MariaDB/MySQL or PostgreSQL (and moves them aside, see
   ``set_loaded_dump_aside``), ``restart`` restarts a service, ``run`` runs a program;
5. ``package-events``: yum's events plugin on again (a slave keeps it off), so the
   packages the configuration restore and the admin install later are configured;
6. ``configuration``: the synced configuration backup, restored by NethServer's own
   ``restore-config`` where the host has it (else HotSync merges the backup's e-smith
   databases itself), keeping this host's HotSync records; the master's network comes with
   it unless network choice ``keep`` (see ``interface_mismatch``: checked before step 1);
7. ``master``: role master, a new promotion generation, the fence (see ``fence.py``);
8. ``cron``: the periodic jobs executable again.

Each completed step is recorded in ``STATE_PATH``; running promotion again skips them
(except the first), so after fixing what made a step fail the admin just runs the command
again.

The network choice: ``keep`` keeps this host's own network; any other takes the master's
(``continue`` also skips the packages step; ``reinstall`` is the choice made for the admin
when the repositories answer).
"""

import json
import os
import tarfile
import time
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Tuple, Union

from ..errors import EXIT_FAILURE, CommandError, HotsyncError
from ..files import write_file_atomic
from ..frozen import frozen
from ..host import Database, apply_database_defaults, database_path, edit_database, host_for, parse_database, read_database
from ..paths import EVENTS_FOLDER, RESTORE_TOOL, RSYNCD_CONF, STATE_FOLDER, YUM_EVENTS_PLUGIN_CONF
from ..plan import Plan, PromoteStep, load_plan
from ..programs import run_command
from ..root import Root
from .backup import ARCHIVE_PATH
from .conditions import InstalledPackages, evaluate_rules
from .dumps import (
    UnsafeDatabaseName,
    check_database_name,
    client_argv,
    mysql_connection_options,
    postgresql_connection_options,
)
from .failure import failure_recorded
from .fence import (
    FENCE_PORT_PROPERTY,
    GENERATION_PROPERTY,
    PROMOTION_STARTED_PROPERTY,
    FenceSettings,
    next_generation,
    writable_modules,
)
from .package_events import enable_package_events
from .points import rewind
from .slave import (
    UpkeepResult,
    apply_owner_fixes,
    disable_synced_cron_jobs,
    enable_synced_cron_jobs,
    package_events_step,
    reinstall_packages,
    verify_backup_checksum,
)
from .status import read_marker, render_json

STATE_PATH = f"{STATE_FOLDER}/promotion.json"
NETWORK_CHOICES = ("restore", "keep", "stop", "continue")
# Records that belong to HotSync on this very host: promotion sets them, the master's copy must not.
HOTSYNC_KEYS = ("hotsync", "rsyncd", "stunnel")
# This host's configuration database as it was before the restore (HotSync's records are put
# back from it); root-only: it holds the rsync password.
SAVED_CONFIGURATION_PATH = f"{STATE_FOLDER}/promotion-configuration.saved"
# The dumps promotion loaded, moved here (same path below it) so nothing loads them again.
LOADED_DUMPS_FOLDER = f"{STATE_FOLDER}/loaded-dumps"
NETWORK_DATABASE = "networks"
# A networks record of this type names a network card (bond members too, with role 'slave'):
# the names the master's configuration gives roles to, which this host's cards must carry.
INTERFACE_TYPE = "ethernet"
INTERFACE_UPDATE_EVENT = "interface-update"
Remap = Tuple[Tuple[str, str], ...]  # (the master's card, this host's card) pairs
RESTORE_TOOL_TIMEOUT_SECONDS = 4 * 3600  # post-restore-config reconfigures every installed module
DATABASE_FOLDER_IN_ARCHIVE = "var/lib/nethserver/db/"
SAVE_EVENT = "nethserver-hotsync-save"
RESTORE_TIMEOUT_SECONDS = 4 * 3600


class PromotionStopped(HotsyncError):
    """A step failed: promotion stopped there; the message says what to do next.

    Exits as the step's own error did: 1 for a failure, 70 for a bug, 143 for SIGTERM.
    """

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@frozen
class Step:
    """One promotion step: a stable ``key`` for the state file, a title, the action, a hint."""

    key: str
    title: str
    action: Callable[[], "StepResult"]  # what it did; raises HotsyncError when it fails
    hint: str
    recheck: bool = False  # run again on resume, even when an earlier run completed it
    optional: bool = False  # a failure is reported and promotion goes on


@frozen
class Done:
    """What a step did, with what the admin should know although it did not fail."""

    message: str
    warnings: Tuple[str, ...] = ()


StepResult = Union[str, Done]


@frozen
class PromotionReport:
    ran: Tuple[Tuple[str, str], ...]  # (title, what it did) of the steps run now
    skipped: Tuple[str, ...]  # titles of the steps done by an earlier run
    seconds: float  # this run
    total_seconds: float  # since the first attempt: the recovery time
    data_epoch: Optional[int]  # when the restored data was last synced successfully
    network: str  # the network choice the promotion ran with
    # Failed optional steps and steps' warnings, of this promotion's every run: the summary lists them.
    warnings: Tuple[str, ...] = ()


# ----------------------------------------------------------------------------- state


def read_state(root: Root) -> Dict:
    try:
        data = json.loads(root.path(STATE_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(root: Root, state: Dict) -> None:
    write_file_atomic(root.path(STATE_PATH), render_json(state), mode=0o600)


def promotion_in_progress(root: Root) -> bool:
    state = read_state(root)
    return bool(state) and not state.get("finished_epoch")


def check_can_promote(root: Root, plan: Plan) -> None:
    """Only a slave is promoted; a promotion left half-done may always be resumed."""
    if promotion_in_progress(root):
        return
    if plan.role != "slave":
        role = plan.role or "no role"
        raise HotsyncError(f"this host is not a slave (role: {role}); only a slave can be promoted")


def repositories_problem(root: Root) -> str:
    """Why packages cannot be downloaded ("" when they can): the original's internet check."""
    return host_for(root).unreachable_repositories()


def data_age(root: Root) -> Optional[int]:
    """Epoch of the last successful sync this slave received (None when unknown)."""
    epoch = read_marker(root).get("last_success_epoch")
    return int(epoch) if isinstance(epoch, (int, float)) else None


# ----------------------------------------------------------------------------- the run


def promote(root: Root, network: str, announce: Callable[[str], None], remap: Remap = (),
            at: str = "") -> PromotionReport:
    """Run (or resume) the promotion with network choice ``network`` (see the module's
    docstring) and ``remap``, pairs (the master's card, this host's card) that take the
    master's network onto cards named otherwise here.

    ``announce`` receives one line per step as it completes. Raises ``PromotionStopped``
    at the first failed step, after recording the steps done so far.
    """
    plan = load_plan(root)
    check_can_promote(root, plan)
    started = time.time()
    state = _current_state(root, started, network, remap, at)
    check_network_can_be_taken(root, state)
    write_state(root, state)
    steps = promotion_steps(root, plan, state["network"], state_remap(state), state.get("at") or "")
    ran: List[Tuple[str, str]] = []
    skipped: List[str] = []
    for number, step in enumerate(steps, 1):
        label = f"[{number}/{len(steps)}] {step.title}"
        if step.key in state["done"] and not step.recheck:
            skipped.append(step.title)
            announce(f"{label}: done by an earlier run")
            continue
        step_began = time.monotonic()
        try:
            with failure_recorded(root, f"promotion step '{step.title}'"):
                result = step.action()
        except HotsyncError as error:  # RunCrashed too: a step that crashed is resumed like any failed one
            if step.optional:
                result = _optional_step_failed(step, error)
                label += ": FAILED (optional, promotion goes on)"
            else:
                raise _stopped(root, state, steps, number, step, error) from None
        message, warnings = (result.message, result.warnings) if isinstance(result, Done) else (result, ())
        state["done"][step.key] = {"title": step.title, "message": message, "epoch": int(time.time()),
                                   "seconds": round(time.monotonic() - step_began, 3)}  # what the RTO is made of
        state.setdefault("warnings", []).extend(f"{step.title}: {warning}" for warning in warnings)
        state.pop("failed", None)
        write_state(root, state)
        ran.append((step.title, message))
        announce(f"{label}: {message}")
    finished = time.time()
    state["finished_epoch"] = int(finished)
    write_state(root, state)
    return PromotionReport(tuple(ran), tuple(skipped), finished - started, finished - state["started_epoch"],
                           state.get("data_epoch"), state["network"], tuple(state.get("warnings", ())))


def _optional_step_failed(step: Step, error: HotsyncError) -> Done:
    """An optional step's failure as what it did: reported, and promotion goes on."""
    return Done(f"failed: {error}", (f"failed ({error}); promotion went on without it: {step.hint}",))


def _stopped(root: Root, state: Dict, steps: List[Step], number: int, step: Step,
             error: HotsyncError) -> PromotionStopped:
    """Record the failed step; the ``PromotionStopped`` that says what to do."""
    state["failed"] = {"step": step.title, "error": str(error), "epoch": int(time.time())}
    write_state(root, state)
    return PromotionStopped(
        f"promotion stopped at step {number}/{len(steps)} '{step.title}': {error}\n"
        f"What to do: {step.hint}\n"
        f"Then run 'hotsync-promote' again: it resumes at this step ({_rerun_note(steps[:number - 1])}).",
        error.exit_code,
    )


def _rerun_note(completed: List[Step]) -> str:
    """What a re-run does with the steps before the one that failed."""
    checked = [step.title for step in completed if step.recheck]
    skipped = len(completed) - len(checked)
    parts = [f"the {skipped} completed step(s) are not repeated"] if skipped else []
    parts += [f"'{title}' is checked again" for title in checked]
    return "; ".join(parts) or "nothing before it had completed"


def _current_state(root: Root, now: float, network: str, remap: Remap = (), at: str = "") -> Dict:
    """The unfinished promotion to resume, or a new one (not written yet)."""
    state = read_state(root)
    if state and not state.get("finished_epoch"):
        if network in NETWORK_CHOICES:
            state["network"] = network
        if remap:
            state["remap"] = [list(pair) for pair in remap]
        if at:
            state["at"] = at
        return state
    return {"started_epoch": int(now), "network": network, "remap": [list(pair) for pair in remap], "done": {},
            "data_epoch": data_age(root), "at": at}


def state_remap(state: Dict) -> Remap:
    """The card pairs a promotion's state records."""
    return tuple((str(pair[0]), str(pair[1])) for pair in state.get("remap") or ())


def check_network_can_be_taken(root: Root, state: Dict) -> None:
    """Raise ``PromotionStopped`` before any change when the promotion described by ``state``
    is to take the master's network and this host's cards do not allow it."""
    if "configuration" in state["done"] or not takes_master_network(state["network"]):
        return
    mismatch = interface_mismatch(root, state_remap(state))
    if mismatch:
        raise PromotionStopped(f"promotion stopped before any change: {mismatch}", EXIT_FAILURE)


def planned_state(root: Root, network: str, remap: Remap = ()) -> Dict:
    """The promotion ``promote(root, network, ..., remap)`` would run or resume now."""
    return _current_state(root, time.time(), network, remap)


def takes_master_network(network: str) -> bool:
    """Whether network choice ``network`` takes the master's network configuration."""
    return network != "keep"


def interface_mismatch(root: Root, remap: Remap = ()) -> str:
    """Why this host cannot take the master's network, its cards renamed by ``remap`` ("" when it can).

    NethServer applies the restored network by card name: a card the master gave a role to
    and this host lacks leaves that role (the green network, the gateway) on no card. Cards
    only this host has are no obstacle; they are named as the candidates to map to.
    """
    master = read_backup_databases(root).get(NETWORK_DATABASE)
    if master is None:
        return ""
    theirs = interface_names(master)
    unknown = sorted(old for old, _new in remap if old not in theirs)
    if unknown:
        return (f"--remap-interfaces names {', '.join(unknown)}, which the master's network does not have "
                f"(its cards: {', '.join(sorted(theirs)) or 'none'})")
    renamed = dict(remap)
    theirs = {renamed.get(name, name) for name in theirs}
    ours = interface_names(read_database(database_path(root, NETWORK_DATABASE)))
    missing = sorted(theirs - ours)
    if not missing:
        return ""
    spare = sorted(ours - theirs)
    example = ",".join(f"{old}={new}" for old, new in zip(missing, spare)) or "MASTER_CARD=THIS_CARD"
    return (f"the master's network cannot be taken over: its network card(s) {', '.join(missing)} "
            f"have no card of the same name here (this host's cards: {', '.join(sorted(ours)) or 'none'}"
            + (f"; not on the master: {', '.join(spare)}" if spare else "") + ").\n"
            f"To map them, say which card here takes each of the master's: 'hotsync-promote --remap-interfaces "
            f"{example}' (NethServer's restore then gives each card the roles and addresses of the master's); "
            "or keep this host's own network with 'hotsync-promote --network keep' and give its cards the "
            "master's roles in the Server Manager (Network) afterwards.")


def interface_names(networks: Database) -> set:
    """The network cards a networks database names."""
    return {key for key in networks if networks[key].type == INTERFACE_TYPE}


def promotion_steps(root: Root, plan: Plan, network: str, remap: Remap = (), at: str = "") -> List[Step]:
    """Every step of this host's promotion, in order (see the module's docstring).

    ``at``: first take the synced files, dumps and configuration backup back to the restore
    point of that time (``hotsync-promote --at``), so every later step works on them.
    """
    steps = [
        Step("receiving", "stop receiving data", lambda: stop_receiving(root),
             "see /var/log/hotsync-events.log; stop the rsync daemon by hand if it still runs "
             "('hotsync services stop rsyncd')", recheck=True),
    ]
    if at:
        steps.append(Step("rewind", f"go back to the restore point at {at}", lambda: rewind(root, at),
                          "see the error; 'hotsync restore-points' lists the points this host keeps"))
    steps += [
        Step("packages", "reinstall the master's packages", lambda: reinstall_step(root, network),
             "fix the network or the repositories, or answer 3 (continue without reinstalling packages)"),
        Step("fixperm", "fix permissions", lambda: fixperm_step(root, plan),
             "create the missing users or paths (see the error), or reinstall their packages"),
    ]
    steps += rule_steps(root, plan)
    steps += [
        Step("package-events", "turn yum's events plugin back on", lambda: package_events_step_on(root),
             f"set 'enabled = 1' in the [main] section of {YUM_EVENTS_PLUGIN_CONF} by hand"),
        Step("configuration", "restore the configuration", lambda: restore_configuration(root, network, remap),
             f"check {ARCHIVE_PATH} on this host (it comes with every sync)"),
        Step("master", "become the master", lambda: become_master(root, plan),
             "see the error above; the settings are in 'config show hotsync'"),
        Step("cron", "re-enable the cron jobs", lambda: _describe(enable_synced_cron_jobs(root)),
             "make the jobs in /etc/cron.{hourly,daily,weekly,monthly} executable by hand"),
    ]
    return steps


def rule_steps(root: Root, plan: Plan) -> List[Step]:
    """The ``promote`` statements of the rules active now, in plan order."""
    steps = []
    for state in evaluate_rules(root, plan, InstalledPackages(root)):
        if not state.active:
            continue
        for index, statement in enumerate(state.rule.promote):
            key = f"rule:{state.rule.name}:{index}:{statement.kind}:{' '.join(statement.databases or statement.arguments)}"
            steps.append(_rule_step(root, plan, state.rule.name, statement, key))
    return steps


def _rule_step(root: Root, plan: Plan, rule: str, statement: PromoteStep, key: str) -> Step:
    where = f" ({statement.origin})" if statement.origin else ""
    optional = statement.optional
    if statement.kind == "restore":
        names = ", ".join(statement.databases)
        return Step(key, f"{rule}: restore {statement.engine} {names}", lambda: restore_databases(root, plan, statement),
                    f"check that the {statement.engine} server runs and the dump files exist{where}", optional=optional)
    if statement.kind == "restart":
        return Step(key, f"{rule}: restart {' '.join(statement.arguments)}",
                    lambda: host_for(root).restart_host_services(statement.arguments),
                    f"see 'systemctl status {statement.arguments[0]}' and its journal{where}", optional=optional)
    return Step(key, f"{rule}: run {' '.join(statement.arguments)}",
                lambda: host_for(root).run_program(statement.arguments),
                f"run '{' '.join(statement.arguments)}' by hand and fix what it reports{where}", optional=optional)


# ----------------------------------------------------------------------------- the steps


def stop_receiving(root: Root) -> str:
    """Close this host to pushes for good: from now on its data is its own.

    The promotion is marked started in the configuration database (the compiler and the
    events read it there: no event can make this host receive again), the rsync daemon
    stops, and the save event gives the daemons the fence's form. Then the result is
    checked, never assumed: raises ``HotsyncError`` when the daemon still runs or the
    daemon's configuration still offers a writable module.
    """
    with edit_database(database_path(root)) as session:
        fence = FenceSettings.from_database(session.database)
        if fence.role == "slave" and not fence.promotion_started:  # a resume after 'master' only checks
            session.set_prop("hotsync", PROMOTION_STARTED_PROPERTY, str(int(time.time())))
        session.set_prop("rsyncd", "status", "disabled")
    host = host_for(root)
    host.stop_service("rsyncd")
    result = host.signal_event(SAVE_EVENT)
    if not result.ok:
        raise HotsyncError(f"'signal-event {SAVE_EVENT}' failed at {', '.join(result.failed_steps)}")
    check_closed(root)
    return "rsync daemon stopped and disabled; every push is refused from now on"


def check_closed(root: Root) -> None:
    """Raise unless the rsync daemon is stopped and its configuration offers no writable module."""
    if host_for(root).service_status("rsyncd").running:
        raise HotsyncError("the rsync daemon still runs")
    try:
        text = root.path(RSYNCD_CONF).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    writable = writable_modules(text)
    if writable:
        raise HotsyncError(f"{RSYNCD_CONF} still offers writable module(s) {', '.join(writable)}")


def reinstall_step(root: Root, network: str) -> str:
    if network == "continue":
        return "skipped (network choice: continue without reinstalling packages)"
    report = reinstall_packages(root, InstalledPackages(root))
    if report.error:
        raise HotsyncError(report.error)
    return "; ".join(report.done + report.warnings)


def package_events_step_on(root: Root) -> str:
    """The plugin on, whoever turned it off: from now on this host configures what it installs."""
    report = package_events_step(root, lambda root: enable_package_events(root, only_if_marked=False))
    if report.error:
        raise HotsyncError(report.error)
    return _describe(report)


def fixperm_step(root: Root, plan: Plan) -> Done:
    """The slave's fixperm; a path or an account that is missing is a warning (the original
    went on), an owner change that fails stops the promotion."""
    result = UpkeepResult((disable_synced_cron_jobs(root),) + tuple(apply_owner_fixes(root, plan, InstalledPackages(root))))
    failures = [f"{step.name}: {step.error}" for step in result.steps if step.error]
    if failures:
        raise HotsyncError("; ".join(failures))
    warnings = tuple(f"{step.name}: {warning}" for step in result.steps for warning in step.warnings)
    return Done(f"{len(result.steps)} step(s) done" + (f", {len(warnings)} warning(s)" if warnings else ""), warnings)


def restore_databases(root: Root, plan: Plan, statement: PromoteStep) -> str:
    """Load each database's dump into this host's server; a database is replaced, never merged."""
    for name in statement.databases:
        try:
            check_database_name(statement.engine, name)  # the names the master would dump
        except UnsafeDatabaseName as error:
            raise HotsyncError(f"not restoring {error}") from None
    dumps = [dump_to_load(root, target) for target in statement.dump_targets]
    for name, target, dump in zip(statement.databases, statement.dump_targets, dumps):
        if not dump.is_file():
            raise HotsyncError(f"the dump of {statement.engine} database {name} is missing at {target} "
                               "(database sync disabled on the master, or its dump failed)")
    connection = dict(statement.connection)
    if statement.engine == "mysql":
        _restore_mysql(root, connection, statement, dumps)
    elif statement.engine == "postgresql":
        _restore_postgresql(connection, statement, dumps)
    else:
        raise HotsyncError(f"unknown database engine {statement.engine!r}")
    for target in statement.dump_targets:
        set_loaded_dump_aside(root, target)
    return f"loaded {', '.join(statement.dump_targets)} (now in {LOADED_DUMPS_FOLDER})"


def dump_to_load(root: Root, target: str) -> Path:
    """The synced dump at ``target``; or, when a run loaded it, set it aside and stopped before
    recording the step, the copy set aside."""
    synced = root.path(target)
    aside = root.path(LOADED_DUMPS_FOLDER + target)
    return aside if not synced.exists() and aside.is_file() else synced


def set_loaded_dump_aside(root: Root, target: str) -> None:
    """Move a dump promotion loaded out of the folder it was synced to.

    The admin runs ``signal-event post-restore-data`` after promotion, and NethServer's
    restore actions load what they find there: nethserver-mysql's ``mysql-load-tables``
    moves every ``*.dump`` of /var/lib/nethserver/backup/mysql/ into the server's init
    scripts (/etc/e-smith/sql/init/) and runs them. A second load of Nextcloud's or
    FreePBX's dump would replace what they wrote since, and cost the time of a load. The
    original deleted them; kept aside (root only), a dump can still be looked at.
    """
    synced = root.path(target)
    if not synced.exists():
        return
    aside = root.path(LOADED_DUMPS_FOLDER + target)
    aside.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root.path(LOADED_DUMPS_FOLDER), 0o700)
    os.replace(synced, aside)


def _restore_mysql(root: Root, connection: Dict[str, str], statement: PromoteStep, dumps: List[Path]) -> None:
    client = client_argv("mysql", connection) + mysql_connection_options(root, connection)
    for name in statement.databases:
        quoted = _quote_identifier(name, "`")
        _run_client(client + ["--execute", f"DROP DATABASE IF EXISTS {quoted}; CREATE DATABASE {quoted}"])
    for name, dump in zip(statement.databases, dumps):
        # 'source' reads the file itself: a dump of any size never passes through Python.
        # The name follows '--': never read as an option.
        _run_client(client + ["--execute", f"source {dump}", "--", name])


def _restore_postgresql(connection: Dict[str, str], statement: PromoteStep, dumps: List[Path]) -> None:
    client = client_argv("psql", connection) + ["--no-password", "--quiet", *postgresql_connection_options(connection),
                                                 "--set", "ON_ERROR_STOP=1"]
    for name, path in zip(statement.databases, dumps):
        quoted = _quote_identifier(name, '"')
        _run_client(client + ["--dbname", "postgres", "--command", f"DROP DATABASE IF EXISTS {quoted}"])
        _run_client(client + ["--dbname", "postgres", "--command", f"CREATE DATABASE {quoted}"])
        # The name is the argument of --dbname: psql never reads it as an option. The dump
        # comes on stdin: the account psql may run as cannot open the root-only file.
        with open(path, "rb") as dump:
            _run_client(client + ["--single-transaction", "--dbname", name, "--file", "-"], dump)


def _quote_identifier(name: str, quote: str) -> str:
    """``name`` as an SQL identifier: inside ``quote`` (MySQL's backtick, PostgreSQL's double
    quote), the quote itself doubled, so no name can end the identifier early."""
    return quote + name.replace(quote, quote * 2) + quote


def _run_client(argv: List[str], input_file: Optional[IO[bytes]] = None) -> None:
    try:
        run_command(argv, timeout=RESTORE_TIMEOUT_SECONDS, input_file=input_file)
    except CommandError as error:
        raise HotsyncError(str(error)) from None


def restore_configuration(root: Root, network: str, remap: Remap = ()) -> str:
    """Restore the master's configuration backup, keeping this host's HotSync records.

    Where the host has NethServer's ``restore-config`` it does the restore, as NethServer
    restores any configuration backup: the whole backup (databases, secrets, custom
    templates, certificates, host name...), then every module reconfigured; else HotSync
    replaces the e-smith databases itself. The records are saved before and put back after
    either way, even when the restore fails: the master's own records would make this host
    a master pushing to itself.
    """
    verify_backup_checksum(root)
    databases = read_backup_databases(root)
    if not databases:
        raise HotsyncError(f"{ARCHIVE_PATH} is missing or holds no configuration database")
    save_configuration(root)
    try:
        output = host_for(root).run_host_tool(RESTORE_TOOL, restore_tool_arguments(network, remap),
                                              timeout=RESTORE_TOOL_TIMEOUT_SECONDS)
        if output is None:
            done = merge_backup_databases(root, databases, network, remap)
        else:
            done = ("NethServer's restore-config restored the master's configuration backup; "
                    + (f"the master's network applied by its interface-update{describe_remap(remap)}"
                       if takes_master_network(network) else f"this host's own {NETWORK_DATABASE} kept (--skip-network)"))
    finally:
        put_back_hotsync_records(root)
    apply_database_defaults(root)
    return f"{done}; this host's HotSync records kept"


def restore_tool_arguments(network: str, remap: Remap = ()) -> List[str]:
    """``restore-config``'s arguments for network choice ``network`` and the cards' ``remap``."""
    # The packages step already installed the master's packages (it must, before the dumps
    # are loaded into the servers they bring): yum would only resolve the same list again.
    arguments = ["--no-reinstall"]
    if not takes_master_network(network):
        # NethServer then keeps this host's network cards and their roles, and takes the
        # master's other networks records.
        arguments.append("--skip-network")
    elif remap:
        # Its interface-update renames each old card to the new one in every e-smith database.
        arguments.append("--remap-interfaces=" + ",".join(interface_update_arguments(remap)))
    return arguments


def interface_update_arguments(remap: Remap) -> List[str]:
    """``OLD NEW OLD NEW…``: how NethServer's interface-update takes cards to rename."""
    return [name for pair in remap for name in pair]


def save_configuration(root: Root) -> None:
    """Keep this host's configuration database aside, once: a resumed restore must not save
    the master's records that an interrupted restore left in place."""
    saved = root.path(SAVED_CONFIGURATION_PATH)
    if not saved.exists():
        write_file_atomic(saved, database_path(root).read_bytes(), mode=0o600)


def put_back_hotsync_records(root: Root) -> None:
    """HotSync's records as they were before the restore; then the saved copy goes."""
    saved_path = root.path(SAVED_CONFIGURATION_PATH)
    saved = read_database(saved_path)
    with edit_database(database_path(root)) as session:
        for key in HOTSYNC_KEYS:
            if key in saved:
                session.copy_record(key, saved)
            else:
                session.delete(key)
    saved_path.unlink()


def merge_backup_databases(root: Root, databases: Dict[str, Database], network: str, remap: Remap = ()) -> str:
    """Without NethServer's tool: make each e-smith database the backup's (HotSync's own
    records are put back afterwards); the networks database only when the master's network
    is taken, then applied the NethServer way when this host has the event."""
    restored = []
    for name, backup in sorted(databases.items()):
        if name == NETWORK_DATABASE and not takes_master_network(network):
            continue
        replace_database(root, name, backup, HOTSYNC_KEYS if name == "configuration" else ())
        restored.append(name)
    done = f"restored {', '.join(restored)} from the master's backup"
    if not takes_master_network(network):
        return f"{done}; this host's own {NETWORK_DATABASE} kept"
    if NETWORK_DATABASE not in databases:
        return f"{done}; the master's backup holds no {NETWORK_DATABASE}: this host's own kept"
    return f"{done}; {apply_master_network(root, remap)}"


def apply_master_network(root: Root, remap: Remap = ()) -> str:
    """Apply the restored networks database as NethServer does: ``interface-update``, told
    the cards to rename (its interface-rename action moves their records)."""
    if not root.path(f"{EVENTS_FOLDER}/{INTERFACE_UPDATE_EVENT}").is_dir():
        return (f"the master's network is in the {NETWORK_DATABASE} database; this host has no "
                f"{INTERFACE_UPDATE_EVENT} event to apply it")
    result = host_for(root).signal_event(INTERFACE_UPDATE_EVENT, interface_update_arguments(remap))
    if not result.ok:
        raise HotsyncError(f"'signal-event {INTERFACE_UPDATE_EVENT}' failed at {', '.join(result.failed_steps)}")
    return f"the master's network applied by 'signal-event {INTERFACE_UPDATE_EVENT}'{describe_remap(remap)}"


def describe_remap(remap: Remap) -> str:
    return (", onto " + ", ".join(f"{new} (the master's {old})" for old, new in remap)) if remap else ""


def read_backup_databases(root: Root) -> Dict[str, Database]:
    """The e-smith databases inside the synced configuration backup, by name."""
    archive = root.path(ARCHIVE_PATH)
    if not archive.is_file():
        return {}
    databases = {}
    try:
        with tarfile.open(archive, mode="r:*") as bundle:
            for member in bundle.getmembers():
                name = member.name[len(DATABASE_FOLDER_IN_ARCHIVE):]
                stream = bundle.extractfile(member) if member.isfile() else None  # None for anything else
                if stream is not None and member.name.startswith(DATABASE_FOLDER_IN_ARCHIVE) and "/" not in name:
                    text = stream.read().decode("utf-8", "surrogateescape")
                    databases[name] = parse_database(text, Path(f"{ARCHIVE_PATH}:{member.name}"))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise HotsyncError(f"{ARCHIVE_PATH} cannot be read ({error})") from None
    return databases


def replace_database(root: Root, name: str, backup: Database, keep: Tuple[str, ...]) -> None:
    """Make database ``name`` equal to ``backup``, except the records of ``keep`` (left as they are)."""
    with edit_database(database_path(root, name)) as session:
        for key in list(session.database):
            if key not in keep and key not in backup:
                session.delete(key)
        for key in backup:
            if key not in keep:
                session.copy_record(key, backup)


def become_master(root: Root, plan: Plan) -> str:
    """Role master, a new promotion generation, the fence; then apply it like an admin would.

    SlaveHost stays empty and HotSync's status ``disabled`` until the admin names a new
    slave (a master without a slave has nothing to push; a disabled master needs none).
    The fence listens on the tunnel port this host had as a slave: that is where the old
    master pushes.
    """
    own = FenceSettings.from_database(read_database(database_path(root)))
    old_master = master_generation_in_backup(root)
    generation = next_generation(own.generation, old_master)
    with edit_database(database_path(root)) as session:
        session.set_props("hotsync", {
            "role": "master", "MasterHost": "", "SlaveHost": "", "status": "disabled",
            GENERATION_PROPERTY: str(generation), FENCE_PORT_PROPERTY: str(plan.transport.tunnel_port),
        })
        # The role closes this host from now on; the mark would close it again as a slave later.
        session.delete_prop("hotsync", PROMOTION_STARTED_PROPERTY)
        session.set_prop("rsyncd", "status", "disabled")
    result = host_for(root).signal_event(SAVE_EVENT)
    if not result.ok:
        raise HotsyncError(f"'signal-event {SAVE_EVENT}' failed at {', '.join(result.failed_steps)} "
                           "(see /var/log/e-smith events log)")
    keep_fence_listening(root)
    return (f"role master, promotion generation {generation} (the old master's was {old_master}); "
            f"pushes from the old master are refused on port {plan.transport.tunnel_port}")


def master_generation_in_backup(root: Root) -> int:
    """The promotion generation the old master had at its last backup (0 when unknown)."""
    configuration = read_backup_databases(root).get("configuration")
    return FenceSettings.from_database(configuration).generation if configuration is not None else 0


def keep_fence_listening(root: Root) -> None:
    """The fence needs stunnel even on a master without a slave: enable and (re)start it."""
    with edit_database(database_path(root)) as session:
        changed = session.set_prop("stunnel", "status", "enabled")
    if changed:
        host_for(root).apply_service_state("stunnel", True, "restart")


def _describe(report) -> str:
    return "; ".join(report.done)
