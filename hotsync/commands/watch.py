"""``hotsync watch [--settle SECONDS]``: the continuous push, until stopped.

Runs on the master as a service when ``config setprop hotsync Mode continuous``; a full push
runs first, then each change under the includes reaches the slave within about a second
(see ``hotsync/runtime/watch.py``). SIGTERM ends it (exit 143).
"""

from typing import List

from ..errors import EXIT_OK, UsageError
from ..plan import load_plan
from ..root import Root
from ..runtime.sync import check_plan_can_sync, run_sync
from ..runtime.watch import SETTLE_SECONDS, run_watch
from .parsing import CommandParser

DESCRIPTION = """Push each change under the includes to the slave as it happens (inotify),
after a full push; runs until stopped. The scheduled full push still runs from cron."""


def build_parser() -> CommandParser:
    parser = CommandParser("watch", description=DESCRIPTION)
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                        help=f"seconds of quiet before a batch goes out (default {SETTLE_SECONDS})")
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    if not 0 < options.settle <= 60:
        raise UsageError("--settle takes seconds from 0 to 60")
    plan = load_plan(root)
    check_plan_can_sync(plan)
    run_watch(root, plan, lambda starting: run_sync(root, plan, quiet_unreached=starting), settle=options.settle)
    return EXIT_OK
