"""The versions of the external tools HotSync drives, found once, when the plan is compiled.

An option's meaning can change between versions (rsync's ``--modify-window=-1`` compares
to the nanosecond from 3.1.3 on, and makes every two times equal on 3.1.2), so what a
host runs is a fact of the plan, not a guess made on every push: ``hotsync compile``
probes the tools (``probe_tool_versions``) and hands the result to the compiler, which
records it in the plan. The compiler itself runs nothing (see ``tests/test_layout.py``).

A version is kept as the tool printed it ("3.1.2"); "" means the tool was not found or
said something unexpected. Code that chooses an option from a version treats "" as the
oldest version HotSync supports, so an unknown tool gets the options every version means
the same way.
"""

import re
import shutil
from typing import Callable, Sequence, Tuple

from .errors import CommandError
from .frozen import frozen
from .programs import run_command

PROBE_TIMEOUT_SECONDS = 30


@frozen
class ToolVersions:
    """What ``<tool> --version`` said on the host the plan was compiled for ("" = unknown)."""

    rsync: str = ""
    stunnel: str = ""


def version_tuple(version: str) -> Tuple[int, ...]:
    """``"3.1.2"`` -> ``(3, 1, 2)``; ``()`` for an unknown version (older than every real one)."""
    found = re.match(r"[0-9]+(?:\.[0-9]+)*", version or "")
    return tuple(int(part) for part in found.group(0).split(".")) if found else ()


def at_least(version: str, minimum: Tuple[int, ...]) -> bool:
    """Whether ``version`` is ``minimum`` or newer; an unknown version is not."""
    return bool(version_tuple(version)) and version_tuple(version) >= minimum


_RSYNC_VERSION = re.compile(r"^rsync\s+version\s+v?([0-9]+(?:\.[0-9]+)+)", re.M)


def parse_rsync_version(text: str) -> str:
    """The version in ``rsync --version``'s first line ("rsync  version 3.1.2  protocol version 31")."""
    found = _RSYNC_VERSION.search(text or "")
    return found.group(1) if found else ""


_STUNNEL_VERSION = re.compile(r"^stunnel\s+([0-9]+(?:\.[0-9]+)+)\s", re.M)
# NethServer 7 (and Fedora) install ``stunnel``; Debian ``stunnel4``, and ``stunnel`` too on
# recent releases.
STUNNEL_PROGRAMS = ("stunnel", "stunnel4")


def parse_stunnel_version(text: str) -> str:
    """The version in ``stunnel -version``'s first line ("stunnel 4.56 on x86_64-redhat-linux-gnu platform")."""
    found = _STUNNEL_VERSION.search(text or "")
    return found.group(1) if found else ""


def stunnel_program() -> str:
    """The name stunnel is installed under (``stunnel`` when neither is found)."""
    return next((program for program in STUNNEL_PROGRAMS if shutil.which(program)), STUNNEL_PROGRAMS[0])


Runner = Callable[[Sequence[str]], str]


def _version_output(argv: Sequence[str]) -> str:
    """What ``argv`` prints; "" when it cannot be run or fails (the version is then unknown)."""
    try:
        finished = run_command(argv, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except CommandError:
        return ""
    return finished.stdout + finished.stderr


def probe_tool_versions(run: Runner = _version_output) -> ToolVersions:
    """Ask the tools on ``PATH`` for their versions (``run`` is how: the default runs them)."""
    # stunnel prints its version on stderr, and some versions then exit non-zero (they go on
    # to read the default configuration file): only the text counts.
    return ToolVersions(rsync=parse_rsync_version(run(("rsync", "--version"))),
                        stunnel=parse_stunnel_version(run((stunnel_program(), "-version"))))
