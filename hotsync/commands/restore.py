"""``hotsync restore PATH --at TIME [--to DIR] [--dry-run]``: a file or folder as it was at a point.

On the slave, without the master: the last restore point made at or before TIME gives the
state; in place (files the point did not have are removed under PATH) or into DIR.
"""

from pathlib import Path
from typing import List

from ..errors import EXIT_OK, HotsyncError
from ..root import Root
from ..runtime.points import point_for, restore
from .parsing import CommandParser

DESCRIPTION = """Bring back a file or folder as it was at a restore point (see 'hotsync restore-points').
TIME: 2026-12-01T20:15:00Z, 2026-12-01T20:15 (UTC), a point's name, or epoch seconds."""


def build_parser() -> CommandParser:
    parser = CommandParser("restore", description=DESCRIPTION)
    parser.add_argument("path", metavar="PATH", help="the host path of a file or folder")
    parser.add_argument("--at", required=True, metavar="TIME", help="the time to go back to")
    parser.add_argument("--to", metavar="DIR", help="write the files under DIR instead of in place")
    parser.add_argument("--dry-run", action="store_true", help="say what would be restored or removed; change nothing")
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    if not options.path.startswith("/"):
        raise HotsyncError(f"{options.path!r} is not an absolute host path")
    target = point_for(root, options.at)
    to = Path(options.to).resolve() if options.to else None
    actions = restore(root, target, options.path, to, options.dry_run)
    for action in actions:
        print(("would " if options.dry_run else "") + action)
    verb = "would restore" if options.dry_run else "restored"
    print(f"{verb} {options.path} as it was at {target.describe()['time']}: {len(actions)} change(s)")
    return EXIT_OK
