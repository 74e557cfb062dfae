"""HotSync's web API, NethServer's way: one call per executable, JSON in on stdin, JSON out.

NethServer's Cockpit runs ``/usr/libexec/nethserver/api/nethserver-hotsync/GROUP/VERB``
through sudo (``nethserver.exec``); each of those is a two-line script that runs
``hotsync api GROUP/VERB``, which lands in ``respond``. The answers:

* success: the call's own object, exit 0;
* bad input: ``{"type": "NotValid", "message": "validation_failed", "attributes":
  [{"parameter", "value", "error"}]}``, exit 1 (Cockpit shows each error beside its field);
* a failure: ``{"type": "Error", "message": TEXT}``, exit 1; a bug the same with exit 70,
  its traceback in ``/var/log/hotsync.log``.

No answer ever holds the rsync password (``settings/read`` says only whether one is set).
"""

import json
from typing import Any, Callable, Dict, List, Mapping, Tuple, Union

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_SOFTWARE, HotsyncError
from ..root import Root

Request = Mapping[str, Any]
Response = Dict[str, Any]


class NotValid(HotsyncError):
    """The request's values failed their checks: one attribute per wrong parameter."""

    def __init__(self, attributes: List[Dict[str, str]]):
        super().__init__("; ".join(f"{item['parameter']}: {item['error']}" for item in attributes))
        self.attributes = attributes


def invalid(parameter: str, value: Any, error: str) -> Dict[str, str]:
    """One NotValid attribute; ``value`` as the caller sent it (text), never a secret."""
    return {"parameter": parameter, "value": value if isinstance(value, str) else json.dumps(value), "error": error}


def _endpoints() -> Dict[str, Callable[[Root, Request], Response]]:
    from . import dashboard, logs, settings

    return {
        "dashboard/read": dashboard.read,
        "logs/read": logs.read,
        "settings/read": settings.read,
        "settings/validate": settings.validate,
        "settings/update": settings.update,
        "settings/execute": settings.execute,
    }


def endpoint_names() -> Tuple[str, ...]:
    """Every API call, ``GROUP/VERB``: one executable each."""
    return tuple(sorted(_endpoints()))


def respond(root: Root, name: str, request_text: Union[str, bytes]) -> Tuple[int, Response]:
    """Answer call ``name`` with the JSON ``request_text`` (empty: no input); returns the
    exit code and the object to print. Never raises: a bug is answered, and logged."""
    try:
        endpoint = _endpoints().get(name)
        if endpoint is None:
            return EXIT_FAILURE, _error(f"unknown API call '{name}' (expected one of: {', '.join(endpoint_names())})")
        return EXIT_OK, endpoint(root, _parse_request(request_text))
    except NotValid as error:
        return EXIT_FAILURE, {"type": "NotValid", "message": "validation_failed", "attributes": error.attributes}
    except HotsyncError as error:
        return EXIT_FAILURE, _error(str(error))
    except Exception as error:  # noqa: BLE001 - a bug: the caller gets JSON, the log the traceback
        from ..runtime.failure import log_bug

        return EXIT_SOFTWARE, _error(log_bug(root, f"'hotsync api {name}'", error))


def _parse_request(request: Union[str, bytes]) -> Dict[str, Any]:
    try:
        text = request.decode("utf-8") if isinstance(request, bytes) else request
    except UnicodeDecodeError:
        raise HotsyncError("the request is not UTF-8 text") from None
    if not text.strip():
        return {}
    try:
        request = json.loads(text)
    except ValueError as error:
        raise HotsyncError(f"the request is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise HotsyncError("the request must be a JSON object")
    return request


def _error(message: str) -> Response:
    return {"type": "Error", "message": message}
