"""HotSync's services under systemd, as on NethServer 7 (units ``stunnel``, ``rsyncd`` and ``hotsync-watch``)."""

from typing import List

from ..errors import CommandError, last_lines
from ..host import JobRunning, ServiceError, ServiceStatus, check_action, check_service_name
from ..programs import run_command

SYSTEMCTL_TIMEOUT_SECONDS = 120
# systemctl verb for each action; reload falls back to restart for a unit that cannot reload
_SYSTEMCTL_VERBS = {"start": "start", "stop": "stop", "restart": "restart", "reload": "reload-or-restart"}


def service_status(name: str) -> ServiceStatus:
    """The unit's state, from ``systemctl show``. Raises ``ServiceError`` for an unknown name."""
    check_service_name(name)
    return _systemd_status(name)


def start_service(name: str) -> ServiceStatus:
    check_service_name(name)
    _systemctl("start", name)
    return _systemd_status(name)


def stop_service(name: str) -> ServiceStatus:
    check_service_name(name)
    _systemctl("stop", name)
    return _systemd_status(name)


def restart_service(name: str) -> ServiceStatus:
    check_service_name(name)
    _systemctl("restart", name)
    return _systemd_status(name)


def adjust_service(name: str, action: str) -> ServiceStatus:
    """``reload`` asks systemd to reload, or to restart a unit that cannot."""
    check_service_name(name)
    check_action(name, action)
    _systemctl(_SYSTEMCTL_VERBS[action], name)
    return _systemd_status(name)


def apply_service_state(name: str, enabled: bool, action: str = "restart") -> ServiceStatus:
    """Enabled → ``action``, disabled → stop; the unit is also enabled or disabled at boot,
    so the state survives a reboot."""
    check_service_name(name)
    _systemctl("enable" if enabled else "disable", name)
    if enabled:
        return adjust_service(name, action)
    return stop_service(name)


def reload_units() -> None:
    """``systemctl daemon-reload``: systemd knows a unit file only once it has read it."""
    try:
        run_command(["systemctl", "daemon-reload"], timeout=SYSTEMCTL_TIMEOUT_SECONDS)
    except CommandError as error:
        raise ServiceError(f"systemctl daemon-reload failed: {last_lines(error.output) or error}") from None


def unit_active(name: str) -> bool:
    """Whether unit ``name`` is active now (a transient one included)."""
    finished = run_command(["systemctl", "is-active", "--quiet", name], timeout=SYSTEMCTL_TIMEOUT_SECONDS, check=False)
    return finished.returncode == 0


def start_transient_unit(name: str, argv: List[str]) -> str:
    """Run ``argv`` as transient service ``name`` (``systemd-run``), which outlives its caller
    and logs to the journal; raises ``JobRunning`` while a unit of that name is active."""
    if unit_active(name):
        raise JobRunning(f"{name} is already running (see 'journalctl -u {name}')")
    # A unit that failed stays loaded under its name and would block the new one.
    run_command(["systemctl", "reset-failed", name], timeout=SYSTEMCTL_TIMEOUT_SECONDS, check=False)
    try:
        run_command(["systemd-run", f"--unit={name}", "--setenv=HOME=/root", *argv], timeout=SYSTEMCTL_TIMEOUT_SECONDS)
    except CommandError as error:
        raise ServiceError(f"{name}: systemd-run failed: {last_lines(error.output) or error}") from None
    return f"started {name} (follow it with 'journalctl -u {name}')"


def _systemctl(verb: str, name: str) -> None:
    try:
        run_command(["systemctl", verb, name], timeout=SYSTEMCTL_TIMEOUT_SECONDS)
    except CommandError as error:
        raise ServiceError(f"{name}: systemctl {verb} failed: {last_lines(error.output) or error}"
                           f" (see 'journalctl -u {name}')") from None


def _systemd_status(name: str) -> ServiceStatus:
    finished = run_command(
        ["systemctl", "show", "--property=ActiveState", "--property=MainPID", name],
        timeout=SYSTEMCTL_TIMEOUT_SECONDS,
        check=False,
    )
    properties = dict(line.split("=", 1) for line in finished.stdout.splitlines() if "=" in line)
    running = properties.get("ActiveState") == "active"
    pid = int(properties.get("MainPID", "0") or 0) if running else 0
    return ServiceStatus(name, running, pid or None)
