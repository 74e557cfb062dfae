"""The named settings of the rule language: what each means, its kind, its default, its check.

``global { NAME = VALUE }`` and ``role ROLE { NAME = VALUE }`` may only use the names
listed here. A value is a literal or ``setting KEY.PROP [default VALUE]`` read from the
configuration database. Every value that can end up in a generated file is checked here,
so nothing a user types can add a line or an option to those files.
"""

import ipaddress
import re
from typing import Any, Callable, Optional, Tuple

from .errors import Span
from .frozen import frozen

MINIMUM_PASSWORD_LENGTH = 12

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_ACCOUNT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_MAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = {"on", "yes", "true", "enabled", "1"}
_FALSE = {"off", "no", "false", "disabled", "0"}


class BadValue(ValueError):
    """A value that fails its check; the message says what was expected."""


def check_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise BadValue(f"'{text}' is not a TCP port (expected a number from 1 to 65535)")
    return int(text)


def check_optional_port(text: str) -> int:
    """A port, or empty for none (0)."""
    return check_port(text) if text != "" else 0


def check_count(text: str) -> int:
    if not text.isdigit():
        raise BadValue(f"'{printable(text)}' is not a whole number (expected 0, 1, 2...)")
    return int(text)


def check_switch(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(f"'{text}' is not a switch (expected enabled/disabled, on/off, yes/no)")


def check_percent(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 100:
        raise BadValue(f"'{text}' is not a percentage (expected 0% to 100%)")
    return int(text)


def check_seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise BadValue(f"'{text}' is not a duration (expected a whole number of seconds, at least 1)")
    return int(text)


def check_host(text: str) -> str:
    """An IPv4/IPv6 address or a host name; empty means 'not set' (the role checks that)."""
    if text == "":
        return text
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if _HOSTNAME.match(text) and not text.replace(".", "").isdigit():
        return text
    raise BadValue(f"'{printable(text)}' is not an IPv4/IPv6 address or a host name")


def check_account(text: str) -> str:
    if not _ACCOUNT.match(text):
        raise BadValue(f"'{printable(text)}' is not a valid user name (letters, digits, '_', '-', '.')")
    return text


def check_password(text: str) -> str:
    if text == "":
        raise BadValue("the password is empty: set one with 'config setprop rsyncd password SECRET' on both hosts")
    if _CONTROL.search(text) or text != text.strip():
        raise BadValue("the password contains a line break, a control character or surrounding spaces")
    if len(text) < MINIMUM_PASSWORD_LENGTH:
        raise BadValue(f"the password is too short: use at least {MINIMUM_PASSWORD_LENGTH} characters")
    return text


def check_role(text: str) -> str:
    if text not in ("", "master", "slave"):
        raise BadValue(f"'{printable(text)}' is not a role (expected master, slave or empty)")
    return text


def check_mail(text: str) -> str:
    if text and not _MAIL.match(text):
        raise BadValue(f"'{printable(text)}' is not a mail address")
    return text


def check_path(text: str) -> str:
    if _CONTROL.search(text):
        raise BadValue(f"path '{printable(text)}' contains a line break or a control character")
    if not text.startswith("/"):
        raise BadValue(f"path '{text}' is relative: write it from the root, starting with '/'")
    if ".." in text.split("/"):
        raise BadValue(f"path '{text}' contains '..': write it without going up")
    return text


def printable(text: str) -> str:
    """``text`` with control characters made visible, for error messages."""
    return text.encode("unicode_escape").decode("ascii")


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
    "compress": SettingKind(check_switch, "off", "rsync compression (costly on a LAN)"),
    "max_delete": SettingKind(check_percent, "20", "largest share of the slave's files one run may delete"),
    "io_timeout": SettingKind(check_seconds, "600", "seconds without I/O before a transfer is abandoned"),
    "plugin_timeout": SettingKind(check_seconds, "60", "seconds a plugin may run"),
    "tunnel_port": SettingKind(check_port, "273", "the slave's stunnel port"),
    "rsync_port": SettingKind(check_port, "873", "the rsync daemon's port behind the tunnel"),
    "user": SettingKind(check_account, "hotsyncuser", "the rsync daemon's user"),
    "password": SettingKind(check_password, "", "the shared secret of both hosts"),
    "notify": SettingKind(check_mail, "", "where failure mails go (empty: stderr only, cron mails root)"),
    "plugin_dir": SettingKind(check_path, "/etc/hotsync.d", "folder of plugin executables"),
    # Written by hotsync-promote (see hotsync/runtime/fence.py), not by the admin.
    "promotion_generation": SettingKind(check_count, "0", "how many promotions this host's data has seen"),
    "fence_port": SettingKind(check_optional_port, "", "the port a promoted master answers its old master on, to refuse its pushes"),
    "promotion_started": SettingKind(check_count, "0", "when this slave's promotion started (epoch; 0: none under way): it then refuses every push"),
}

ROLE_SETTINGS = {
    "master": {"slave_host": SettingKind(check_host, "", "the slave's address")},
    "slave": {"master_host": SettingKind(check_host, "", "the master's address")},
}

ROLE_SCHEDULES = {
    "master": {"sync": "5,20,35,50 * * * *"},
    "slave": {"upkeep": "0 1 * * *", "fixperm": "0,15,30,45 * * * *"},
}

DUMP_OPTIONS = {
    "host": check_host,
    "port": check_port,
    "socket": check_path,
    "user": check_account,
    "defaults_file": check_path,
}

_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_ITEM = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")


def check_cron(text: str) -> str:
    """Five cron fields of numbers, ranges, lists and steps (no names: they are easy to typo)."""
    fields = text.split()
    if len(fields) != 5 or _CONTROL.search(text):
        raise BadValue(f"'{printable(text)}' is not a cron schedule (expected 5 fields: minute hour day month weekday)")
    for field, (name, low, high) in zip(fields, _CRON_FIELDS):
        for item in field.split(","):
            if not _CRON_ITEM.match(item):
                raise BadValue(f"cron {name} field '{field}' is malformed")
            for number in re.findall(r"\d+", item.split("/")[0]):
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
    from .dsl.model import SettingRef

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
