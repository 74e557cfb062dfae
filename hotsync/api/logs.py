"""``logs/read``: the last lines of HotSync's log, ``/var/log/hotsync.log`` (it holds no secret)."""

from collections import deque

from ..paths import LOG_PATH
from ..root import Root
from . import NotValid, Request, Response, invalid

DEFAULT_LINES = 100
MAXIMUM_LINES = 5000


def read(root: Root, request: Request) -> Response:
    """``{"lines": N}`` (default 100) -> ``{"path": LOG_PATH, "lines": [...]}``, oldest first."""
    count = request.get("lines", DEFAULT_LINES)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAXIMUM_LINES:
        raise NotValid([invalid("lines", count, f"expected a whole number from 1 to {MAXIMUM_LINES}")])
    try:
        with open(str(root.path(LOG_PATH)), encoding="utf-8", errors="replace") as log:
            lines = [line.rstrip("\n") for line in deque(log, maxlen=count)]
    except FileNotFoundError:
        lines = []
    return {"path": LOG_PATH, "lines": lines}
