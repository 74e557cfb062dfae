"""``hotsync``, ``hotsync sync [--dry-run] [--force-delete] [--force]``: one push from the master to the slave.

Exit 0 when the run succeeded, or when another run was already going (quietly, so
frequent cron runs never mail); 1 when anything failed (each problem on stderr); 3 when
the brake paused the push (a suspected mass change: nothing was sent); 143
when SIGTERM stopped it (a failed run too: recorded, mailed, its rsync stopped).
"""

import sys
from typing import List

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_PAUSED
from ..plan import load_plan
from ..root import Root
from ..runtime.push import COMPLETED_EXITS, progress_wanted
from ..runtime.sync import SyncResult, run_sync, summarize
from .parsing import CommandParser

DESCRIPTION = """Push this master's data to the slave now, through the tunnel.
Makes the database dumps and the configuration backup, then one rsync transfer.
A run while another is going ends at once, quietly, with exit 0."""


def build_parser() -> CommandParser:
    parser = CommandParser("sync", description=DESCRIPTION)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would change on the slave; makes no dump, no backup, no status, "
        "and changes nothing on either host (plugins still run, with HOTSYNC_DRY_RUN=1)",
    )
    parser.add_argument(
        "--force-delete",
        action="store_true",
        help="for this run only, let deletions through the delete guard (emptied folders, many deletions)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="for this run only, push even what the brake paused as a suspected mass change "
        "(and let deletions through the delete guard)",
    )
    return parser


def main(root: Root, argv: List[str]) -> int:
    options = build_parser().parse_args(argv)
    plan = load_plan(root)
    progress = sys.stderr if (progress_wanted() and not options.dry_run) else None
    result = run_sync(root, plan, dry_run=options.dry_run, force_delete=options.force_delete,
                      progress_stream=progress, force=options.force)
    if result.outcome == "overlapping":
        return EXIT_OK
    report(result, options.dry_run)
    if result.outcome == "paused":
        return EXIT_PAUSED
    return EXIT_OK if result.ok else EXIT_FAILURE


def report(result: SyncResult, dry_run: bool) -> None:
    """Changes and summary on stdout, warnings on stdout, errors on stderr (cron mails those)."""
    if dry_run and result.record.get("rsync_exit") not in COMPLETED_EXITS:
        print("dry run: the slave could not be asked what would change (see the error); nothing was changed")
    elif dry_run:
        for change in result.changes:
            print(change)
        print(f"dry run: {len(result.changes)} change(s) would be made on the slave; nothing was changed")
    else:
        print(summarize(result.record))
    for warning in result.warnings:
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"hotsync: {error}", file=sys.stderr)
