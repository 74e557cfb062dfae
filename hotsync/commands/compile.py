"""``hotsync compile [--check] [--diff] [--json]``: rules + settings -> plan and configuration files."""

import json
import sys

from ..compiler import HostCommands, compile_root
from ..compiler.apply import find_changes, format_diff, plan_output, write_changes
from ..errors import EXIT_FAILURE, EXIT_OK
from ..host import host_for
from ..nethserver.esmith import database_path, read_database, report_warnings
from ..root import Root
from ..tool_versions import probe_tool_versions
from .parsing import CommandParser


def build_parser() -> CommandParser:
    parser = CommandParser(
        "compile",
        description="Read the HotSync rule files and the configuration database, write the plan and "
        "every generated file (only those that change). Nothing is written when anything is invalid.",
    )
    parser.add_argument("--check", action="store_true",
                        help="validate and render in memory, list what would change; write nothing, restart nothing")
    parser.add_argument("--diff", action="store_true", help="show unified diffs against the files on disk")
    parser.add_argument("--json", action="store_true", help="print the diagnostics and changes as JSON")
    parser.add_argument("--quiet", action="store_true", help="print nothing when all is well")
    return parser


def host_commands(root: Root) -> HostCommands:
    """What the generated files say about ``root``'s host, from the platform seam."""
    host = host_for(root)
    return HostCommands(hotsync=host.scheduled_command("hotsync"),
                        hotsync_slave=host.scheduled_command("hotsync-slave"),
                        switch_to_root=host.daemon_may_switch_to_root())


def main(root, argv) -> int:
    options = build_parser().parse_args(argv)
    database = read_database(database_path(root))
    report_warnings(database.warnings)  # records HotSync does not use: they never stop it
    compilation = compile_root(root, database, host_commands(root), probe_tool_versions(), will_apply=not options.check)
    if not compilation.ok or compilation.plan is None:  # a plan exists exactly when there is no error
        _report_invalid(compilation, options.json)
        return EXIT_FAILURE
    changes = find_changes(root, (plan_output(compilation.plan),) + compilation.outputs)
    if not options.check:
        write_changes(root, changes)
    if options.json:
        print(json.dumps({
            "valid": True, "diagnostics": [d.as_dict() for d in compilation.diagnostics],
            "changes": [{"path": c.output.path, "action": c.verb} for c in changes],
            "written": not options.check,
        }, indent=2))
        return EXIT_OK
    for warning in compilation.diagnostics:
        print(warning.format(), file=sys.stderr)
    for change in changes:
        if options.diff:
            sys.stdout.write(format_diff(change))
        elif not options.quiet:
            tense = "would " + change.verb if options.check else change.verb + "d"
            print(f"{tense}: {change.output.path}")
    if not changes and not options.quiet:
        print("configuration is valid; nothing to change" if options.check
              else "configuration is valid; all files are up to date")
    return EXIT_OK


def _report_invalid(compilation, as_json: bool) -> None:
    if as_json:
        diagnostics = [d.as_dict() for d in compilation.diagnostics]
        print(json.dumps({"valid": False, "diagnostics": diagnostics, "changes": []}, indent=2))
        return
    for diagnostic in compilation.diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    count = len(compilation.errors)
    print(f"hotsync: {count} error{'s' if count != 1 else ''}; nothing was written", file=sys.stderr)
