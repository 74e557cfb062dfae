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
  master sends its own generation as rsync's ``--checksum-seed`` (``generation_options``),
  which every rsync client hands the daemon as one of its options, and the daemon shows
  those to the ``pre-xfer exec`` as ``RSYNC_ARG1``, ``RSYNC_ARG2``... (rsync 3.1.2 as
  today's). A master promoted earlier than this slave (lower generation) has older data
  and is refused; a master promoted later syncs normally.

  Why that option: it is the one a client passes to the daemon verbatim with a number of
  its choosing, and the number changes nothing but the seed of the block checksums,
  whose default (the clock mixed with a process id) is no secret either: every value
  gives the same transfer.
  rsync's ``--early-input`` (3.2.4) and the daemon's ``early exec`` do not exist on
  NethServer 7's rsync 3.1.2, which ignores ``early exec`` and refuses the option.

* rsync before 3.2.0 does not send the check's words to the client: the daemon logs them and
  closes the connection. So a fenced daemon also greets every client with an announcement
  of its fencing facts (``motd file``, one line, see ``announced_settings``); when a push
  fails without the check's words, the master works them out from that line
  (``refusal_reason``), with the same ``decide_push``.

* A slave whose promotion has started (``hotsync PromotionStarted``, set by promotion's
  first step and cleared by the step that makes it the master) is closed for good: its
  daemons take the promoted master's form above, whatever event runs, and every push is
  refused.

Never-promoted slaves (generation 0) run no check at all: their daemon's pre-xfer exec only
notes the push as running (see ``sealing``); a fenced slave's runs ``hotsync-slave begin-push``,
the check and then that note.
"""

import os
import re
import time
from typing import Dict, List, Mapping, Optional

from ..frozen import frozen
from ..host import Database, database_path, read_database
from ..root import Root
from .status import append_log

GENERATION_PROPERTY = "PromotionGeneration"
FENCE_PORT_PROPERTY = "FencePort"
PROMOTION_STARTED_PROPERTY = "PromotionStarted"
GENERATION_OPTION = "--checksum-seed"
# rsync reads the seed as a C int; a generation beyond it (never reached) is sent as this.
LARGEST_SENT_GENERATION = 2 ** 31 - 1
REFUSAL_MARK = "HotSync refused this push"
# ASCII digits, at most ten: the value comes from the peer, and int() of a 5,000-digit number fails.
_GENERATION_ARGUMENT = re.compile(rf"{GENERATION_OPTION}=([0-9]{{1,10}})")
# How many of the daemon's RSYNC_ARG# variables the check reads at most.
ARGUMENTS_READ = 1000
# The greeting of a fenced daemon (templates/rsyncd.motd.j2 writes it), which rsync prints on
# the client's stdout before the transfer.
_ANNOUNCEMENT = re.compile(
    r"^HotSync fence: role=([a-z]{0,20}) generation=([0-9]{1,10}) promotion-started=([0-9]{1,10})[ \t\r]*$", re.M)


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


def own_generation(root: Root) -> int:
    """This host's promotion generation."""
    return read_fence_settings(root).generation


def generation_options(root: Root) -> List[str]:
    """The rsync option carrying this master's promotion generation, for each push.

    Generation 0 (never promoted) sends nothing: a slave takes a missing generation as 0.
    """
    generation = own_generation(root)
    if generation <= 0:
        return []
    return [f"{GENERATION_OPTION}={min(generation, LARGEST_SENT_GENERATION)}"]


def sent_generation(environment: Mapping[str, str]) -> Optional[int]:
    """The generation a master sent, from the options the daemon shows its ``pre-xfer exec``
    (``RSYNC_ARG1``...); None when it sent none (never promoted, or an older HotSync).

    Every argument comes from the sending host; whoever holds the password could claim any
    generation anyway: the fence stops an honest master that is out of date, not an intruder.
    """
    for number in range(1, ARGUMENTS_READ):
        argument = environment.get(f"RSYNC_ARG{number}")
        if argument is None:
            break
        found = _GENERATION_ARGUMENT.fullmatch(argument)
        if found:
            return int(found.group(1))
    return None


def announced_settings(output: str) -> Optional[FenceSettings]:
    """The fencing facts a receiving daemon announced in its greeting (None: it announced none)."""
    found = _ANNOUNCEMENT.search(output or "")
    if found is None:
        return None
    return FenceSettings(role=found.group(1), generation=int(found.group(2)), promotion_started=int(found.group(3)))


def refusal_reason(error_output: str, output: str, generation: int) -> str:
    """Why the receiving host refused a failed push, in its words; "" when it did not refuse it.

    The check's own line when the daemon sent it (rsync >= 3.2.0), else the same decision
    made here from the daemon's announcement and ``generation``, this host's.
    """
    line = next((line.strip() for line in error_output.splitlines() if REFUSAL_MARK in line), "")
    if line:
        return line[line.index(REFUSAL_MARK):]
    announced = announced_settings(output)
    if announced is None:
        return ""
    return decide_push(announced, generation) or ""


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


def check_push_command(root: Root, environment: Mapping[str, str] = os.environ) -> int:
    """``pre-xfer exec``: 0 accepts the push; 1 refuses it, the reason on stdout (rsync shows it).

    Fails closed: when anything goes wrong the push is refused, saying why.
    """
    try:
        refusal = decide_push(read_fence_settings(root), sent_generation(environment))
    except Exception as error:  # noqa: BLE001 - a traceback would reach the sending host
        refusal = f"{REFUSAL_MARK}: the receiving host could not check it ({error}); see its /var/log/hotsync.log"
    if refusal is None:
        return 0
    print(refusal)
    _log_refusal(root, refusal)
    return 1


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
