"""``dashboard/read``: what ``hotsync status`` says, with the freshness of the copy, readiness,
the daemons' and the background jobs' states.

The age comes from the same record the command reads (the master's last run, the slave's
marker), and is given in seconds and in words; ``freshness.state`` (ok, warning, critical,
unknown) is what the page colours it by.
"""

import time
from datetime import datetime
from typing import Any

from ..commands.status import collect_status, describe_age
from ..compiler.settings import ROLE_SCHEDULES
from ..errors import HotsyncError
from ..host import SERVICE_NAMES, host_for
from ..plan import load_plan
from ..root import Root
from ..runtime.schedule import next_run
from ..runtime.status import assess_health
from . import Request, Response
from .settings import ACTIONS

DAY_SECONDS = 86400


def read(root: Root, request: Request) -> Response:
    now = time.time()
    report = collect_status(root, now)
    age = report.get("age_seconds")
    report["age_words"] = describe_age(age) if age is not None else "never"
    report.update(assess_health(age, push_interval_seconds(_sync_schedule(root))))
    host = host_for(root)
    report["daemons"] = {name: _service_running(host, name) for name in SERVICE_NAMES}
    report["jobs"] = {action: host.job_running(job) for action, (_, job, _) in ACTIONS.items()}
    return report


def _sync_schedule(root: Root) -> str:
    """The master's push schedule; a slave assumes the shipped one (it cannot see the master's)."""
    try:
        schedule = load_plan(root).schedules.get("sync")
    except HotsyncError:
        schedule = None
    return schedule or ROLE_SCHEDULES["master"]["sync"]


def push_interval_seconds(expression: str) -> int:
    """The longest gap between two runs of cron ``expression`` over a day."""
    moment = datetime(2000, 1, 3)  # a Monday at midnight: one day covers any hourly pattern
    longest, end = 0, moment.timestamp() + DAY_SECONDS
    while moment.timestamp() < end:
        upcoming = next_run(expression, moment)
        if upcoming is None:
            return DAY_SECONDS
        longest = max(longest, int(upcoming.timestamp() - moment.timestamp()))
        moment = upcoming
    return longest


def _service_running(host, name: str) -> Any:
    try:
        return host.service_status(name).running
    except HotsyncError:
        return None
