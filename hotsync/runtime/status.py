"""Where a run leaves its traces: the JSON status, ``LastSyncTS``, the log and the slave's marker.

* ``/var/lib/nethserver/hotsync/status.json``: the last run on this master (replaced atomically).
* ``/var/run/nethserver-hotsync/LastSyncTS``: epoch seconds of the last success, as the original.
* ``/var/log/hotsync.log``: one line per run, appended.
* ``/var/lib/nethserver/hotsync/slave-marker.json``: on the slave, pushed after the main
  transfer, so the slave itself knows how old its copy is.

None of them ever holds a secret.
"""

import json
import os
import time
from typing import Any, Dict

from ..files import write_file_atomic
from ..root import Root

STATUS_FOLDER = "/var/lib/nethserver/hotsync"
STATUS_PATH = f"{STATUS_FOLDER}/status.json"
MARKER_PATH = f"{STATUS_FOLDER}/slave-marker.json"
LAST_SYNC_PATH = "/var/run/nethserver-hotsync/LastSyncTS"
LOG_PATH = "/var/log/hotsync.log"


def read_status(root: Root) -> Dict[str, Any]:
    """The last run's record; empty when there is none or it cannot be read."""
    return _read_json(root, STATUS_PATH)


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
    """Append one line to the run log.

    A log grows by appending, which ``write_file_atomic`` cannot do; a single ``write`` on
    an ``O_APPEND`` descriptor keeps concurrent lines whole.
    """
    path = root.path(LOG_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data = f"{stamp} {line}\n".encode("utf-8", "replace")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


def _read_json(root: Root, host_path: str) -> Dict[str, Any]:
    try:
        data = json.loads(root.path(host_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
