"""The compiled plan: everything the runtime needs, as plain versioned data.

The compiler writes it to ``/var/lib/nethserver/hotsync/plan.json``; the runtime
(sync, slave upkeep, promotion) reads only this, never the rule files. It holds no
secret: the password lives in 0600 files that the plan names.
"""

import functools
import json
from typing import Any, Callable, Dict, Optional, Tuple, get_type_hints

from . import paths
from .errors import HotsyncError
from .files import write_file_atomic
from .frozen import asdict, field, fields, frozen, is_frozen
from .root import Root
from .tool_versions import ToolVersions

PLAN_VERSION = 1
PLAN_PATH = f"{paths.STATE_FOLDER}/plan.json"


@frozen
class Condition:
    """A run-time condition of a rule.

    kind: ``installed`` (argument = package name, optional ``version_op`` and ``version``),
    ``exists`` (argument = host path), ``databases`` (the database switch of the plan).
    ``negated`` inverts it. ``origin`` is ``FILE:LINE:COL`` of the rule text.
    """

    kind: str
    argument: str = ""
    negated: bool = False
    version_op: str = ""
    version: str = ""
    origin: str = ""


@frozen
class PathEntry:
    """One include/exclude/unexclude path (a host path) and where it was declared."""

    path: str
    origin: str = ""


@frozen
class Dump:
    """A database dump made on the master before each push.

    engine: ``mysql`` or ``postgresql``. databases: names; empty = every database (mysql only).
    target: a host folder (ends with ``/``; one ``<database>.dump`` file each for mysql,
    ``<database>.sql`` for postgresql) or a host file path (exactly one database).
    connection: ``host``, ``port``, ``socket``, ``user``, ``defaults_file`` as strings; and who
    runs the client: ``run_as`` (a system account), ``collection`` (a software collection).
    """

    engine: str
    databases: Tuple[str, ...]
    target: str
    connection: Dict[str, str] = field(default_factory=dict)
    origin: str = ""


@frozen
class OwnerFix:
    """Ownership the slave must restore on synced paths (names resolved on the slave)."""

    owner: str
    group: str
    paths: Tuple[str, ...]
    recursive: bool = False
    optional: bool = False
    pattern: str = ""  # a glob of file names inside each path, e.g. "*.svbin"; empty = the path itself
    origin: str = ""


@frozen
class PromoteStep:
    """One step of promotion contributed by a rule.

    kind ``restore``: engine + databases, their dump files and the connection of the dump
    that made them (the same server settings the master dumped with; the dump of the
    step's own rule when it has one); ``restart``: arguments = service names; ``run``:
    arguments = argv of a host program. ``optional``: a failure is reported (promotion's
    summary, ``hotsync status``) and promotion goes on.
    """

    kind: str
    engine: str = ""
    databases: Tuple[str, ...] = ()
    dump_targets: Tuple[str, ...] = ()
    arguments: Tuple[str, ...] = ()
    origin: str = ""
    connection: Dict[str, str] = field(default_factory=dict)
    optional: bool = False


@frozen
class Action:
    """A host program (argv) the master runs before each push, and where the rule names it.

    Its failure is a warning: the push still runs, carrying what the program last made.
    """

    arguments: Tuple[str, ...]
    origin: str = ""


@frozen
class Rule:
    """A resolved rule: active when every condition holds at run time."""

    name: str
    origin: str
    conditions: Tuple[Condition, ...] = ()
    include: Tuple[PathEntry, ...] = ()
    exclude: Tuple[PathEntry, ...] = ()
    unexclude: Tuple[PathEntry, ...] = ()
    include_lists: Tuple[PathEntry, ...] = ()  # globs of list files, one path per line
    exclude_lists: Tuple[PathEntry, ...] = ()
    dumps: Tuple[Dump, ...] = ()
    owners: Tuple[OwnerFix, ...] = ()
    promote: Tuple[PromoteStep, ...] = ()
    warnings: Tuple[str, ...] = ()
    before_push: Tuple[Action, ...] = ()


@frozen
class Transport:
    """How the master reaches the slave's rsync daemon through the tunnel.

    On the master the local stunnel client listens on 127.0.0.1:``rsync_port`` and connects
    to ``slave_host``:``tunnel_port``; on the slave stunnel listens on ``tunnel_port`` and
    forwards to the rsync daemon on 127.0.0.1:``rsync_port``.

    ``auth`` is how both ends prove they know the password, ``psk`` or ``certificate`` (see
    ``compiler/tunnel_auth.py``), chosen for the installed stunnel (``Plan.tools``) or by the
    admin, as ``auth_chosen_by`` says.
    """

    tunnel_port: int = 273
    rsync_port: int = 873
    user: str = "hotsyncuser"
    module: str = "hotsync"
    password_file: str = paths.RSYNC_PASSWORD  # 0600, the password alone (rsync --password-file)
    psk_file: str = paths.STUNNEL_PSK  # 0600, stunnel PSKsecrets
    auth: str = "psk"
    auth_chosen_by: str = ""
    certificate_file: str = paths.STUNNEL_CERTIFICATE  # 0600, the derived certificate (cert, CAfile)
    key_file: str = paths.STUNNEL_KEY  # 0600, its private key


@frozen
class Limits:
    max_delete_percent: int = 20
    max_rewrite_percent: int = 30  # the brake pauses a push rewriting more of the slave's files
    io_timeout: int = 600
    plugin_timeout: int = 60
    bwlimit: int = 0  # KiB/s a push may send (rsync --bwlimit); 0: no cap


@frozen
class Health:
    """How fresh the copy must be, where its metrics go, what a promotion needs free on disk."""

    freshness_warning: int = 1350  # seconds without a complete push: late
    freshness_critical: int = 5400  # stale: alert, and a promotion would restore old data
    metrics_dir: str = paths.METRICS_FOLDER  # empty: no metrics file
    min_free_mib: int = 1024


# How long the slave keeps restore points, in seconds: every point, then one an hour, one a
# day, one a week (runtime/points.py); the default is 2 hours, 2 days, 14 days, 8 weeks.
DEFAULT_RESTORE_POINTS_KEEP = (2 * 3600, 2 * 86400, 14 * 86400, 8 * 7 * 86400)
DEFAULT_RESTORE_POINTS_FREE_PERCENT = 10


@frozen
class Plan:
    version: int
    source_hash: str
    role: str  # "master", "slave" or "" (no role)
    enabled: bool
    databases_enabled: bool
    slave_host: str = ""
    master_host: str = ""
    schedules: Dict[str, str] = field(default_factory=dict)  # job -> cron expression
    compress: bool = False
    mode: str = "interval"  # "continuous": the master runs the hotsync-watch service as well
    restore_points: bool = True  # the slave keeps each push's replaced versions (runtime/points.py)
    restore_points_keep: Tuple[int, ...] = DEFAULT_RESTORE_POINTS_KEEP
    restore_points_free_percent: int = DEFAULT_RESTORE_POINTS_FREE_PERCENT  # pruned to keep this much free
    transport: Transport = field(default_factory=Transport)
    limits: Limits = field(default_factory=Limits)
    plugin_dir: str = paths.PLUGIN_FOLDER
    notify: str = ""  # mail recipient for failures; empty = stderr only
    rules: Tuple[Rule, ...] = ()
    # The tools' versions on the host compiled for: the runtime chooses their options from these.
    tools: ToolVersions = field(default_factory=ToolVersions)
    health: Health = field(default_factory=Health)


def plan_to_json(plan: Plan) -> str:
    """The plan as stable, human-readable JSON."""
    return json.dumps(asdict(plan), indent=2, sort_keys=True) + "\n"


def plan_from_json(text: str) -> Plan:
    """Read a plan written by ``plan_to_json``; refuses another version."""
    data = json.loads(text)
    if data.get("version") != PLAN_VERSION:
        raise HotsyncError(
            f"the compiled plan has version {data.get('version')!r}, this HotSync reads "
            f"version {PLAN_VERSION}: run 'signal-event nethserver-hotsync-update' to recompile"
        )
    return _build(Plan, data)


def load_plan(root: Root) -> Plan:
    """The root's compiled plan; a clear error when there is none yet or it is unreadable."""
    path = root.path(PLAN_PATH)
    try:
        return plan_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HotsyncError(
            f"no compiled plan at {PLAN_PATH}: run 'signal-event nethserver-hotsync-update' first"
        ) from None
    except (ValueError, TypeError, KeyError) as error:
        raise HotsyncError(f"{PLAN_PATH} is damaged ({error}): run 'hotsync compile' to rebuild it") from None


def save_plan(root: Root, plan: Plan) -> None:
    write_file_atomic(root.path(PLAN_PATH), plan_to_json(plan), mode=0o644)


def _build(kind, data: Any):
    """Rebuild a frozen class (with nested frozen classes and tuples) from JSON data."""
    return kind(**{name: convert(data[name]) for name, convert in _field_converters(kind) if name in data})


@functools.lru_cache(maxsize=None)
def _field_converters(kind) -> Tuple[Tuple[str, Callable[[Any], Any]], ...]:
    """Each field's name and the function turning its JSON value back into it, worked out once
    per class: every sync reads the plan, and inspecting type hints is the slow part of that."""
    hints = get_type_hints(kind)
    return tuple((item.name, _converter(hints[item.name])) for item in fields(kind))


def _converter(annotation: Any) -> Callable[[Any], Any]:
    if is_frozen(annotation):
        return functools.partial(_build, annotation)
    item_type = _tuple_item_type(annotation)
    if item_type is None:
        return _unchanged
    if is_frozen(item_type) or _tuple_item_type(item_type) is not None:
        convert_item = _converter(item_type)
        return lambda value: tuple(convert_item(item) for item in value)
    return tuple


def _tuple_item_type(annotation: Any) -> Optional[Any]:
    """``X`` for ``Tuple[X, ...]``, None for any other annotation.

    Read from ``__origin__`` and ``__args__``, which Python 3.6's typing has too
    (``typing.get_origin`` is 3.8): there the origin is ``typing.Tuple``, later ``tuple``.
    """
    if getattr(annotation, "__origin__", None) not in (tuple, Tuple):
        return None
    arguments = getattr(annotation, "__args__", None) or ()
    return arguments[0] if arguments else None


def _unchanged(value: Any) -> Any:
    return value
