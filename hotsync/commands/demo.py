"""``hotsync demo [--keep]``: two sandbox hosts on loopback, sync, failure, promotion, report."""

from ..demo import run_demo
from .parsing import CommandParser


def main(root, argv) -> int:
    parser = CommandParser(
        "demo",
        description="Build two sandbox hosts in a temporary folder (no root needed), configure them with "
        "the admin's commands, sync office data, fail the master, promote the slave and report what "
        "arrived, the data's age (RPO) and the promotion's duration (RTO). The --root option is ignored.",
    )
    parser.add_argument("--keep", action="store_true", help="keep the two hosts afterwards, to explore them")
    options = parser.parse_args(argv)
    return run_demo(keep=options.keep)
