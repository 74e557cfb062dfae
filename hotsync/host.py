"""The platform seam: what differs between a NethServer host and a sandbox host.

``host_for(root)`` is the one place that tells the two apart (it alone reads
``root.is_sandbox``); everyone else asks the ``Host`` it returns. Two adapters
implement it, each in its own folder:

* ``hotsync/nethserver/``: root ``/`` on NethServer 7: systemd units, ``rpm``/``yum``,
  the host's own ``backup-config``, scheduled commands in ``/usr/sbin``;
* ``hotsync/sandbox/``: any other root: a small supervisor runs the real daemons with
  the root's own files, installed packages are declared in a file of the root, the
  scheduled commands are this installation's scripts told their root.

What is the same on both hosts is not part of the interface: owners and accounts (read
from the root's own ``/etc/passwd`` and ``/etc/group``), file paths (``Root``), the
e-smith configuration database, a format both hosts keep under their root. NethServer's own
tools (``run_host_tool``: ``signal-event``, ``restore-config``…) are looked up under the root
on both: a sandbox root has none unless a test puts a stand-in there. The runtime
(``hotsync/runtime/``) reaches the platform only through this module: for the database
it imports the names re-exported below (``read_database``, ``edit_database``…), never
``hotsync.nethserver`` itself; a test reads the imports and holds it to that.
"""

import abc
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from .errors import CommandError, HotsyncError
from .frozen import frozen
from .nethserver.esmith import Database, apply_database_defaults, database_path, edit_database, parse_database, read_database
from .programs import run_command
from .root import Root

__all__ = [
    "ACTIONS", "DAEMON_NAMES", "SERVICE_NAMES", "WATCH_SERVICE",
    "Host", "JobRunning", "ServiceError", "ServiceStatus", "host_for", "check_action",
    "check_service_name",
    "Database", "apply_database_defaults", "database_path", "edit_database", "parse_database", "read_database",
]

DAEMON_NAMES = ("stunnel", "rsyncd")
# The master's continuous push (``hotsync watch``), run as a service when hotsync Mode is continuous.
WATCH_SERVICE = "hotsync-watch"
SERVICE_NAMES = (*DAEMON_NAMES, WATCH_SERVICE)
HOST_TOOL_TIMEOUT_SECONDS = 1800  # an update event reconfigures a whole package
HOST_TOOL_OUTPUT_LINES = 10
ACTIONS = ("start", "stop", "restart", "reload")


class ServiceError(HotsyncError):
    """A daemon could not be started, stopped or inspected."""


class JobRunning(HotsyncError):
    """A background job was asked to start while it still runs."""


@frozen
class ServiceStatus:
    """Whether a service runs, and its main process when known."""

    name: str
    running: bool
    pid: Optional[int] = None

    def describe(self) -> str:
        """One line for the admin: ``stunnel: running (pid 123)`` or ``stunnel: stopped``."""
        if not self.running:
            return f"{self.name}: stopped"
        if self.pid:
            return f"{self.name}: running (pid {self.pid})"
        return f"{self.name}: running"


def check_service_name(name: str) -> None:
    """Raise ``ServiceError`` unless ``name`` is one of HotSync's services."""
    if name not in SERVICE_NAMES:
        raise ServiceError(f"unknown service '{name}' (expected one of: {', '.join(SERVICE_NAMES)})")


def check_action(name: str, action: str) -> None:
    """Raise ``ServiceError`` unless ``action`` is one of ``ACTIONS``."""
    if action not in ACTIONS:
        raise ServiceError(f"unknown service action '{action}' for {name} (expected one of: {', '.join(ACTIONS)})")


class Host(abc.ABC):
    """A host's platform. Every method acts on ``self.root``; errors are ``HotsyncError``s.

    Services are HotSync's two daemons and its watch (``SERVICE_NAMES``); each call returns the
    service's state after the action and raises ``ServiceError`` with the daemon's (or
    systemd's) own message when it did not get there.
    """

    def __init__(self, root: Root):
        self.root = root

    # ------------------------------------------------------------------------- services

    @abc.abstractmethod
    def service_status(self, name: str) -> ServiceStatus:
        """The state of service ``name``."""

    @abc.abstractmethod
    def start_service(self, name: str) -> ServiceStatus:
        """Start ``name`` unless it runs; return once it serves."""

    @abc.abstractmethod
    def stop_service(self, name: str) -> ServiceStatus:
        """Stop ``name`` if it runs."""

    @abc.abstractmethod
    def restart_service(self, name: str) -> ServiceStatus:
        """Stop then start ``name``."""

    @abc.abstractmethod
    def adjust_service(self, name: str, action: str) -> ServiceStatus:
        """Apply ``action`` (one of ``ACTIONS``) to ``name``; ``reload`` makes it read a new configuration."""

    @abc.abstractmethod
    def apply_service_state(self, name: str, enabled: bool, action: str = "restart") -> ServiceStatus:
        """What e-smith's adjust-services does for one service: enabled → ``action``, disabled → stop."""

    @abc.abstractmethod
    def restart_host_services(self, names: Tuple[str, ...]) -> str:
        """Restart any of the host's services by name (a rule's ``promote restart``); says what it did."""

    @abc.abstractmethod
    def reload_service_definitions(self) -> None:
        """Make the service manager read the unit files again (after one was installed)."""

    # ------------------------------------------------------------------------- packages

    @abc.abstractmethod
    def installed_packages(self) -> Dict[str, str]:
        """Every installed package, name -> version ("" when unknown).

        Raises ``CommandError`` when the package database cannot be asked.
        """

    @abc.abstractmethod
    def install_packages(self, names: Sequence[str]) -> str:
        """Install ``names``; returns what was done."""

    @abc.abstractmethod
    def unreachable_repositories(self) -> str:
        """Why packages cannot be downloaded now, or "" when they can."""

    # ------------------------------------------------------------------------- host tools

    @abc.abstractmethod
    def make_backup_with_host_tool(self) -> str:
        """Let the host's own tool make the configuration backup: what it did, or "" when
        the host has no such tool (HotSync then makes the equivalent itself)."""

    @abc.abstractmethod
    def run_program(self, argv: Tuple[str, ...]) -> str:
        """Run a rule's program (``promote run``) on this host; says what it did."""

    @abc.abstractmethod
    def run_host_tool(self, tool: str, arguments: Sequence[str] = (),
                      timeout: float = HOST_TOOL_TIMEOUT_SECONDS) -> Optional[str]:
        """Run NethServer's tool at host path ``tool`` (``signal-event``, an event action,
        ``restore-config``) with ``arguments``: its output, or None when this host has no
        such tool. A sandbox root has one only when a test puts a stand-in there, and runs it
        told its root. Raises ``HotsyncError`` with the tool's last lines when it fails."""

    @abc.abstractmethod
    def scheduled_command(self, program: str) -> str:
        """How cron starts ``program`` (``hotsync``, ``hotsync-slave``) on this host."""

    @abc.abstractmethod
    def start_job(self, name: str, program: str, arguments: Sequence[str] = ()) -> str:
        """Start HotSync's ``program`` (``hotsync``, ``hotsync-slave``) in the background as job
        ``name``, detached from the caller (a web request); says how to follow it.

        Raises ``JobRunning`` when job ``name`` still runs, ``HotsyncError`` when it cannot start.
        """

    @abc.abstractmethod
    def job_running(self, name: str) -> bool:
        """Whether background job ``name`` (see ``start_job``) still runs."""

    @abc.abstractmethod
    def daemon_may_switch_to_root(self) -> bool:
        """Whether the rsync daemon may switch to root (a normal user's sandbox daemon cannot)."""

    def signal_event(self, event: str, arguments: Sequence[str] = ()):
        """Run e-smith event ``event`` over the root's events folder; returns its ``EventResult``."""
        from .nethserver.events import run_event  # the events runner adjusts services through host_for

        return run_event(self.root, event, arguments)


def run_tool_at(path: Path, arguments: Sequence[str], environment: Optional[Dict[str, str]] = None,
                timeout: float = HOST_TOOL_TIMEOUT_SECONDS) -> Optional[str]:
    """Run the executable at ``path`` for ``Host.run_host_tool`` (None when there is none)."""
    if not os.access(path, os.X_OK):
        return None
    try:
        finished = run_command([str(path), *arguments], environment=environment,
                               timeout=timeout, check=False)
    except CommandError as error:  # not started, or timed out
        raise HotsyncError(str(error)) from None
    output = (finished.stdout + finished.stderr).strip()
    if finished.returncode != 0:
        last = "\n".join(output.splitlines()[-HOST_TOOL_OUTPUT_LINES:])
        raise HotsyncError(f"{' '.join([path.name, *arguments])} exited {finished.returncode}" + (f":\n{last}" if last else ""))
    return output


def host_for(root: Root) -> Host:
    """The platform of ``root``: NethServer under ``/``, a sandbox host under any other folder."""
    # Imported here, not at the top: both adapters import this module for the interface.
    if root.is_sandbox:
        from .sandbox.host import SandboxHost

        return SandboxHost(root)
    from .nethserver.host import NethServerHost

    return NethServerHost(root)
