"""``hotsync install [--defaults-only]``: lay HotSync's integration into the root."""

from ..nethserver.install import install
from .parsing import CommandParser


def main(root, argv) -> int:
    parser = CommandParser(
        "install",
        description="Install HotSync's events, configuration database defaults, rule files and plugin "
        "folder into the root, then apply the defaults. Safe to repeat: settings and edited rule files are kept.",
    )
    parser.add_argument("--defaults-only", action="store_true",
                        help="only (re)write the database defaults and apply them (the update event's first step)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    options = parser.parse_args(argv)
    report = install(root, defaults_only=options.defaults_only)
    if not options.quiet:
        for path in report.written:
            print(f"installed: {path}")
        for path in report.removed:
            print(f"removed: {path} (names no e-smith template)")
        for path in report.kept:
            print(f"kept your edited {path}; the shipped version is in {path}.hsnew")
        for default in report.defaults:
            print(f"default: {default}")
        if report.generated_password:
            print("generated a random shared secret (rsyncd.password): both hosts need the same one;"
                  " copy it with 'config getprop rsyncd password' / 'config setprop rsyncd password …'")
        if not (report.written or report.kept or report.removed or report.defaults or report.generated_password):
            print(f"HotSync is installed and up to date in {root}")
    return 0
