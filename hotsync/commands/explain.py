"""``hotsync explain PATH`` / ``hotsync explain --all``: why a path is (not) synced, from the plan."""

from ..errors import EXIT_OK, UsageError
from ..explain import build_effective_lists, explain_path, format_explanation, format_lists
from ..plan import load_plan
from .parsing import CommandParser


def build_parser() -> CommandParser:
    parser = CommandParser(
        "explain",
        description="Say whether PATH will be synced by the next push and why: the rule and the "
        "FILE:LINE:COL that include or exclude it, the unexclude that withdrew an exclusion, the "
        "condition that made a rule inactive. Reads the compiled plan and this host's packages and "
        "files now; changes nothing. Plugins may still change the lists at sync time.",
    )
    parser.add_argument("path", nargs="?", help="an absolute host path, e.g. /var/lib/asterisk/")
    parser.add_argument("--all", action="store_true", help="print the effective include and exclude lists with their origins")
    return parser


def main(root, argv) -> int:
    options = build_parser().parse_args(argv)
    if options.all == bool(options.path):
        raise UsageError("hotsync explain: give either PATH or --all")
    plan = load_plan(root)
    lists = build_effective_lists(root, plan)
    if options.all:
        print(format_lists(plan, lists), end="")
        return EXIT_OK
    try:
        explanation = explain_path(root, plan, options.path, lists)
    except ValueError as error:
        raise UsageError(f"hotsync explain: {error}") from None
    print(format_explanation(explanation), end="")
    return EXIT_OK
