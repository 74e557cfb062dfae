"""What the ``nethserver-hotsync`` RPM carries, laid into a build root by ``packaging/rpm/build``.

The host files come from the tables ``hotsync install`` writes from (events, database defaults,
rules, the stunnel unit, the web API, its sudoers rule and the Cockpit app), so a change to
``events/``, to the shipped rules or to the app reaches the RPM by itself. The Python package
and its libraries sit in a private folder, not in the system's site-packages (EL7 has no
python3-lark, and its Jinja2 is not ours); small launchers named after the package's console
scripts run them with the system's Python 3.
"""

import configparser
import posixpath
import shutil
import sys
from pathlib import Path
from typing import Iterable, List, Sequence, Set, Tuple

from .. import __version__
from ..files import write_file_atomic
from ..paths import EVENTS_FOLDER, PLUGIN_FOLDER, RULES_FOLDER
from ..root import Root
from .install import (
    DEFAULTS_FOLDER,
    ShippedFile,
    database_default_files,
    event_files,
    rule_files,
    stunnel_unit_file,
    watch_unit_file,
    web_files,
)

PACKAGE_FOLDER = "/usr/lib/nethserver-hotsync"
PRIVATE_PYTHON_FOLDER = f"{PACKAGE_FOLDER}/python"
LAUNCHER_FOLDER = "/usr/sbin"
SYSTEM_PYTHON = "/usr/bin/python3"
# Folders other packages own: the RPM owns what it creates below them, not them.
PLATFORM_FOLDERS = frozenset({"/", "/etc", "/usr/lib/systemd/system", EVENTS_FOLDER, DEFAULTS_FOLDER, "/etc/sudoers.d",
                              "/usr/libexec/nethserver/api", "/usr/share/cockpit",
                              "/usr/share/cockpit/nethserver/applications"})

# -I -S: only the private folder and the standard library, whatever the environment or the
# system's site-packages hold. The locale: Python 3.6 reads file names and writes text as ASCII
# under the C locale that cron or rpm may give it; 3.7 and later switch that locale to UTF-8 by
# themselves (PEP 538), and the launcher does the same for 3.6.
LAUNCHER_TEXT = """#!/bin/sh
# {name}: HotSync (nethserver-hotsync {version}) on the system's Python 3, with the libraries it brings.
if [ -z "$LC_ALL" ]; then
    case "${{LC_CTYPE:-${{LANG:-C}}}}" in
        C|POSIX) LC_CTYPE=en_US.UTF-8; export LC_CTYPE ;;
    esac
fi
exec {python} -I -S -c 'import sys; sys.path.insert(0, "{folder}"); from {module} import {function}; {function}()' "$@"
"""


def host_files() -> List[ShippedFile]:
    """Every file the RPM lays outside its private folder, but the launchers."""
    return [*event_files(), *database_default_files(), *rule_files(), stunnel_unit_file(),
            watch_unit_file(f"{LAUNCHER_FOLDER}/hotsync"), *web_files(f"{LAUNCHER_FOLDER}/hotsync")]


def console_scripts(private_folder: Path) -> List[Tuple[str, str]]:
    """(command, ``module:function``) of the package's console scripts, from its installed metadata."""
    found = sorted(private_folder.glob("hotsync-*.dist-info/entry_points.txt"))
    if len(found) != 1:
        raise ValueError(f"expected one hotsync-*.dist-info with entry points in {private_folder}, found {len(found)}")
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.read(str(found[0]), encoding="utf-8")
    return sorted((name, target.strip()) for name, target in entry_points.items("console_scripts"))


def launcher_text(name: str, target: str) -> str:
    module, function = target.split(":")
    return LAUNCHER_TEXT.format(name=name, version=__version__, python=SYSTEM_PYTHON, folder=PRIVATE_PYTHON_FOLDER,
                                module=module, function=function)


def lay_package_files(build_root: Path) -> List[str]:
    """Write the host files and the launchers into ``build_root``, whose private folder already holds
    the installed package and its libraries; return the spec's ``%files`` lines for all of it."""
    root = Root(build_root)
    lines = set()
    for shipped in host_files():
        write_file_atomic(root.path(shipped.host_path), shipped.content, mode=shipped.mode, durable=False)
        lines.add(files_line(shipped.host_path))
    private = root.path(PRIVATE_PYTHON_FOLDER)
    for name, target in console_scripts(private):
        host_path = f"{LAUNCHER_FOLDER}/{name}"
        write_file_atomic(root.path(host_path), launcher_text(name, target), mode=0o755, durable=False)
        lines.add(host_path)
    # pip's own scripts start the build machine's Python: the launchers replace them.
    shutil.rmtree(str(private / "bin"), ignore_errors=True)
    root.path(PLUGIN_FOLDER).mkdir(parents=True, exist_ok=True)
    lines.add(f"%dir {PLUGIN_FOLDER}")
    lines.update(f"%dir {folder}" for folder in owned_folders(shipped.host_path for shipped in host_files()))
    lines.add(PACKAGE_FOLDER)  # the folder and everything in it
    return sorted(lines, key=lambda line: line.split()[-1])


def files_line(host_path: str) -> str:
    """A file's ``%files`` line: the rules are the admin's to edit, so an upgrade keeps an edited one."""
    if host_path.startswith(RULES_FOLDER + "/"):
        return f"%config(noreplace) {host_path}"
    return host_path


def owned_folders(host_paths: Iterable[str]) -> Set[str]:
    """The folders that hold ``host_paths``, up to (not including) the platform's own folders."""
    owned = set()
    for host_path in host_paths:
        folder = posixpath.dirname(host_path)
        while folder not in PLATFORM_FOLDERS:
            owned.add(folder)
            folder = posixpath.dirname(folder)
    return owned


def main(argv: Sequence[str]) -> int:
    """``BUILD_ROOT FILES_LIST``: lay the files and write the ``%files`` list (packaging/rpm/build)."""
    if len(argv) != 2:
        print("usage: package BUILD_ROOT FILES_LIST", file=sys.stderr)
        return 2
    lines = lay_package_files(Path(argv[0]))
    write_file_atomic(Path(argv[1]), "".join(f"{line}\n" for line in lines), durable=False)
    return 0
