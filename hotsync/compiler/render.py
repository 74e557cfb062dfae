"""Plan -> file contents, rendered with jinja2 from ``templates/``; one table says each file's mode.

Rendering writes nothing (it reads only the caches of the tunnel's key and certificate): it
returns ``Output`` values that ``apply.py`` writes. Templates hold layout only; every decision is in the plan
or in the context built here. No value of the context may hold a line break or a control
character, whatever the validator let through: such a value could add a line to a file.
"""

import functools
import shlex
import shutil
from typing import List, Optional, Tuple

import jinja2

from .. import paths
from ..errors import HotsyncError
from ..frozen import fields, frozen, is_frozen
from ..plan import Plan
from ..resources import shipped_folder
from ..root import Root
from . import tunnel_certificate, tunnel_key
from .settings import unsafe_character
from .tunnel_auth import tls_version_option

PSK_IDENTITY = "hotsync"
# rsync options the slave's daemon refuses: no push of HotSync uses them (see
# runtime/push.py), and each would let a client write outside the pushed paths (link or
# compare folders, temporary folders, links followed on the slave), leave
# half-written files (the slave keeps every file whole), or rewrite owners and modes the
# master did not send. Every name exists in rsync 3.1.2's daemon. ``--backup`` and
# ``--backup-dir`` are allowed (their folder lies in the module like any pushed path):
# the restore points (runtime/points.py) are made with them.
REFUSED_RSYNC_OPTIONS = (
    "remove-source-files", "remove-sent-files", "suffix",
    "link-dest", "copy-dest", "compare-dest", "temp-dir", "partial", "partial-dir",
    "inplace", "append", "append-verify", "write-batch", "only-write-batch", "read-batch",
    "keep-dirlinks", "chown", "usermap", "groupmap", "chmod", "fake-super", "super",
)


@frozen
class Output:
    """One generated file: host path, content, mode and owner."""

    path: str
    content: str
    mode: int
    owner: str = "root"
    group: str = "root"


# host path, template, mode — the one table of every file the compiler writes from a template
# (the certificate, its key and the caches of derived secrets are in ``secret_outputs``)
OUTPUT_FILES: Tuple[Tuple[str, str, int], ...] = (
    (paths.HOTSYNC_CONF, "hotsync.conf.j2", 0o644),
    (paths.RSYNCD_CONF, "rsyncd.conf.j2", 0o644),
    (paths.RSYNCD_MOTD, "rsyncd.motd.j2", 0o644),
    (paths.RSYNCD_SECRETS, "rsyncd.secrets.j2", 0o600),
    (paths.RSYNC_PASSWORD, "rsync.password.j2", 0o600),
    (paths.STUNNEL_CONF, "stunnel.conf.j2", 0o644),
    (paths.STUNNEL_PSK, "hotsync.psk.j2", 0o600),
    (paths.CRON_FILE, "cron.j2", 0o644),
)


@functools.lru_cache(maxsize=None)
def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(shipped_folder("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


@frozen
class HostCommands:
    """What the generated files say about the host they are for, handed in by the caller
    (the compiler reads no platform: ``hotsync.host`` knows these): how cron and the rsync
    daemon start ``hotsync`` and ``hotsync-slave``, and whether the rsync daemon may switch
    to root (a sandbox daemon run by a normal user cannot)."""

    hotsync: str
    hotsync_slave: str
    switch_to_root: bool


def render_context(root: Root, plan: Plan, resolved, commands: HostCommands) -> dict:
    password = resolved.values.get("password") or ""
    fence = fence_context(root, resolved, commands)
    return {
        "plan": plan,
        "transport": plan.transport,
        "password": password,
        "psk_identity": PSK_IDENTITY,
        "psk": tunnel_key.tunnel_key(root, password) if password else "",
        # Whether stunnel runs a service at all, and so needs the tunnel's secret.
        "tunnel_needed": (plan.role in ("master", "slave") and plan.enabled) or (plan.role == "master" and bool(fence["port"])),
        "tls_version_option": tls_version_option(plan.tools.stunnel),
        "paths": {
            "base": str(root.path("/")).rstrip("/") + "/",
            "rsyncd_secrets": str(root.path(paths.RSYNCD_SECRETS)),
            "rsyncd_pid": str(root.path(paths.RSYNCD_PID)),
            "rsyncd_lock": str(root.path(paths.RSYNCD_LOCK)),
            "rsyncd_log": str(root.path(paths.RSYNCD_LOG)),
            "rsyncd_motd": str(root.path(paths.RSYNCD_MOTD)),
            "stunnel_pid": str(root.path(paths.STUNNEL_PID)),
            "stunnel_log": str(root.path(paths.STUNNEL_LOG)),
            "psk": str(root.path(plan.transport.psk_file)),
            "certificate": str(root.path(plan.transport.certificate_file)),
            "certificate_key": str(root.path(plan.transport.key_file)),
            "fence": str(root.path(f"{paths.STATE_FOLDER}/fence.json")),
        },
        "switch_to_root": commands.switch_to_root,
        "hotsync": commands.hotsync,
        "hotsync_slave": commands.hotsync_slave,
        "stamp_marker_command": f"{commands.hotsync_slave} stamp-marker",
        "begin_push_command": f"{commands.hotsync_slave} begin-push",
        "note_push_command": note_push_command(root),
        "refused_options": " ".join(REFUSED_RSYNC_OPTIONS),
        # Longer than rsync's own I/O timeout, so a stalled transfer ends with rsync's clear
        # message; the tunnel's limit only reaps connections nobody is left to end.
        "tunnel_idle_timeout": plan.limits.io_timeout * 2 + 60,
        # stunnel (4.56 as 5.x) splits 'connect' at its last ':' and hands the host to
        # getaddrinfo as it is: an IPv6 address goes in bare, brackets would be part of the name.
        "connect_host": plan.slave_host,
        "fence": fence,
    }


def note_push_command(root: Root) -> str:
    """The slave's ``pre-xfer exec`` without a fence: the push noted as running, under the lock
    that sealing restore points takes (see ``runtime/sealing.py``), with no Python to start
    before each push. A note it cannot write never refuses the push."""
    transfers = shlex.quote(str(root.path(paths.TRANSFERS_FOLDER)))
    lock = shlex.quote(str(root.path(paths.POINTS_LOCK_PATH)))
    return f'mkdir -p {transfers} && flock {lock} touch {transfers}/"$RSYNC_PID" || true'


def fence_context(root: Root, resolved, commands: HostCommands) -> dict:
    """What the daemons need to refuse pushes on a promoted host (see ``runtime/fence.py``).

    ``closed``: the host takes no push at all, so the daemons offer only the fence (a
    promoted master that answers its old master, or a slave whose promotion has started).
    A started promotion fences the port the master pushes to.
    """
    check = commands.hotsync_slave
    role = resolved.values.get("role")
    promoting = role == "slave" and bool(resolved.values.get("promotion_started"))
    port = resolved.values.get("tunnel_port") if promoting else resolved.values.get("fence_port") or 0
    generation = resolved.values.get("promotion_generation") or 0
    closed = bool(port) and (role == "master" or promoting)
    return {
        "generation": generation,
        "port": port,
        "promoting": promoting,
        "closed": closed,
        # What the daemon's greeting tells a pushing master, so that it can say why a push was
        # refused even when the daemon (rsync < 3.2.0) does not pass the check's words on.
        "announced": closed or (role == "slave" and bool(generation)),
        "role": role or "",
        "promotion_started": resolved.values.get("promotion_started") or 0,
        "check_command": f"{check} check-push",
        "rsync": shutil.which("rsync") or "/usr/bin/rsync",
        "rsyncd_conf": str(root.path(paths.RSYNCD_CONF)),
    }


def render_outputs(root: Root, plan: Plan, resolved, commands: HostCommands) -> List[Output]:
    """Every generated file's content for the host ``commands`` describes, in memory, with the
    tunnel's derived secrets and their caches (``secret_outputs``).

    Raises ``UnsafeValue`` when a value of the context holds a control character.
    """
    environment = template_environment()
    context = render_context(root, plan, resolved, commands)
    refuse_unsafe_values(context)
    outputs = [
        Output(path=path, content=_render(environment, template, context), mode=mode)
        for path, template, mode in OUTPUT_FILES
    ]
    return outputs + secret_outputs(root, plan, context)


def secret_outputs(root: Root, plan: Plan, context: dict) -> List[Output]:
    """The certificate and its key (empty unless the tunnel authenticates with them), and the
    caches that spare the next compile the slow derivations."""
    password, psk = context["password"], context["psk"]
    wanted = psk and context["tunnel_needed"] and plan.transport.auth == "certificate"
    certificate = tunnel_certificate.tunnel_certificate(root, psk) if wanted else None
    outputs = [
        Output(path=plan.transport.certificate_file, content=certificate.certificate if certificate else "", mode=0o600),
        Output(path=plan.transport.key_file, content=certificate.key if certificate else "", mode=0o600),
    ]
    if psk:
        outputs.append(Output(path=tunnel_key.CACHE_PATH, content=tunnel_key.cache_content(password, psk),
                              mode=tunnel_key.CACHE_MODE))
    if certificate:
        outputs.append(Output(path=tunnel_certificate.CACHE_PATH, content=tunnel_certificate.cache_content(psk, certificate),
                              mode=tunnel_certificate.CACHE_MODE))
    return outputs


class UnsafeValue(HotsyncError):
    """A value about to be rendered holds a line break or a control character: the checks of
    the settings should have refused it, so this is a bug, and nothing is written."""


def refuse_unsafe_values(context: dict) -> None:
    """Raise ``UnsafeValue`` naming the first value of ``context`` (walked through mappings,
    sequences and frozen classes such as the plan) that holds a control character, a line
    break or bytes that are not UTF-8. The message names where, never the value (it may be
    the password)."""
    found = _find_unsafe_value(context, "")
    if found:
        where, what = found
        raise UnsafeValue(
            f"cannot render the configuration: the value {where} holds {what}; nothing was written. "
            "The setting it comes from should have been refused: please report this as a bug")


def _find_unsafe_value(value, where: str) -> Optional[Tuple[str, str]]:
    if isinstance(value, str):
        what = unsafe_character(value)
        return (where, what) if what else None
    if isinstance(value, dict):
        items = [(f"{where}.{key}" if where else str(key), item) for key, item in value.items()]
        items += [(f"{where} (a key)", key) for key in value]
    elif isinstance(value, (list, tuple)):
        items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    elif is_frozen(value) and not isinstance(value, type):
        items = [(f"{where}.{item.name}", getattr(value, item.name)) for item in fields(value)]
    else:
        return None  # numbers, booleans, None: nothing to break a line with
    for item_where, item in items:
        found = _find_unsafe_value(item, item_where)
        if found:
            return found
    return None


class TemplateFailure(HotsyncError):
    """A shipped template could not be rendered: a bug or a damaged installation, not a user error."""


def _render(environment: jinja2.Environment, template: str, context: dict) -> str:
    try:
        return environment.get_template(template).render(context)
    except jinja2.TemplateError as error:
        raise TemplateFailure(
            f"cannot render template {template}: {error}; nothing was written. "
            "Reinstall HotSync; if this persists, report it as a bug"
        ) from None
