"""Lay HotSync's integration into a root: events, database defaults, rule files, plugin folder.

Idempotent. A setting the admin changed is never overwritten (defaults only fill what
is missing), and a rule file the admin edited is kept: the new shipped version is put
beside it as ``FILE.hsnew``, the way rpm leaves ``.rpmnew`` files.
"""

import hashlib
import json
import secrets
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

from ..files import write_file_atomic
from ..frozen import frozen
from ..host import host_for
from ..paths import (
    API_FOLDER,
    API_SUDOERS,
    COCKPIT_APP_ENTRY,
    COCKPIT_APP_FOLDER,
    EVENTS_FOLDER,
    LOCAL_STUNNEL_UNIT,
    PLUGIN_FOLDER,
    RULES_FOLDER,
    STATE_FOLDER,
    STUNNEL_CONF,
    STUNNEL_PID,
    STUNNEL_PROGRAM,
    STUNNEL_UNIT,
    TEMPLATES_FOLDER,
    WATCH_UNIT,
)
from ..resources import shipped_folder
from ..root import Root
from .esmith import apply_database_defaults, database_path, edit_database

DEFAULTS_FOLDER = "/etc/e-smith/db/configuration/defaults"
MANIFEST = f"{STATE_FOLDER}/installed-rules.json"

# key -> (type, {prop: default}), as the original package ships them (reference §1)
DATABASE_DEFAULTS: Dict[str, Tuple[str, Dict[str, str]]] = {
    "hotsync": ("configuration", {
        "role": "", "status": "enabled", "MasterHost": "", "SlaveHost": "", "SlavePort": "273",
        "databases": "enabled", "Mode": "interval",
    }),
    "rsyncd": ("service", {"password": "", "status": "disabled", "TCPPort": "873"}),
    "stunnel": ("service", {"TCPPort": "273", "access": "", "status": "disabled"}),
    # The master's continuous push: the role action enables it when hotsync Mode is continuous.
    "hotsync-watch": ("service", {"status": "disabled"}),
}


TEMPLATE_LIST_FOLDER = "templates2expand"

API_EXECUTABLE_TEXT = """#!/bin/sh
# HotSync's web API, {name}: a JSON request on stdin, the JSON answer on stdout.
{command} api {name}
"""

API_SUDOERS_TEXT = """# HotSync's web API: NethServer's Cockpit runs these as root through sudo.
Cmnd_Alias NSAPI_NETHSERVER_HOTSYNC = \\
{commands}

Defaults!NSAPI_NETHSERVER_HOTSYNC !requiretty
"""

# The tunnel daemon as a service, for hosts whose stunnel package has no unit (EL7's 4.56).
# stunnel forks into the background itself and writes the pid file its configuration names.
STUNNEL_UNIT_TEXT = f"""[Unit]
Description=stunnel TLS tunnel (HotSync: master to slave)
Documentation=man:stunnel(8)
After=network.target

[Service]
Type=forking
PIDFile={STUNNEL_PID}
ExecStart={STUNNEL_PROGRAM} {STUNNEL_CONF}
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""

# The master's continuous push as a service. SIGTERM ends the watch with 143, a clean stop; a
# watch that failed (the slave unreachable at its start) is tried again.
WATCH_UNIT_TEXT = """[Unit]
Description=HotSync continuous push (master to slave)
After=network.target stunnel.service

[Service]
Type=simple
ExecStart={command} watch
SuccessExitStatus=143
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
"""


@frozen
class ShippedFile:
    """A file HotSync lays onto a host as it ships: ``hotsync install`` writes it, the RPM carries it."""

    host_path: str
    content: bytes
    mode: int


@frozen
class InstallReport:
    written: Tuple[str, ...]
    kept: Tuple[str, ...]  # admin-edited rule files left alone (new version beside them)
    defaults: Tuple[str, ...]
    generated_password: bool = False
    removed: Tuple[str, ...] = ()  # obsolete event entries an earlier version installed


def install(root: Root, defaults_only: bool = False) -> InstallReport:
    """Install into ``root``; returns what changed."""
    written: List[str] = []
    kept: List[str] = []
    removed: List[str] = []
    written += _write_default_files(root)
    if not defaults_only:
        written += _install_events(root)
        removed += _remove_template_entries_without_templates(root)
        rules_written, kept = _install_rules(root)
        written += rules_written
        root.path(PLUGIN_FOLDER).mkdir(parents=True, exist_ok=True)
        written += _install_stunnel_unit_where_missing(root)
        written += _install_watch_unit(root)
        written += _install_web_files(root)
    applied = apply_database_defaults(root)
    defaults = tuple(f"{item.key}.{item.prop}={item.value}" for item in applied if item.prop != "password")
    return InstallReport(tuple(written), tuple(kept), defaults, _generate_password_when_empty(root),
                         tuple(removed))


def _generate_password_when_empty(root: Root) -> bool:
    """Give a new host a strong shared secret, so it never runs with an empty one.

    The admin copies it to the other host (``config getprop rsyncd password`` there,
    ``config setprop rsyncd password …`` here); it is never printed by HotSync.
    """
    with edit_database(database_path(root)) as session:
        if session.get("rsyncd") is None or session.get_prop("rsyncd", "password"):
            return False
        session.set_prop("rsyncd", "password", secrets.token_urlsafe(24))
        return True


def _write_if_different(root: Root, host_path: str, content: bytes, mode: int) -> bool:
    target = root.path(host_path)
    try:
        if target.read_bytes() == content and target.stat().st_mode & 0o7777 == mode:
            return False
    except FileNotFoundError:
        pass
    write_file_atomic(target, content, mode=mode)
    return True


def database_default_files() -> List[ShippedFile]:
    """The e-smith default files of HotSync's records: ``defaults/KEY/type`` and one per property."""
    shipped = []
    for key, (record_type, props) in DATABASE_DEFAULTS.items():
        for prop, value in {"type": record_type, **props}.items():
            content = f"{value}\n".encode() if value else b""
            shipped.append(ShippedFile(f"{DEFAULTS_FOLDER}/{key}/{prop}", content, 0o644))
    return shipped


def event_files() -> List[ShippedFile]:
    """HotSync's events, as ``/etc/e-smith/events/EVENT/…``: handlers executable, the rest data."""
    source = shipped_folder("events")
    shipped = []
    for path in _shipped_files(source):
        relative = path.relative_to(source)
        # Handlers sit right in the event folder; the rest (services2adjust/) is data.
        mode = 0o755 if len(relative.parts) == 2 else 0o644
        shipped.append(ShippedFile(f"{EVENTS_FOLDER}/{relative.as_posix()}", path.read_bytes(), mode))
    return shipped


def rule_files() -> List[ShippedFile]:
    """The shipped rule files, as ``/etc/hotsync/…`` (the admin may edit them)."""
    source = shipped_folder("grammar") / "rules"
    return [
        ShippedFile(f"{RULES_FOLDER}/{path.relative_to(source).as_posix()}", path.read_bytes(), 0o644)
        for path in _shipped_files(source)
    ]


def api_files(hotsync_command: str) -> List[ShippedFile]:
    """The web API's executables, ``API_FOLDER/GROUP/VERB``: each runs ``hotsync api GROUP/VERB``
    with ``hotsync_command`` (the host's way to start hotsync, see ``Host.scheduled_command``)."""
    from ..api import endpoint_names  # the API's modules load only when its files are laid

    return [
        ShippedFile(f"{API_FOLDER}/{name}", API_EXECUTABLE_TEXT.format(name=name, command=hotsync_command).encode(),
                    0o755)
        for name in endpoint_names()
    ]


def api_sudoers_file(names: Sequence[str]) -> ShippedFile:
    """Let Cockpit's user run the API executables ``names`` as root (``nethserver.exec`` uses sudo)."""
    commands = ", \\\n".join(f"    {API_FOLDER}/{name}" for name in names)
    text = API_SUDOERS_TEXT.format(commands=commands)
    return ShippedFile(API_SUDOERS, text.encode(), 0o440)


def cockpit_files() -> List[ShippedFile]:
    """The Cockpit app (its manifest and page) and its entry in NethServer's application list."""
    source = shipped_folder("cockpit")
    shipped = [
        ShippedFile(f"{COCKPIT_APP_FOLDER}/{path.relative_to(source / 'app').as_posix()}", path.read_bytes(), 0o644)
        for path in _shipped_files(source / "app")
    ]
    entry = source / "nethserver-hotsync.json"
    shipped.append(ShippedFile(COCKPIT_APP_ENTRY, entry.read_bytes(), 0o644))
    return shipped


def web_files(hotsync_command: str) -> List[ShippedFile]:
    """Everything the web UI needs on a host: the API, its sudoers rule, the app."""
    api = api_files(hotsync_command)
    names = [shipped.host_path[len(API_FOLDER) + 1:] for shipped in api]
    return [*api, api_sudoers_file(names), *cockpit_files()]


def stunnel_unit_file() -> ShippedFile:
    """The stunnel service for hosts whose stunnel has none (EL7's)."""
    return ShippedFile(STUNNEL_UNIT, STUNNEL_UNIT_TEXT.encode(), 0o644)


def watch_unit_file(hotsync_command: str) -> ShippedFile:
    """The ``hotsync-watch`` service: ``hotsync watch`` run by ``hotsync_command``."""
    return ShippedFile(WATCH_UNIT, WATCH_UNIT_TEXT.format(command=hotsync_command).encode(), 0o644)


def _write_default_files(root: Root) -> List[str]:
    return [
        shipped.host_path
        for shipped in database_default_files()
        if _write_if_different(root, shipped.host_path, shipped.content, shipped.mode)
    ]


def _shipped_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "__init__.py" and "__pycache__" not in path.parts:
            yield path


def _install_web_files(root: Root) -> List[str]:
    command = host_for(root).scheduled_command("hotsync")
    return [
        shipped.host_path
        for shipped in web_files(command)
        if _write_if_different(root, shipped.host_path, shipped.content, shipped.mode)
    ]


def _install_events(root: Root) -> List[str]:
    return [
        shipped.host_path
        for shipped in event_files()
        if _write_if_different(root, shipped.host_path, shipped.content, shipped.mode)
    ]


def _remove_template_entries_without_templates(root: Root) -> List[str]:
    """Remove the ``templates2expand`` entries of HotSync's events that name no e-smith template.

    Earlier HotSync versions listed their generated files there without shipping templates:
    NethServer's ``signal-event`` then fails with "No templates were found" before the compiler
    runs. Entries with real fragments under ``/etc/e-smith/templates/`` are the admin's and stay.
    """
    removed = []
    for event in sorted(path.name for path in shipped_folder("events").iterdir() if path.is_dir()):
        listed = root.path(f"{EVENTS_FOLDER}/{event}/{TEMPLATE_LIST_FOLDER}")
        if not listed.is_dir():
            continue
        for entry in sorted(path for path in listed.rglob("*") if not path.is_dir()):
            relative = entry.relative_to(listed).as_posix()
            if not root.path(f"{TEMPLATES_FOLDER}/{relative}").is_dir():
                entry.unlink()
                removed.append(f"{EVENTS_FOLDER}/{event}/{TEMPLATE_LIST_FOLDER}/{relative}")
        _remove_empty_folders(listed)
    return removed


def _remove_empty_folders(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), key=lambda path: len(path.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def _install_stunnel_unit_where_missing(root: Root) -> List[str]:
    """Give stunnel a systemd unit when the host has none (EL7's stunnel package ships none);
    a unit the platform or the admin put in place is left alone."""
    if root.path(STUNNEL_UNIT).exists() or root.path(LOCAL_STUNNEL_UNIT).exists():
        return []
    unit = stunnel_unit_file()
    write_file_atomic(root.path(unit.host_path), unit.content, mode=unit.mode)
    host_for(root).reload_service_definitions()
    return [STUNNEL_UNIT]


def _install_watch_unit(root: Root) -> List[str]:
    unit = watch_unit_file(host_for(root).scheduled_command("hotsync"))
    if not _write_if_different(root, unit.host_path, unit.content, unit.mode):
        return []
    host_for(root).reload_service_definitions()
    return [unit.host_path]


def _install_rules(root: Root) -> Tuple[List[str], List[str]]:
    manifest = _read_manifest(root)
    written, kept = [], []
    for shipped in rule_files():
        host_path, content = shipped.host_path, shipped.content
        target = root.path(host_path)
        if target.exists() and _digest(target.read_bytes()) not in (manifest.get(host_path), _digest(content)):
            if _write_if_different(root, host_path + ".hsnew", content, shipped.mode):
                kept.append(host_path)
            continue
        if _write_if_different(root, host_path, content, shipped.mode):
            written.append(host_path)
        manifest[host_path] = _digest(content)
    write_file_atomic(root.path(MANIFEST), json.dumps(manifest, indent=2, sort_keys=True) + "\n", mode=0o644)
    return written, kept


def _read_manifest(root: Root) -> Dict[str, str]:
    try:
        return json.loads(root.path(MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
