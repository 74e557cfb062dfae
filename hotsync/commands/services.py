"""``hotsync services status|start|stop|restart [NAME]``: the two daemons HotSync relies on,
and the master's continuous push (``hotsync-watch``) when named."""

from typing import Callable, Dict, List

from ..errors import HotsyncError
from ..host import DAEMON_NAMES, SERVICE_NAMES, Host, ServiceError, ServiceStatus, host_for
from ..root import Root
from .parsing import CommandParser

_ACTIONS: Dict[str, Callable[[Host, str], ServiceStatus]] = {
    "status": lambda host, name: host.service_status(name),
    "start": lambda host, name: host.start_service(name),
    "stop": lambda host, name: host.stop_service(name),
    "restart": lambda host, name: host.restart_service(name),
}

DESCRIPTION = """Show, start, stop or restart stunnel and rsyncd (both when NAME is omitted),
or hotsync-watch, the master's continuous push (see 'hotsync watch').
Under the root / this drives systemd; under a sandbox root (--root DIR) a small
supervisor runs the real daemons with DIR's generated configuration files and
keeps their pid files in DIR/var/run/. Each service's state is printed after the
action. Exit 1 if any service failed (its own message is shown)."""


def build_parser() -> CommandParser:
    parser = CommandParser("services", description=DESCRIPTION)
    parser.add_argument("action", choices=sorted(_ACTIONS), help="what to do")
    parser.add_argument("name", nargs="?", choices=SERVICE_NAMES, help="one service (default: stunnel and rsyncd)")
    return parser


def main(root: Root, argv: List[str]) -> int:
    """Apply the action to each named service, carry on after a failure, raise one error at the end."""
    arguments = build_parser().parse_args(argv)
    names = [arguments.name] if arguments.name else list(DAEMON_NAMES)
    host = host_for(root)
    failures = []
    for name in names:
        try:
            state = _ACTIONS[arguments.action](host, name)
        except HotsyncError as error:
            failures.append(str(error))
            continue
        print(state.describe(), flush=True)
    if failures:
        raise ServiceError("\n".join(failures))
    return 0
