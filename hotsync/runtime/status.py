"""Where a run leaves its traces: the JSON status, ``LastSyncTS``, the log and the slave's marker.

* ``/var/lib/nethserver/hotsync/status.json``: the last run on this master (replaced atomically).
* ``/var/run/nethserver-hotsync/LastSyncTS``: epoch seconds of the last success, as the original.
* ``/var/log/hotsync.log``: one line per run, appended.
* ``/var/lib/nethserver/hotsync/upkeep.json``: on the slave, the last upkeep or fixperm run
  (its warnings and failures, for ``hotsync status``).
* ``/var/lib/nethserver/hotsync/slave-marker.json``: on the slave, written by the slave's
  own rsync daemon once a push has ended (its ``post-xfer exec``, ``hotsync-slave
  stamp-marker``), so the slave itself knows how old its copy is. Being written by the
  receiving side after the whole transfer, deletions included, it cannot claim more than
  arrived, and it costs the master no second connection.

None of them ever holds a secret.
"""

import json
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ..digits import ascii_number
from ..errors import HotsyncError
from ..files import append_to_log, write_file_atomic
from ..paths import LOG_PATH, RUN_FOLDER, STATE_FOLDER
from ..plan import Plan, load_plan
from ..root import Root

STATUS_PATH = f"{STATE_FOLDER}/status.json"
MARKER_PATH = f"{STATE_FOLDER}/slave-marker.json"
UPKEEP_PATH = f"{STATE_FOLDER}/upkeep.json"  # the slave's last upkeep or fixperm
LAST_SYNC_PATH = f"{RUN_FOLDER}/LastSyncTS"


def read_status(root: Root) -> Dict[str, Any]:
    """The last run's record; empty when there is none or it cannot be read."""
    return _read_json(root, STATUS_PATH)


def read_upkeep(root: Root) -> Dict[str, Any]:
    """The record of the slave's last upkeep or fixperm run; empty when none ran yet."""
    return _read_json(root, UPKEEP_PATH)


def read_marker(root: Root) -> Dict[str, Any]:
    """The marker the master pushed last (on a slave); empty when none arrived yet."""
    return _read_json(root, MARKER_PATH)


# The status and LastSyncTS are replaced atomically but not fsynced: a power cut may bring
# back the previous run's record, which the next run replaces, and two fsyncs each would
# cost every run tens of milliseconds on a busy disk.


def write_status(root: Root, record: Dict[str, Any]) -> None:
    write_file_atomic(root.path(STATUS_PATH), render_json(record), mode=0o644, durable=False)


def write_last_sync(root: Root, epoch: float) -> None:
    write_file_atomic(root.path(LAST_SYNC_PATH), f"{int(epoch)}\n", mode=0o644, durable=False)


def render_json(record: Dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def append_log(root: Root, line: str) -> None:
    """Append one line, after the time, to the run log."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    append_to_log(root.path(LOG_PATH), f"{stamp} {line}\n")


# rsync exits after which the slave holds every file of the master: 24, files that vanished
# on the master during the run; 25, deletions held back by the delete guard (extra files).
COMPLETE_PUSH_EXITS = (0, 24, 25)
# rsync's exits when the daemon refused the client's request before the transfer: 1, a
# download or a listing (the modules are write only); 4, a refused option or a push the
# fence refused. No file changed, and a download is no push: such a connection leaves the
# marker as it was. (rsync's post-xfer exec learns only the exit, not the direction.)
REFUSED_REQUEST_EXITS = (1, 4)


def stamp_marker(root: Root, master_host: str, rsync_exit: int, now: float,
                 before_writing: Optional[Callable[[Dict[str, Any]], object]] = None) -> Dict[str, Any]:
    """Record on the slave how the push that just ended went; returns the marker written.

    A failed push keeps the previous success: the marker's ``last_success`` is always the
    age of a complete copy. ``before_writing(marker)`` runs just before the marker is
    written (the metrics: whoever waits for the marker then finds them written too).
    """
    previous = read_marker(root)
    complete = rsync_exit in COMPLETE_PUSH_EXITS
    last_success = now if complete else previous.get("last_success_epoch")
    marker = {
        "master_host": master_host,
        "finished": iso_time(now),
        "finished_epoch": int(now),
        "result": "ok" if complete else "failed",
        "rsync_exit": rsync_exit,
        "error": "" if complete else f"the last push from the master did not complete (rsync exit {rsync_exit})",
        "last_success_epoch": int(last_success) if last_success else None,
        "last_success": iso_time(last_success) if last_success else None,
        "failures_total": stored_count(previous.get("failures_total")) + (0 if complete else 1),
    }
    if before_writing is not None:
        before_writing(marker)
    write_file_atomic(root.path(MARKER_PATH), render_json(marker), mode=0o644, durable=False)
    return marker


def stamp_marker_command(root: Root, environment: Mapping[str, str] = os.environ) -> int:
    """``post-xfer exec`` of the slave's rsync module: stamp the marker for the push that ended.

    rsync gives the receiving side's exit code in ``RSYNC_EXIT_STATUS`` (files the master
    could not read are the master's to report, in its status and mail); a request the
    daemon refused (``REFUSED_REQUEST_EXITS``) stamps nothing. Always exits 0 and never
    prints: the master has already gone, and a problem here is the slave's to log.
    """
    text = environment.get("RSYNC_EXIT_STATUS", "")
    number = ascii_number(text, 3)
    rsync_exit = number if number is not None else -1
    transfer = ascii_number(environment.get("RSYNC_PID", ""))
    if rsync_exit in REFUSED_REQUEST_EXITS:
        return 0  # its note of a running transfer goes with its process (see sealing)
    from .metrics import write_metrics  # metrics reads this module

    now = time.time()
    try:
        stamp_marker(root, _master_host(root), rsync_exit, now,
                     lambda marker: write_metrics(root, now=now, check_readiness=False, record=marker))
    except Exception as error:  # noqa: BLE001 - whatever it is, the log is the only place to say it
        _log_quietly(root, f"could not write the sync marker: {error}")
    try:
        from .sealing import seal_point  # the restore point of this push (when its master made one)

        seal_point(root, rsync_exit, now, *_retention(root), transfer=transfer)
    except Exception as error:  # noqa: BLE001 - as above
        _log_quietly(root, f"could not make the restore point: {error}")
    return 0


def _log_quietly(root: Root, text: str) -> None:
    try:
        append_log(root, text)
    except OSError:
        pass


def _retention(root: Root) -> Tuple[Tuple[Tuple[int, int], ...], int]:
    """The slave's retention grid and free-space floor from its plan; without a plan, the defaults."""
    from .points import DEFAULT_GRID, FREE_SPACE_FLOOR_PERCENT, grid_of

    try:
        plan = load_plan(root)
    except HotsyncError:
        return DEFAULT_GRID, FREE_SPACE_FLOOR_PERCENT
    return grid_of(plan.restore_points_keep), plan.restore_points_free_percent


def _master_host(root: Root) -> str:
    try:
        return load_plan(root).master_host
    except HotsyncError:
        return ""


def stored_count(value: Any) -> int:
    """A count read back from a record: 0 unless a non-negative whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def iso_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def _read_json(root: Root, host_path: str) -> Dict[str, Any]:
    try:
        data = json.loads(root.path(host_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def assess_health(root: Root, now: float, plan: Optional[Plan] = None, check_readiness: bool = True,
                  record: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """This host's health, the one answer ``hotsync status``, the metrics, the web API and the
    slave's quarter-hourly check all give: ``freshness`` (state ok, warning, critical or
    unknown; the age; the thresholds; a sentence), ``readiness`` (on a slave: whether a
    promotion would succeed now, and why), ``restore_points`` (none kept yet) and
    ``continuous`` (on a master that ran ``hotsync watch``: running, backlog, and the age of
    the oldest change not yet on the slave, ``rpo_seconds``).

    ``check_readiness`` False takes the readiness the last quarter-hourly check found (the
    slave's rsync daemon after a push has no time to read the packages again); ``record``
    is the run's record (the master's status, the slave's marker) when not yet written.
    """
    from .health import Freshness, assess_freshness, assess_readiness, plan_epoch, read_last_check
    from .watch import continuous_report

    if plan is None:
        try:
            plan = load_plan(root)
        except HotsyncError as error:
            unknown = Freshness("unknown", None, 0, 0, str(error))
            return {"freshness": unknown.as_dict(), "readiness": {"known": False, "ready": None, "reasons": [],
                                                                  "checks": [], "dumps": []}, "restore_points": [],
                    "continuous": continuous_report(root, now)}
    if record is None:
        record = read_marker(root) if plan.role == "slave" else read_status(root)
    last_success = record.get("last_success_epoch")
    freshness = assess_freshness(plan, last_success if isinstance(last_success, (int, float)) else None,
                                 plan_epoch(root), now)
    return {
        "freshness": freshness.as_dict(),
        "readiness": (assess_readiness(root, plan, freshness, now) if check_readiness
                      else read_last_check(root).get("readiness") or assess_readiness(root, plan, freshness, now)),
        "restore_points": [],
        "continuous": continuous_report(root, now) if plan.role == "master" else {},
    }
