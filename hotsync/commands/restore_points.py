"""``hotsync restore-points [--json]``: the restore points this slave keeps, oldest first.

Each line: the point's time (UTC), the files its push added, changed and removed, and the
size of the replaced versions it keeps. Works without the master.
"""

import json
from typing import List

from ..errors import EXIT_OK
from ..root import Root
from ..runtime.points import list_points
from .parsing import CommandParser


def build_parser() -> CommandParser:
    parser = CommandParser("restore-points", description="List the restore points this slave keeps, one per push.")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of text")
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    points = [point.describe() for point in list_points(root)]
    if options.json:
        print(json.dumps(points, indent=2, sort_keys=True))
        return EXIT_OK
    if not points:
        print("no restore point (the slave makes one per push from a master with RestorePoints enabled)")
        return EXIT_OK
    for point in points:
        incomplete = "" if point["complete"] else "  (push incomplete)"
        print(f"{point['time']}  {point['added']} added, {point['changed']} changed, {point['removed']} removed, "
              f"{point['size']} bytes kept{incomplete}")
    return EXIT_OK
