"""``dashboard/read``: what ``hotsync status`` says, with the freshness of the copy, readiness,
the daemons' and the background jobs' states.

The age comes from the same record the command reads (the master's last run, the slave's
marker), and is given in seconds and in words; ``freshness`` and ``readiness`` are what
``hotsync status`` shows, from ``runtime.status.assess_health``: ``freshness.state`` (ok,
warning, critical, unknown) is what the page colours it by.
"""

import time
from typing import Any

from ..commands.status import collect_status, describe_age
from ..errors import HotsyncError
from ..host import DAEMON_NAMES, host_for
from ..root import Root
from . import Request, Response
from .settings import ACTIONS


def read(root: Root, request: Request) -> Response:
    host = host_for(root)
    # The jobs before the record: a job seen ended has written its result by then.
    jobs = {action: host.job_running(job) for action, (_, job, _) in ACTIONS.items()}
    now = time.time()
    report = collect_status(root, now)
    age = report.get("age_seconds")
    report["age_words"] = describe_age(age) if age is not None else "never"
    report["daemons"] = {name: _service_running(host, name) for name in DAEMON_NAMES}
    report["jobs"] = jobs
    return report


def _service_running(host, name: str) -> Any:
    try:
        return host.service_status(name).running
    except HotsyncError:
        return None
