"""The named settings of the rule language: what each means, its kind, its default, its check.

``global { NAME = VALUE }`` and ``role ROLE { NAME = VALUE }`` may only use the names
listed here. A value is a literal or ``setting KEY.PROP [default VALUE]`` read from the
configuration database. Every value that can end up in a generated file is checked here,
so nothing a user types can add a line or an option to those files.
"""

import ipaddress
import re
from typing import Any, Callable, Optional, Tuple

from ..digits import ascii_number
from ..errors import Span
from ..frozen import frozen
from ..paths import METRICS_FOLDER, PLUGIN_FOLDER, host_path_problem

MINIMUM_PASSWORD_LENGTH = 12
# Below this, ``compile`` warns: a human-chosen password of that size falls to a dictionary.
RECOMMENDED_PASSWORD_LENGTH = 20
# rsync reads a password file into a 512-byte buffer, its last byte the terminator.
MAXIMUM_PASSWORD_BYTES = 511
# rsync keeps its I/O timeout in an int and the tunnel's idle limit is twice it plus a
# minute; a day is far beyond any stall worth waiting for and safe in both.
MAXIMUM_SECONDS = 86400
# How late a copy may be before it counts as stale: up to a year (a slave pushed to weekly
# still needs room for 6x its interval).
MAXIMUM_AGE_SECONDS = 366 * 86400
# A day: the longest push interval cron can keep with one schedule.
MAXIMUM_INTERVAL_MINUTES = 1440
DEFAULT_INTERVAL_MINUTES = 15
# The interval push's minute within its period: 15 gives the original's times, 5,20,35,50.
SYNC_MINUTE_OFFSET = 5
# 10 GiB/s in KiB/s: above any link worth capping, and an int for rsync on 32 bits too.
MAXIMUM_BWLIMIT_KIB = 10 * 1024 * 1024
# Counts and epochs (a promotion's start) up to ten digits: past the year 2038, short of int()'s limits.
MAXIMUM_COUNT = 10**10 - 1

# Every pattern is matched against the whole value with ``fullmatch``: ``$`` would accept a
# trailing newline. Character classes are spelled out: ``\d`` and ``str.isdigit()`` take
# '²' and full-width digits.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_HOST_CHARACTERS = re.compile(r"[A-Za-z0-9_.:%-]{1,253}")
_ZONE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_MAIL_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+-]{1,64}")
# C0 and C1 control characters and DEL (line breaks, NUL, escapes), and Unicode's line and
# paragraph separators, which Python's splitlines() takes for line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bytes of the database file that are not UTF-8 arrive as lone surrogates (surrogateescape).
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
_TRUE = {"on", "yes", "true", "enabled", "1"}
_FALSE = {"off", "no", "false", "disabled", "0"}


class BadValue(ValueError):
    """A value that fails its check; the message says what was expected."""


def unsafe_character(text: str) -> Optional[str]:
    """What makes ``text`` unfit for any generated file, or None: a control character or a
    line break, or bytes that are not UTF-8."""
    if _CONTROL.search(text):
        return "a line break or a control character"
    if _NOT_UTF8.search(text):
        return "bytes that are not UTF-8 text"
    return None


def _whole_number(text: str, low: int, high: int, kind: str) -> int:
    """``text`` as a number of ASCII digits from ``low`` to ``high``; else ``BadValue``
    saying it is not ``kind`` (which says what was expected)."""
    # Ten digits hold any number a setting takes, and keep int() away from a 5,000-digit value.
    number = ascii_number(text, max_digits=10)
    if number is None or not low <= number <= high:
        raise BadValue(f"{quoted(text)} is not {kind}")
    return number


def check_port(text: str) -> int:
    return _whole_number(text, 1, 65535, "a TCP port (expected a number from 1 to 65535)")


def check_optional_port(text: str) -> int:
    """A port, or empty for none (0)."""
    return check_port(text) if text != "" else 0


def check_count(text: str) -> int:
    return _whole_number(text, 0, MAXIMUM_COUNT, f"a whole number (expected 0, 1, 2... up to {MAXIMUM_COUNT})")


def check_switch(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(f"{quoted(text)} is not a switch (expected enabled/disabled, on/off, yes/no)")


PUSH_MODES = ("interval", "continuous")


def check_mode(text: str) -> str:
    """How the master pushes: ``interval`` (cron's full push only) or ``continuous`` (the
    ``hotsync-watch`` service too)."""
    if text not in PUSH_MODES:
        raise BadValue(f"{quoted(text)} is not a push mode (expected {' or '.join(PUSH_MODES)})")
    return text


def check_percent(text: str) -> int:
    return _whole_number(text, 0, 100, "a percentage (expected 0% to 100%)")


def check_free_space_floor(text: str) -> int:
    # Above 90% the floor would drop every point but the newest on most slaves.
    return _whole_number(text, 0, 90, "a free-space floor (expected a percentage from 0% to 90%)")


_KEEP_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
_KEEP_SPAN = re.compile(r"([0-9]{1,4})([hdw])")


def check_keep(text: str) -> Tuple[int, ...]:
    """A retention grid: four spans, each a number and h, d or w, none shorter than the one
    before: every point for the first, then one an hour, a day, a week up to the next.
    ``2h,2d,14d,8w`` keeps every point for 2 hours, hourly for 2 days, daily for 14, weekly for 8 weeks."""
    spans = [_KEEP_SPAN.fullmatch(piece.strip()) for piece in text.split(",")]
    if len(spans) == 4 and all(spans):
        seconds = tuple(int(span.group(1)) * _KEEP_UNITS[span.group(2)] for span in spans if span)
        if list(seconds) == sorted(seconds):
            return seconds
    raise BadValue(f"{quoted(text)} is not a retention grid (expected four growing spans of hours, days "
                   "or weeks: every point, hourly, daily, weekly, such as 2h,2d,14d,8w)")


def check_seconds(text: str) -> int:
    return _whole_number(text, 1, MAXIMUM_SECONDS,
                         f"a duration (expected a whole number of seconds from 1 to {MAXIMUM_SECONDS})")


def check_age(text: str) -> int:
    return _whole_number(text, 60, MAXIMUM_AGE_SECONDS,
                         f"an age (expected a whole number of seconds from 60 to {MAXIMUM_AGE_SECONDS})")


def check_age_or_interval_multiple(text: str) -> int:
    """An age, or empty: 0, which the compiler turns into a multiple of the push interval."""
    return check_age(text) if text.strip() else 0


def check_interval(text: str) -> int:
    """Minutes between two interval pushes: 1 to 59, or whole hours up to a day (one cron
    schedule keeps those; 90 minutes would need a different minute each hour)."""
    minutes = _whole_number(text, 1, MAXIMUM_INTERVAL_MINUTES,
                            f"an interval (expected minutes from 1 to {MAXIMUM_INTERVAL_MINUTES})")
    if minutes > 60 and minutes % 60:
        raise BadValue(f"{quoted(text)} is not an interval cron can keep: above 60 minutes use whole hours"
                       f" (120, 180... {MAXIMUM_INTERVAL_MINUTES})")
    return minutes


def check_bwlimit(text: str) -> int:
    """A push's bandwidth cap in KiB/s, or empty (0) for none."""
    if text.lower() in ("", "none", "0"):
        return 0
    return _whole_number(text, 1, MAXIMUM_BWLIMIT_KIB,
                         f"a bandwidth limit (expected KiB/s from 1 to {MAXIMUM_BWLIMIT_KIB}, or empty for none)")


def interval_schedule(minutes: int) -> str:
    """The cron schedule of a push every ``minutes`` (as ``check_interval`` takes them).

    Under an hour: minutes of each hour ``minutes`` apart, from 5 past when that fits
    (15 gives 5,20,35,50); when ``minutes`` does not divide 60, the first run is moved early
    enough that the gap across the hour is shorter, never longer. From an hour up: 5 past
    every ``minutes // 60`` hours from midnight, the gap across midnight likewise never longer.
    """
    if minutes < 60:
        runs_per_hour = 59 // minutes + 1
        first = min(SYNC_MINUTE_OFFSET % minutes, 59 - (runs_per_hour - 1) * minutes)
        if minutes == 1:
            return "* * * * *"
        return f"{','.join(str(first + run * minutes) for run in range(runs_per_hour))} * * * *"
    hours = minutes // 60
    if hours == 1:
        return f"{SYNC_MINUTE_OFFSET} * * * *"
    return f"{SYNC_MINUTE_OFFSET} {','.join(str(hour) for hour in range(0, 24, hours))} * * *"


def check_host(text: str) -> str:
    """An IPv4/IPv6 address (IPv6 with an optional zone: ``fe80::1%eth0``) or an RFC 1123
    host name; empty means 'not set' (the role checks that)."""
    if text == "" or is_address(text) or (is_host_name(text) and not text.replace(".", "").isdigit()):
        return text
    raise BadValue(f"{quoted(text)} is not an IPv4/IPv6 address or a host name")


def is_address(text: str) -> bool:
    """Whether ``text`` is an IP address; an IPv6 zone may hold only letters, digits, '_.-'.

    ``ipaddress`` alone takes any zone but '%' and '/' — a newline, a quote, a ';' — so the
    zone is checked here and the address is parsed without it.
    """
    if not _HOST_CHARACTERS.fullmatch(text):
        return False
    address, percent, zone = text.partition("%")
    if percent and not _ZONE_ID.fullmatch(zone):
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not percent or parsed.version == 6


def is_host_name(text: str) -> bool:
    """Whether ``text`` is an RFC 1123 host name: dot-separated labels of letters, digits and
    inner hyphens, at most 63 characters each and 253 in all."""
    return len(text.rstrip(".")) <= 253 and _HOSTNAME.fullmatch(text) is not None


def check_account(text: str) -> str:
    if not _ACCOUNT.fullmatch(text):
        raise BadValue(f"{quoted(text)} is not a valid user name (letters, digits, '_', '-', '.')")
    return text


def check_password(text: str) -> str:
    """The shared secret: the messages never show it."""
    if text == "":
        raise BadValue("the password is empty: set one with 'config setprop rsyncd password SECRET' on both hosts")
    if _NOT_UTF8.search(text):
        raise BadValue("the password holds bytes that are not UTF-8 text:"
                       " set it again with 'config setprop rsyncd password SECRET'")
    if _CONTROL.search(text) or text != text.strip():
        raise BadValue("the password contains a line break, a control character or surrounding spaces")
    if "|" in text:
        # NethServer's web API strips every '|' from a value and its config tool cuts the record there.
        raise BadValue("the password contains '|', which NethServer's tools strip or cut the record at:"
                       " choose one without '|' and set it on both hosts")
    if len(text.encode("utf-8")) > MAXIMUM_PASSWORD_BYTES:
        raise BadValue(f"the password is too long: rsync reads at most {MAXIMUM_PASSWORD_BYTES} bytes of it")
    if len(text) < MINIMUM_PASSWORD_LENGTH:
        raise BadValue(f"the password is too short: use at least {MINIMUM_PASSWORD_LENGTH} characters")
    return text


# The original HotSync's third role: its role action treats it as a master that does not push.
SERVER_ROLE = "server"


def check_role(text: str) -> str:
    if text not in ("", "master", "slave", SERVER_ROLE):
        raise BadValue(f"{quoted(text)} is not a role (expected master, slave, server or empty)")
    return text


TUNNEL_AUTH_MODES = ("psk", "certificate")


def check_tunnel_auth(text: str) -> str:
    """How the tunnel's ends authenticate: ``psk``, ``certificate``, or empty (``auto`` too) to
    let the installed stunnel's version decide."""
    lowered = text.lower()
    if lowered in ("", "auto"):
        return ""
    if lowered not in TUNNEL_AUTH_MODES:
        raise BadValue(f"{quoted(text)} is not a tunnel authentication (expected psk, certificate, "
                       "or empty to choose from the installed stunnel's version)")
    return lowered


def check_mail(text: str) -> str:
    """A mail address ``LOCAL@DOMAIN`` (the domain an RFC 1123 host name), or empty."""
    local, at, domain = text.rpartition("@")
    if text and not (at and _MAIL_LOCAL_PART.fullmatch(local) and is_host_name(domain)):
        raise BadValue(f"{quoted(text)} is not a mail address")
    return text


def check_path(text: str) -> str:
    unsafe = unsafe_character(text)
    if unsafe:
        raise BadValue(f"path {quoted(text)} contains {unsafe}")
    problem = host_path_problem(text)
    if problem:
        raise BadValue(f"path {quoted(text)} {problem}")
    return text


def check_optional_path(text: str) -> str:
    """A host path, or ``off`` (or empty) for none."""
    return check_path(text) if text not in ("", "off") else ""


def check_text(text: str) -> str:
    """Free text of a rule file (a warning, a file name pattern, a program's argument)."""
    unsafe = unsafe_character(text)
    if unsafe:
        raise BadValue(f"{quoted(text)} contains {unsafe}")
    return text


def printable(text: str) -> str:
    """``text`` with control characters made visible (``\\n``), and bytes that are not UTF-8
    shown as ``\\xNN``, for error messages."""
    return "".join(character if character.isprintable() else _escape(character) for character in text)


def _escape(character: str) -> str:
    if "\udc80" <= character <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(character) - 0xdc00:02x}"
    return character.encode("unicode_escape", "backslashreplace").decode("ascii")


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted on one line for an error message: control characters and bytes that
    are not UTF-8 escaped, a long value cut (with its length)."""
    shown = f"'{printable(text[:limit])}'"
    return shown if len(text) <= limit else f"{shown[:-1]}...' ({len(text)} characters)"


@frozen
class SettingKind:
    """A named setting: where it may appear, how it is checked, its default when not declared."""

    check: Callable[[str], Any]
    default: str
    description: str


GLOBAL_SETTINGS = {
    "role": SettingKind(check_role, "", "this host's role"),
    "status": SettingKind(check_switch, "enabled", "whether HotSync runs at all"),
    "databases": SettingKind(check_switch, "enabled", "whether database dumps are synced"),
    "restore_points": SettingKind(check_switch, "enabled",
                                  "whether the slave keeps a restore point per push (the replaced versions)"),
    "restore_points_keep": SettingKind(check_keep, "2h,2d,14d,8w",
                                       "how long the slave keeps every point, then one an hour, a day, a week"),
    "restore_points_free_space": SettingKind(check_free_space_floor, "10",
                                             "percent of the disk kept free by dropping the oldest restore points"),
    "compress": SettingKind(check_switch, "off", "rsync compression (costly on a LAN)"),
    "sync_interval": SettingKind(check_interval, str(DEFAULT_INTERVAL_MINUTES),
                                 "minutes between two pushes (the master's sync schedule, unless the rules set one)"),
    "mode": SettingKind(check_mode, "interval",
                        "how the master pushes: interval (cron only) or continuous (the hotsync-watch service too)"),
    "bwlimit": SettingKind(check_bwlimit, "", "the most a push sends, in KiB/s (empty: no cap)"),
    "max_delete": SettingKind(check_percent, "20", "largest share of the slave's files one run may delete"),
    "max_rewrite": SettingKind(check_percent, "30",
                               "largest share of the slave's files one run may rewrite before the brake pauses it"),
    "io_timeout": SettingKind(check_seconds, "600", "seconds without I/O before a transfer is abandoned"),
    "plugin_timeout": SettingKind(check_seconds, "60", "seconds a plugin may run"),
    "tunnel_port": SettingKind(check_port, "273", "the slave's stunnel port"),
    "rsync_port": SettingKind(check_port, "873", "the rsync daemon's port behind the tunnel"),
    "user": SettingKind(check_account, "hotsyncuser", "the rsync daemon's user"),
    "password": SettingKind(check_password, "", "the shared secret of both hosts"),
    "tunnel_auth": SettingKind(check_tunnel_auth, "",
                               "how the tunnel's ends prove they know the password: psk, certificate "
                               "or empty (psk when the installed stunnel has it, from 5.09)"),
    "notify": SettingKind(check_mail, "", "where failure mails go (empty: stderr only, cron mails root)"),
    "plugin_dir": SettingKind(check_path, PLUGIN_FOLDER, "folder of plugin executables"),
    # Sanoid's thresholds for a copy: late at 1.5x the interval between two pushes, stale at
    # 6x. Empty (the default), they follow sync_interval: 1350 s and 5400 s for 15 minutes.
    "freshness_warning": SettingKind(check_age_or_interval_multiple, "",
                                     "seconds without a complete push before a warning (empty: 1.5x the interval)"),
    "freshness_critical": SettingKind(check_age_or_interval_multiple, "",
                                      "seconds without a complete push before a critical alert (empty: 6x the interval)"),
    "metrics_dir": SettingKind(check_optional_path, METRICS_FOLDER,
                               "node_exporter's textfile collector folder for hotsync.prom (off: none written)"),
    "min_free_space": SettingKind(check_count, "1024",
                                  "MiB a promotion needs free on the slave, beside the size of the dumps it loads"),
    # Written by hotsync-promote (see hotsync/runtime/fence.py), not by the admin.
    "promotion_generation": SettingKind(check_count, "0", "how many promotions this host's data has seen"),
    "fence_port": SettingKind(check_optional_port, "",
                              "the port a promoted master answers its old master on, to refuse its pushes"),
    "promotion_started": SettingKind(
        check_count, "0", "when this slave's promotion started (epoch; 0: none under way): it then refuses every push"),
}

ROLE_SETTINGS = {
    "master": {"slave_host": SettingKind(check_host, "", "the slave's address")},
    "slave": {"master_host": SettingKind(check_host, "", "the master's address")},
}

ROLE_SCHEDULES = {
    "master": {"sync": "5,20,35,50 * * * *"},
    "slave": {"upkeep": "0 1 * * *", "fixperm": "0,15,30,45 * * * *", "health": "0,15,30,45 * * * *"},
}

def check_collection(text: str) -> str:
    """A software collection's name, as ``scl enable`` takes it (``rh-postgresql12``)."""
    if not _ACCOUNT.fullmatch(text):
        raise BadValue(f"{quoted(text)} is not a software collection name (letters, digits, '_', '-', '.')")
    return text


# How a dump (and the restore of its databases) reaches its server: the client's options,
# and who runs which client (run_as: a system account; collection: a software collection's).
DUMP_OPTIONS = {
    "host": check_host,
    "port": check_port,
    "socket": check_path,
    "user": check_account,
    "defaults_file": check_path,
    "run_as": check_account,
    "collection": check_collection,
}

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_ITEM = re.compile(r"(\*|[0-9]{1,9}(-[0-9]{1,9})?)(/[0-9]{1,9})?")


def check_cron(text: str) -> str:
    """Five cron fields of numbers, ranges, lists and steps (no names: they are easy to typo)."""
    fields = text.split()
    if len(fields) != 5 or unsafe_character(text):
        raise BadValue(f"{quoted(text)} is not a cron schedule (expected 5 fields: minute hour day month weekday)")
    for field, (name, low, high) in zip(fields, _CRON_FIELDS):
        for item in field.split(","):
            if not _CRON_ITEM.fullmatch(item):
                raise BadValue(f"cron {name} field {quoted(field)} is malformed")
            for number in re.findall(r"[0-9]+", item.split("/")[0]):
                if not low <= int(number) <= high:
                    raise BadValue(f"cron {name} {number} is out of range {low}-{high}")
            if "/" in item and int(item.split("/")[1]) == 0:
                raise BadValue(f"cron {name} step must not be 0")
    return text


@frozen
class ResolvedValue:
    """A value as the compiler sees it: its text and where it came from."""

    text: str
    span: Span
    from_database: bool


def database_span(key: str, prop: str) -> Span:
    return Span(f"configuration:{key}.{prop}")


def resolve_value(value, database) -> ResolvedValue:
    """The text of a literal, or of a setting read from ``database`` (falling back to its default)."""
    from .model import SettingRef

    if isinstance(value, SettingRef):
        stored: Optional[str] = database.get_prop(value.key, value.prop) if database is not None else None
        if stored is not None and not (stored == "" and value.default is not None):
            return ResolvedValue(stored, database_span(value.key, value.prop), True)
        if value.default is not None:
            return ResolvedValue(value.default.text, value.default.span, False)
        return ResolvedValue("", database_span(value.key, value.prop), True)
    return ResolvedValue(value.text, value.span, False)


def check_value(kind: SettingKind, resolved: ResolvedValue) -> Tuple[Any, Optional[str]]:
    """(converted value, None) or (None, the error message)."""
    try:
        return kind.check(resolved.text), None
    except BadValue as error:
        return None, str(error)
