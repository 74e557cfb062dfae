"""The sandbox's supervisor for HotSync's two daemons, ``stunnel`` and ``rsyncd``, and for
the master's continuous push, ``hotsync-watch`` (``hotsync --root ROOT watch``).

A sandbox root has no systemd of its own: the supervisor starts the real daemons with
that root's generated configuration files, keeps their pid files under
``<root>/var/run/`` and stops them cleanly, so that two sandbox hosts can run side by
side on one machine.

A daemon that fails to start is a ``ServiceError`` carrying the daemon's own
message, never a silent success.
"""

import os
import signal
import sysconfig
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .. import paths
from ..digits import ascii_number, is_ascii_number
from ..errors import CommandError, last_lines
from ..files import write_file_atomic
from ..frozen import frozen
from ..host import WATCH_SERVICE, ServiceError, ServiceStatus, check_action, check_service_name
from ..programs import run_command, start_detached
from ..root import Root
from ..tool_versions import stunnel_program
from .processes import command_line, listening_ports, process_alive, processes_using, read_pid

LAUNCH_TIMEOUT_SECONDS = 30
READY_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
# A watch that cannot run (no plan, not a master) exits within this; one that lives past it runs.
WATCH_START_SECONDS = 1.0
POLL_INTERVAL_SECONDS = 0.05


@frozen
class DaemonConfig:
    """What the supervisor needs from a daemon's configuration file."""

    path: Path
    pid_file: Optional[Path]
    ports: Tuple[int, ...]
    log_file: Optional[Path]
    foreground: bool


# ----------------------------------------------------------------------------- public API


def service_status(root: Root, name: str) -> ServiceStatus:
    """The state of service ``name`` on ``root``. Raises ``ServiceError`` for an unknown name."""
    check_service_name(name)
    pid = _running_pid(root, name)
    return ServiceStatus(name, pid is not None, pid)


def start_service(root: Root, name: str) -> ServiceStatus:
    """Start ``name`` unless it already runs; return its state once it serves.

    The call returns only when the pid file names a live process and every port of
    the configuration is listening. Raises ``ServiceError`` with the daemon's own
    message when it does not get there.
    """
    check_service_name(name)
    config = load_daemon_config(root, name) if name != WATCH_SERVICE else None
    running = _running_pid(root, name)
    if running is not None:
        return ServiceStatus(name, True, running)
    _remove_stale_pid_file(root, name)
    if config is None:
        _launch_watch(root)
    else:
        _launch_daemon(root, name, config)
    return ServiceStatus(name, True, _running_pid(root, name))


def stop_service(root: Root, name: str) -> ServiceStatus:
    """Stop ``name`` if it runs (SIGTERM, then SIGKILL after a timeout); remove a stale pid file."""
    check_service_name(name)
    pid = _running_pid(root, name)
    if pid is not None:
        _terminate(name, pid)
    _remove_stale_pid_file(root, name)
    return ServiceStatus(name, False)


def restart_service(root: Root, name: str) -> ServiceStatus:
    """Stop then start ``name``."""
    check_service_name(name)
    stop_service(root, name)
    return start_service(root, name)


def adjust_service(root: Root, name: str, action: str) -> ServiceStatus:
    """Apply ``action`` (start, stop, restart or reload) to ``name``.

    ``reload`` restarts: a restart is what makes both daemons read a new configuration.
    """
    check_service_name(name)
    check_action(name, action)
    if action == "start":
        return start_service(root, name)
    if action == "stop":
        return stop_service(root, name)
    return restart_service(root, name)


def apply_service_state(root: Root, name: str, enabled: bool, action: str = "restart") -> ServiceStatus:
    """What e-smith's adjust-services does for one service: enabled → ``action``, disabled → stop."""
    check_service_name(name)
    if enabled:
        return adjust_service(root, name, action)
    return stop_service(root, name)


def load_daemon_config(root: Root, name: str) -> DaemonConfig:
    """Read the sandbox daemon's generated configuration and check what the supervisor relies on.

    Raises ``ServiceError`` when the file is missing, names another pid file than
    ``<root>/var/run/NAME.pid``, or asks the daemon to stay in the foreground.
    """
    check_service_name(name)
    path = root.path(_CONFIG_FILES[name])
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ServiceError(
            f"{name}: configuration file {path} is missing; "
            f"run 'hotsync --root {root} compile' (or signal-event nethserver-hotsync-update) first"
        ) from None
    config = _PARSERS[name](path, text)
    _check_pid_file(root, name, config)
    if config.foreground:
        raise ServiceError(f"{name}: {path} sets 'foreground = yes'; the supervisor needs a daemon that detaches")
    return config


# ----------------------------------------------------------------------------- sandbox supervisor

_CONFIG_FILES = {"stunnel": paths.STUNNEL_CONF, "rsyncd": paths.RSYNCD_CONF}
# where rsync logs when its configuration names no log file: inside the root, not the host's syslog
_RSYNCD_FALLBACK_LOG = paths.RSYNCD_LOG


def _pid_file(root: Root, name: str) -> Path:
    return root.path(f"/var/run/{name}.pid")


def _check_pid_file(root: Root, name: str, config: DaemonConfig) -> None:
    # the supervisor finds the daemon only through this file; another one would also
    # let a sandbox daemon write outside its root
    expected = _pid_file(root, name)
    option = "pid" if name == "stunnel" else "pid file"
    if config.pid_file is None or os.path.normpath(config.pid_file) != os.path.normpath(expected):
        found = f"'{option} = {config.pid_file}'" if config.pid_file else f"no '{option}' line"
        raise ServiceError(f"{name}: {config.path} has {found}; the supervisor needs '{option} = {expected}'")


def _launch_argv(root: Root, name: str, config: DaemonConfig) -> List[str]:
    if name == "stunnel":
        return [stunnel_program(), str(config.path)]
    argv = ["rsync", "--daemon", f"--config={config.path}"]
    if config.log_file is None:
        argv.append(f"--log-file={root.path(_RSYNCD_FALLBACK_LOG)}")
    return argv


def _log_file(root: Root, name: str, config: DaemonConfig) -> Optional[Path]:
    if config.log_file is not None:
        return config.log_file
    return root.path(_RSYNCD_FALLBACK_LOG) if name == "rsyncd" else None


def _launch_daemon(root: Root, name: str, config: DaemonConfig) -> None:
    """Run the daemon's launcher, then wait until it serves; raise with its own words if not."""
    log_file = _log_file(root, name, config)
    _make_folders_in_root(root, [_pid_file(root, name), log_file])
    log_offset = _file_size(log_file)
    try:
        finished = run_command(_launch_argv(root, name, config), timeout=LAUNCH_TIMEOUT_SECONDS, check=False)
    except CommandError as error:
        raise ServiceError(f"{name} failed to start: {error}") from None
    launcher_output = finished.stderr + finished.stdout
    if finished.returncode != 0:
        raise ServiceError(f"{name} failed to start: {_daemon_message(launcher_output, log_file, log_offset)}")
    problem = _wait_until_serving(root, name, config)
    if problem:
        raise ServiceError(f"{name} failed to start ({problem}): "
                           f"{_daemon_message(launcher_output, log_file, log_offset)}")


def _watch_argv(root: Root) -> List[str]:
    return [os.path.join(sysconfig.get_path("scripts"), "hotsync"), "--root", str(root.base), "watch"]


def _launch_watch(root: Root) -> None:
    """Start ``hotsync watch`` detached, like systemd would; raise with its words if it exits at once."""
    log_file = root.path(paths.WATCH_LOG)
    _make_folders_in_root(root, [_pid_file(root, WATCH_SERVICE), log_file])
    log_offset = _file_size(log_file)
    try:
        pid = start_detached(_watch_argv(root), output_path=str(log_file))
    except CommandError as error:
        raise ServiceError(f"{WATCH_SERVICE} failed to start: {error}") from None
    write_file_atomic(_pid_file(root, WATCH_SERVICE), f"{pid}\n", mode=0o644, durable=False)
    deadline = time.monotonic() + WATCH_START_SECONDS
    while time.monotonic() < deadline:
        if _running_pid(root, WATCH_SERVICE) is None:
            raise ServiceError(f"{WATCH_SERVICE} failed to start: "
                               f"{_daemon_message('', log_file, log_offset)}")
        time.sleep(POLL_INTERVAL_SECONDS)


def _make_folders_in_root(root: Root, files: List[Optional[Path]]) -> None:
    # a daemon that cannot open its log file falls back to the host's syslog, where its
    # message would be lost to us; folders outside the root are not ours to create
    for file in files:
        if file is not None and (file.parent == root.base or root.base in file.parent.parents):
            file.parent.mkdir(parents=True, exist_ok=True)


def _wait_until_serving(root: Root, name: str, config: DaemonConfig) -> Optional[str]:
    """None once the pid file names a live daemon and its ports listen; else what is missing."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        pid = _running_pid(root, name)
        listening = listening_ports(pid) if pid is not None else set()
        missing_ports = [port for port in config.ports if port not in listening]
        if pid is not None and not missing_ports:
            return None
        if pid is None and not processes_using(config.path):
            return "the daemon exited"
        if time.monotonic() >= deadline:
            if pid is None:
                return f"no live process in {_pid_file(root, name)} after {READY_TIMEOUT_SECONDS:g} s"
            return f"port {', '.join(map(str, missing_ports))} not listening after {READY_TIMEOUT_SECONDS:g} s"
        time.sleep(POLL_INTERVAL_SECONDS)


def _daemon_message(launcher_output: str, log_file: Optional[Path], log_offset: int) -> str:
    """The daemon's own explanation: its stderr, else what it logged since the launch."""
    # stunnel marks its errors with "[!]" amid much chatter on stderr
    errors = [line for line in launcher_output.splitlines() if line.startswith("[!]")]
    message = last_lines("\n".join(errors), 4) if errors else last_lines(launcher_output)
    logged = last_lines(_read_from(log_file, log_offset), 4) if log_file else ""
    parts = [part for part in (message, logged) if part]
    if parts:
        return " / ".join(parts)
    return "no message from the daemon" + (f" (see {log_file})" if log_file else "")


def _running_pid(root: Root, name: str) -> Optional[int]:
    """The pid in the service's pid file when that process is alive and is this root's daemon."""
    pid = read_pid(_pid_file(root, name))
    if pid is None or not process_alive(pid):
        return None
    # guard against a reused pid: the live process must have been started with this root's config
    if _started_with(root, name) not in command_line(pid):
        return None
    return pid


def _started_with(root: Root, name: str) -> str:
    """What the command line of this root's service holds."""
    if name == WATCH_SERVICE:
        return " ".join(_watch_argv(root)[1:])
    return str(root.path(_CONFIG_FILES[name]))


def _terminate(name: str, pid: int) -> None:
    _signal(pid, signal.SIGTERM)
    if _wait_for_exit(pid, STOP_TIMEOUT_SECONDS):
        return
    _signal(pid, signal.SIGKILL)
    if not _wait_for_exit(pid, STOP_TIMEOUT_SECONDS):
        raise ServiceError(f"{name}: process {pid} did not exit after SIGKILL")


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise ServiceError(f"not allowed to signal process {pid}; run as the user who started it") from None


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_SECONDS)
    return True


def _remove_stale_pid_file(root: Root, name: str) -> None:
    if _running_pid(root, name) is None:
        try:
            _pid_file(root, name).unlink()
        except FileNotFoundError:
            pass


def _file_size(path: Optional[Path]) -> int:
    try:
        return path.stat().st_size if path else 0
    except FileNotFoundError:
        return 0


def _read_from(path: Optional[Path], offset: int) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


# ----------------------------------------------------------------------------- configuration files


def _options(text: str, comment_marks: str) -> Tuple[Dict[str, str], List[Dict[str, str]]]:
    """Global ``key = value`` options, and the options of each ``[section]``, keys normalised.

    Both daemons ignore case and spaces in option names (``pid file`` = ``pidfile``).
    """
    global_options: Dict[str, str] = {}
    sections: List[Dict[str, str]] = []
    current = global_options
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in comment_marks:
            continue
        if line.startswith("["):
            current = {}
            sections.append(current)
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            current[key.replace(" ", "").replace("_", "").lower()] = value.strip()
    return global_options, sections


def _port_of(address: str) -> Optional[int]:
    """The port of an stunnel ``accept`` value: ``873``, ``127.0.0.1:873`` or ``:::873``."""
    tail = address.rsplit(":", 1)[-1].strip()
    return ascii_number(tail, 5)


def _parse_stunnel(path: Path, text: str) -> DaemonConfig:
    global_options, sections = _options(text, ";#")
    ports = tuple(
        port for section in sections if "accept" in section for port in [_port_of(section["accept"])] if port
    )
    return DaemonConfig(
        path=path,
        pid_file=Path(global_options["pid"]) if global_options.get("pid") else None,
        ports=ports,
        log_file=Path(global_options["output"]) if global_options.get("output") else None,
        foreground=global_options.get("foreground", "no").lower() not in ("no", "false", "0"),
    )


def _parse_rsyncd(path: Path, text: str) -> DaemonConfig:
    global_options, _ = _options(text, "#;")
    port = global_options.get("port", "873")
    return DaemonConfig(
        path=path,
        pid_file=Path(global_options["pidfile"]) if global_options.get("pidfile") else None,
        ports=(int(port),) if is_ascii_number(port, 5) else (),
        log_file=Path(global_options["logfile"]) if global_options.get("logfile") else None,
        foreground=False,
    )


_PARSERS = {"stunnel": _parse_stunnel, "rsyncd": _parse_rsyncd}
