"""This host's HotSync metrics in Prometheus' text format, for node_exporter's textfile collector.

Written after each run (the master's sync, the slave's rsync daemon after a push, the slave's
quarter-hourly check; on a master in continuous mode, ``hotsync watch`` as its backlog changes)
to ``hotsync.prom`` in the plan's ``metrics_dir``, replaced atomically (the collector reads
only ``*.prom`` files, never the temporary one), and printed by
``hotsync status --prometheus``. Every value comes from the run's record and from
``status.assess_health``, as ``hotsync status`` shows them.
"""

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import HotsyncError
from ..files import write_file_atomic
from ..paths import METRICS_FILE_NAME
from ..plan import Plan, load_plan
from ..root import Root
from .health import FRESHNESS_STATES
from .status import append_log, assess_health, read_marker, read_status

Sample = Tuple[Dict[str, str], float]


def render_metrics(plan: Plan, record: Dict[str, Any], health: Dict[str, Any]) -> str:
    """The metrics of ``record`` (the master's last run, or the slave's marker) and ``health``."""
    lines: List[str] = []

    def family(name: str, kind: str, text: str, samples: List[Sample]) -> None:
        if not samples:
            return
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)

    peer = plan.slave_host if plan.role == "master" else plan.master_host
    family("hotsync_info", "gauge", "This host's HotSync role and peer.",
           [({"role": plan.role or "none", "peer": peer or "", "enabled": "yes" if plan.enabled else "no"}, 1)])
    freshness = health["freshness"]
    family("hotsync_last_success_timestamp_seconds", "gauge", "When the last complete push ended (epoch).",
           _present(record.get("last_success_epoch")))
    family("hotsync_data_age_seconds", "gauge", "Age of the slave's copy: seconds since the last complete push.",
           _present(freshness.get("age_seconds") if record.get("last_success_epoch") else None))
    family("hotsync_last_run_timestamp_seconds", "gauge", "When the last run ended (epoch).",
           _present(record.get("finished_epoch")))
    result = record.get("result")
    family("hotsync_last_run_success", "gauge", "1 when the last run succeeded, 0 when it failed.",
           [({}, 1 if result == "ok" else 0)] if result else [])
    family("hotsync_last_run_duration_seconds", "gauge", "How long the last run took.",
           _present(record.get("duration_seconds")))
    family("hotsync_last_run_sent_bytes", "gauge", "Bytes the last push sent through the tunnel.",
           _present(record.get("bytes_sent")))
    family("hotsync_last_run_files_transferred", "gauge", "Files the last push sent.",
           _present(record.get("files_transferred")))
    family("hotsync_last_run_files_deleted", "gauge", "Files the last push deleted on the slave.",
           _present(record.get("files_deleted")))
    family("hotsync_failures_total", "counter", "Failed runs (pushes, on a slave) since HotSync was installed.",
           [({}, int(record.get("failures_total") or 0))] if plan.role in ("master", "slave") else [])
    family("hotsync_freshness", "gauge", "The copy's freshness: 1 for the current state.",
           [({"state": state}, 1 if freshness["state"] == state else 0) for state in FRESHNESS_STATES])
    family("hotsync_freshness_threshold_seconds", "gauge", "Age after which the copy is late (warning) or stale.",
           [({"level": "warning"}, freshness["warning_after_seconds"]),
            ({"level": "critical"}, freshness["critical_after_seconds"])] if plan.role else [])
    readiness = health["readiness"]
    if readiness.get("known"):
        family("hotsync_ready_to_promote", "gauge", "1 when a promotion of this slave would succeed now.",
               [({}, 1 if readiness["ready"] else 0)])
        family("hotsync_readiness_check", "gauge", "1 for each check a promotion needs that passes.",
               [({"check": check["name"]}, 1 if check["ok"] else 0) for check in readiness.get("checks", [])])
        dumps = [dump for dump in readiness.get("dumps") or [] if isinstance(dump, dict)]
        family("hotsync_dump_last_success_timestamp_seconds", "gauge",
               "When the master last made a good dump of a database a promotion would load (epoch).",
               [(_dump_labels(dump), dump["last_success_epoch"]) for dump in dumps
                if isinstance(dump.get("last_success_epoch"), int)])
        family("hotsync_dump_failing", "gauge",
               "1 when the master's last dump of a database a promotion would load failed.",
               [(_dump_labels(dump), 1 if dump.get("state") == "failing" else 0) for dump in dumps])
    if plan.role == "master":
        _continuous_families(family, plan, health.get("continuous") or {})
    return "\n".join(lines) + "\n"


def _dump_labels(dump: Dict[str, Any]) -> Dict[str, str]:
    return {"engine": str(dump.get("engine", "")), "database": str(dump.get("database", ""))}


def _continuous_families(family, plan: Plan, continuous: Dict[str, Any]) -> None:
    """The continuous push (``hotsync watch``), on a master in continuous mode or where it ran."""
    if plan.mode != "continuous" and not continuous:
        return
    family("hotsync_continuous_running", "gauge", "1 when the continuous push (hotsync watch) is running.",
           [({}, 1 if continuous.get("running") else 0)])
    family("hotsync_continuous_backlog", "gauge", "Changes seen by the continuous push and not yet on the slave.",
           _present(continuous.get("backlog")))
    family("hotsync_continuous_rpo_seconds", "gauge",
           "Age of the oldest change not yet on the slave (the recovery point; 0 when none waits).",
           _present(continuous.get("rpo_seconds")))


def collect_metrics(root: Root, plan: Plan, now: float, check_readiness: bool = True,
                    record: Optional[Dict[str, Any]] = None) -> str:
    """The metrics of this host now (``record``: the run's, when not yet written)."""
    if record is None:
        record = read_marker(root) if plan.role == "slave" else read_status(root)
    return render_metrics(plan, record, assess_health(root, now, plan, check_readiness, record))


def write_metrics(root: Root, plan: Optional[Plan] = None, now: Optional[float] = None,
                  check_readiness: bool = True, record: Optional[Dict[str, Any]] = None,
                  log_problem: bool = True) -> str:
    """Replace the metrics file; "" when written (or none is wanted), else why not (logged
    unless ``log_problem`` is False: the watch, which rewrites it often, tells a problem once).

    Never raises (a signal's ``Terminated`` is no ``HotsyncError`` and passes): metrics are
    worth less than the run that writes them.
    """
    try:
        plan = plan or load_plan(root)
        folder = plan.health.metrics_dir
        if not folder:
            return ""
        text = collect_metrics(root, plan, time.time() if now is None else now, check_readiness, record)
        write_file_atomic(root.path(folder) / METRICS_FILE_NAME, text, mode=0o644, durable=False)
    except (HotsyncError, OSError) as error:
        problem = f"could not write the metrics file: {error}"
        try:
            if log_problem:
                append_log(root, problem)
        except OSError:
            pass
        return problem
    return ""


def metrics_file(root: Root, plan: Plan) -> Optional[Path]:
    return root.path(plan.health.metrics_dir) / METRICS_FILE_NAME if plan.health.metrics_dir else None


def _present(value: Any) -> List[Sample]:
    return [({}, value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _labels(labels: Dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
