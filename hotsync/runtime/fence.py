"""Fencing: a promoted host never takes data from the master it replaced.

Each promotion raises the host's *promotion generation* (``hotsync PromotionGeneration``
in the configuration database: one more than the highest of its own and its old
master's). A host's data is as new as its generation.

* A promoted master keeps answering on the tunnel port its old master pushes to
  (``hotsync FencePort``): stunnel runs ``rsync --daemon`` for each connection with a
  module that can neither be read nor written, whose ``pre-xfer exec`` is
  ``hotsync-slave check-push``. That refuses the push before any file changes and its
  one-line message (starting with ``REFUSAL_MARK``) reaches the old master's rsync.
* A slave that was once promoted (generation > 0) checks every push the same way: the
  master sends its own generation with ``rsync --early-input`` (``early_input_text``);
  the daemon's ``early exec`` (``hotsync-slave record-push-generation``) keeps it for the
  ``pre-xfer exec``. A master promoted earlier than this slave (lower generation) has
  older data and is refused; a master promoted later syncs normally.

* A slave whose promotion has started (``hotsync PromotionStarted``, set by promotion's
  first step and cleared by the step that makes it the master) is closed for good: its
  daemons take the promoted master's form above, whatever event runs, and every push is
  refused. That needs no ``early exec``, so it holds on rsync 3.1.2 too.

Never-promoted slaves (generation 0) run no check at all: their daemon configuration has
no early or pre-xfer exec.
"""

import os
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from ..digits import ascii_number, is_ascii_number
from ..files import write_file_atomic
from ..frozen import frozen
from ..host import Database, database_path, read_database
from ..paths import STATE_FOLDER
from ..root import Root
from .status import append_log

GENERATION_PROPERTY = "PromotionGeneration"
FENCE_PORT_PROPERTY = "FencePort"
PROMOTION_STARTED_PROPERTY = "PromotionStarted"
INCOMING_FOLDER = f"{STATE_FOLDER}/incoming"
EARLY_INPUT_LIMIT = 5000  # rsync sends at most about 5 KB of early input
EARLY_INPUT_WORD = "hotsync-generation"
STALE_INCOMING_SECONDS = 24 * 3600
REFUSAL_MARK = "HotSync refused this push"
# ASCII digits, at most ten: the line comes from the peer, and int() of a 5,000-digit number fails.
_EARLY_INPUT = re.compile(rf"^{EARLY_INPUT_WORD}[ \t]+([0-9]{{1,10}})[ \t\r]*$", re.M)


@frozen
class FenceSettings:
    """This host's fencing facts, from its configuration database."""

    role: str
    generation: int
    promotion_started: int = 0  # epoch when this slave's promotion started; 0 when none is under way

    @classmethod
    def from_database(cls, database: Database) -> "FenceSettings":
        return cls(
            role=database.get_prop("hotsync", "role", "") or "",
            generation=read_number(database.get_prop("hotsync", GENERATION_PROPERTY, "")),
            promotion_started=read_number(database.get_prop("hotsync", PROMOTION_STARTED_PROPERTY, "")),
        )

    @property
    def promoting(self) -> bool:
        """A slave whose promotion has started: it takes no data any more, from anyone."""
        return self.role == "slave" and self.promotion_started > 0


def read_fence_settings(root: Root) -> FenceSettings:
    return FenceSettings.from_database(read_database(database_path(root)))


def read_number(text: Optional[str]) -> int:
    """A non-negative whole number from the database; anything else counts as 0."""
    text = (text or "").strip()
    # Not str.isdigit(): it takes '²' (which int() refuses) and full-width digits.
    return int(text) if re.fullmatch(r"[0-9]{1,10}", text) else 0


def next_generation(own: int, old_master: int) -> int:
    """The generation a promotion gives: newer than this host's data and its old master's."""
    return max(own, old_master) + 1


# ----------------------------------------------------------------------------- the master's side


def early_input_text(root: Root) -> str:
    """What a master sends with ``--early-input`` on each push: its promotion generation."""
    return f"{EARLY_INPUT_WORD} {read_fence_settings(root).generation}\n"


def write_early_input(root: Root, folder: Path) -> Path:
    """Write ``early_input_text`` into ``folder`` (the push's temp folder); rsync reads it from there."""
    path = Path(folder) / "early-input"
    write_file_atomic(path, early_input_text(root), mode=0o600, durable=False)
    return path


def parse_early_input(text: str) -> Optional[int]:
    """The generation a master sent, or None when it sent none (an older HotSync)."""
    found = _EARLY_INPUT.search(text or "")
    return int(found.group(1)) if found else None


# ----------------------------------------------------------------------------- the receiving side


def decide_push(settings: FenceSettings, master_generation: Optional[int]) -> Optional[str]:
    """None to accept a push, else the one-line refusal the sending admin reads.

    A master that sent no generation is taken as generation 0 (never promoted): refusing
    it when this host is newer is the safe side.
    """
    if settings.promoting:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(settings.promotion_started))
        return (
            f"{REFUSAL_MARK}: the receiving host is being promoted to master (promotion started {started}) "
            "and accepts no data any more. The sending host is no longer the master: configure it as a "
            "slave of the promoted host ('config setprop hotsync role slave MasterHost ADDRESS', then "
            "'signal-event nethserver-hotsync-save')"
        )
    if settings.role != "slave":
        return (
            f"{REFUSAL_MARK}: the receiving host is the master now (role: {settings.role or 'none'}, "
            f"promotion generation {settings.generation}) and accepts no data. The sending host is no "
            "longer the master: configure it as a slave of the promoted host ('config setprop hotsync "
            "role slave MasterHost ADDRESS', then 'signal-event nethserver-hotsync-save')"
        )
    sent = master_generation or 0
    if sent < settings.generation:
        return (
            f"{REFUSAL_MARK}: the receiving slave was promoted later than the sending master "
            f"(promotion generation {settings.generation} against {sent}), so its data is newer. "
            "Configure the sending host as a slave of the receiving one instead; to overwrite the "
            f"receiving host anyway, run 'config setprop hotsync {GENERATION_PROPERTY} 0' and "
            "'signal-event nethserver-hotsync-save' there"
        )
    return None


def record_push_generation_command(root: Root, environment: Mapping[str, str] = os.environ, stream=None) -> int:
    """``early exec``: keep the generation the master sent for this connection's ``pre-xfer exec``.

    Always exits 0: a failed early exec would abort the push without a word to the sender;
    a missing record is judged (and explained) by ``check_push_command`` instead.
    """
    stream = stream if stream is not None else sys.stdin
    try:
        sent = parse_early_input(stream.read(EARLY_INPUT_LIMIT))
        connection = _connection_id(environment)
        if connection:
            remove_stale_records(root)
            write_file_atomic(root.path(f"{INCOMING_FOLDER}/{connection}"), f"{'' if sent is None else sent}\n",
                              mode=0o600)
    except Exception:  # noqa: BLE001 - must never abort the push silently; the check decides
        pass
    return 0


def check_push_command(root: Root, environment: Mapping[str, str] = os.environ) -> int:
    """``pre-xfer exec``: 0 accepts the push; 1 refuses it, the reason on stdout (rsync shows it).

    Fails closed: when anything goes wrong the push is refused, saying why.
    """
    try:
        sent = take_recorded_generation(root, _connection_id(environment))
        refusal = decide_push(read_fence_settings(root), sent)
    except Exception as error:  # noqa: BLE001 - a traceback would reach the sending host
        refusal = f"{REFUSAL_MARK}: the receiving host could not check it ({error}); see its /var/log/hotsync.log"
    if refusal is None:
        return 0
    print(refusal)
    _log_refusal(root, refusal)
    return 1


def take_recorded_generation(root: Root, connection: str) -> Optional[int]:
    """The generation ``record_push_generation_command`` kept for ``connection`` (then forgotten)."""
    if not connection:
        return None
    path = root.path(f"{INCOMING_FOLDER}/{connection}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path.unlink()
    return ascii_number(text)


def remove_stale_records(root: Root) -> None:
    """Forget records of connections that never reached their ``pre-xfer exec``."""
    folder = root.path(INCOMING_FOLDER)
    limit = time.time() - STALE_INCOMING_SECONDS
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.is_file() and entry.stat().st_mtime < limit:
            try:
                entry.unlink()
            except FileNotFoundError:  # its own pre-xfer exec took it meanwhile
                pass


def _connection_id(environment: Mapping[str, str]) -> str:
    """rsync's id of this connection (same for the early and the pre-xfer exec), digits only."""
    value = environment.get("RSYNC_PID", "")
    return value if is_ascii_number(value) else ""


def _log_refusal(root: Root, refusal: str) -> None:
    try:
        append_log(root, f"refused a push: {refusal}")
    except OSError:
        pass


# ----------------------------------------------------------------------------- checking a configuration

_FALSE_WORDS = ("no", "false", "0")


def writable_modules(rsyncd_conf: str) -> List[str]:
    """The modules an rsyncd configuration text lets a client write into.

    rsync's own reading: a module is read-only unless ``read only`` says no, in its
    section or (as every module's default) before the first section.
    """
    default_read_only, current = True, None
    modules: Dict[str, Optional[bool]] = {}  # None: the module leaves it to the default
    for raw in rsyncd_conf.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            modules.setdefault(current, None)
            continue
        key, _, value = line.partition("=")
        if key.replace(" ", "").lower() != "readonly":
            continue
        read_only = value.strip().lower() not in _FALSE_WORDS
        if current is None:
            default_read_only = read_only
        else:
            modules[current] = read_only
    return [name for name, read_only in modules.items()
            if not (default_read_only if read_only is None else read_only)]
