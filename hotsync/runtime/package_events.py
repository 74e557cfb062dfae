"""yum's ``nethserver_events`` plugin: off on a slave, on again when the host stops being one.

On NethServer the plugin runs each installed package's ``-update`` event after yum
installs it, which configures and starts the package's services. A slave installs the
master's packages (``hotsync-slave``) but must not configure them with its own settings:
the master's configuration comes at promotion, when the configuration restore runs every
package's events. So, as the original HotSync did, a slave keeps the plugin off, and
promotion turns it back on.

HotSync writes a comment line above the ``enabled`` option it turns off. A host that
stops being a slave (role changed by the admin) gets the plugin back only when that mark
is there: an admin who turned it off on a master keeps it off. Promotion turns it on
whatever the mark says, as the original did.
"""

import os
import re
import stat
from typing import List, Optional, Tuple

from ..files import write_file_atomic
from ..paths import YUM_EVENTS_PLUGIN_CONF
from ..root import Root

SECTION = "[main]"
MARK = "# Turned off by HotSync on this slave: packages stay unconfigured until its promotion."
_ENABLED_LINE = re.compile(r"\s*enabled\s*[=:]\s*(?P<value>.*?)\s*$", re.IGNORECASE)
_SECTION_LINE = re.compile(r"\s*\[(?P<name>[^\]]*)\]\s*$")
# yum's boolean option: these words mean on; a missing option means off.
_TRUE_WORDS = ("1", "yes", "true", "on")


def disable_package_events(root: Root) -> str:
    """Turn the plugin off, marked as HotSync's doing; says what it did."""
    lines = _read_lines(root)
    if lines is None:
        return f"no yum events plugin on this host ({YUM_EVENTS_PLUGIN_CONF} absent): nothing to turn off"
    wanted = _with_enabled(lines, False, marked=True)
    if wanted == lines:
        return f"yum events plugin already off ({YUM_EVENTS_PLUGIN_CONF})"
    _write_lines(root, wanted)
    return f"yum events plugin turned off ({YUM_EVENTS_PLUGIN_CONF}): packages installed here stay unconfigured"


def enable_package_events(root: Root, only_if_marked: bool) -> str:
    """Turn the plugin on (``only_if_marked``: only when HotSync turned it off); says what it did."""
    lines = _read_lines(root)
    if lines is None:
        return f"no yum events plugin on this host ({YUM_EVENTS_PLUGIN_CONF} absent): nothing to turn on"
    if only_if_marked and MARK not in lines:
        state = "on" if _is_enabled(lines) else "off, not by HotSync: left off"
        return f"yum events plugin {state} ({YUM_EVENTS_PLUGIN_CONF})"
    wanted = _with_enabled(lines, True, marked=False)
    if wanted == lines:
        return f"yum events plugin already on ({YUM_EVENTS_PLUGIN_CONF})"
    _write_lines(root, wanted)
    return f"yum events plugin turned on again ({YUM_EVENTS_PLUGIN_CONF}): installed packages are configured"


def _is_enabled(lines: List[str]) -> bool:
    found = _enabled_option(lines)
    return found is not None and _means_on(found[1])


def _means_on(value: str) -> bool:
    return value.lower() in _TRUE_WORDS


def _enabled_option(lines: List[str]) -> Optional[Tuple[int, str]]:
    """(line index, value) of ``enabled`` in the ``[main]`` section, or None."""
    section = ""
    for index, line in enumerate(lines):
        header = _SECTION_LINE.match(line)
        if header:
            section = header.group("name").strip()
            continue
        option = _ENABLED_LINE.match(line)
        if section == "main" and option:
            return index, option.group("value")
    return None


def _main_header(lines: List[str]) -> Optional[int]:
    """The index of the ``[main]`` line, or None."""
    for index, line in enumerate(lines):
        header = _SECTION_LINE.match(line)
        if header and header.group("name").strip() == "main":
            return index
    return None


def _with_enabled(lines: List[str], enabled: bool, marked: bool) -> List[str]:
    """``lines`` with ``[main]``'s ``enabled`` set (added when missing) and the mark above it
    or gone; every other line as it was."""
    result = [line for line in lines if line != MARK]
    option = f"enabled = {1 if enabled else 0}"
    found = _enabled_option(result)
    if found is None:
        header = _main_header(result)
        if header is None:
            result.insert(0, SECTION)
            header = 0
        index = header + 1
        result.insert(index, option)
    else:
        index, value = found
        if _means_on(value) != enabled:
            result[index] = option
    if marked:
        result.insert(index, MARK)
    return result


def _read_lines(root: Root) -> Optional[List[str]]:
    try:
        return root.path(YUM_EVENTS_PLUGIN_CONF).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except FileNotFoundError:
        return None


def _write_lines(root: Root, lines: List[str]) -> None:
    """Replace the file, keeping its mode (the package ships it 0644, root's)."""
    path = root.path(YUM_EVENTS_PLUGIN_CONF)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    text = "".join(f"{line}\n" for line in lines)
    write_file_atomic(path, text.encode("utf-8", "surrogateescape"), mode=mode)
