"""``hotsync signal-event EVENT [ARGS...]``: run an e-smith event's handlers."""

import argparse
from typing import List

from ..errors import HotsyncError
from ..nethserver.events import EVENTS_FOLDER, EVENTS_LOG, run_event
from ..root import Root
from .parsing import CommandParser

DESCRIPTION = f"""Run the executable files of ROOT{EVENTS_FOLDER}/EVENT/ sorted by name, each as
'handler EVENT ARGS...', plus NethServer's template expansion at S05 (when
templates2expand/ exists) and service adjustment at S90 (when services2adjust/ exists),
as NethServer's signal-event does. Every handler runs even after a failure; services are
left as they are when the configuration did not compile. Output and elapsed time of
each go to ROOT{EVENTS_LOG}.
Exit 0 when all succeeded, 1 when any failed or the event does not exist."""


def build_parser() -> CommandParser:
    parser = CommandParser("signal-event", description=DESCRIPTION)
    parser.add_argument("event", help="the event's name, e.g. nethserver-hotsync-save")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="passed to every handler after EVENT")
    return parser


def main(root: Root, argv: List[str]) -> int:
    arguments = build_parser().parse_args(argv)
    result = run_event(root, arguments.event, arguments.arguments)
    if not result.ok:
        raise HotsyncError(
            f"event {result.event} failed: {', '.join(result.failed_steps)} "
            f"(see {root.path(EVENTS_LOG)})"
        )
    return 0
