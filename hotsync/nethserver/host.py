"""The NethServer host (root ``/``): systemd, rpm/yum and the host's own e-smith tools."""

import os
from typing import Dict, Optional, Sequence, Tuple

from ..errors import CommandError, HotsyncError
from ..host import HOST_TOOL_TIMEOUT_SECONDS, Host, ServiceStatus, run_tool_at
from ..programs import run_command
from . import packages, systemd

BACKUP_TOOL_PATH = "/sbin/e-smith/backup-config"
BACKUP_TOOL_TIMEOUT_SECONDS = 600
SERVICE_TIMEOUT_SECONDS = 300
PROGRAM_TIMEOUT_SECONDS = 4 * 3600  # a rule's program may restore a large database
SCRIPTS_FOLDER = "/usr/sbin"


class NethServerHost(Host):
    """See ``hotsync.host.Host`` for the contract of each method."""

    def service_status(self, name: str) -> ServiceStatus:
        return systemd.service_status(name)

    def start_service(self, name: str) -> ServiceStatus:
        return systemd.start_service(name)

    def stop_service(self, name: str) -> ServiceStatus:
        return systemd.stop_service(name)

    def restart_service(self, name: str) -> ServiceStatus:
        return systemd.restart_service(name)

    def adjust_service(self, name: str, action: str) -> ServiceStatus:
        return systemd.adjust_service(name, action)

    def apply_service_state(self, name: str, enabled: bool, action: str = "restart") -> ServiceStatus:
        return systemd.apply_service_state(name, enabled, action)

    def reload_service_definitions(self) -> None:
        systemd.reload_units()

    def restart_host_services(self, names: Tuple[str, ...]) -> str:
        for name in names:
            try:
                run_command(["systemctl", "restart", name], timeout=SERVICE_TIMEOUT_SECONDS)
            except CommandError as error:
                raise HotsyncError(str(error)) from None
        return f"restarted {', '.join(names)}"

    def installed_packages(self) -> Dict[str, str]:
        return packages.installed_packages()

    def install_packages(self, names: Sequence[str]) -> str:
        return packages.install_packages(names)

    def unreachable_repositories(self) -> str:
        return packages.unreachable_repositories()

    def make_backup_with_host_tool(self) -> str:
        tool = self.root.path(BACKUP_TOOL_PATH)
        if not os.access(tool, os.X_OK):
            return ""
        run_command([str(tool)], timeout=BACKUP_TOOL_TIMEOUT_SECONDS)
        return f"configuration backup made by {BACKUP_TOOL_PATH}"

    def run_program(self, argv: Tuple[str, ...]) -> str:
        try:
            run_command(list(argv), timeout=PROGRAM_TIMEOUT_SECONDS)
        except CommandError as error:
            raise HotsyncError(str(error)) from None
        return f"ran {' '.join(argv)}"

    def run_host_tool(self, tool: str, arguments: Sequence[str] = (),
                      timeout: float = HOST_TOOL_TIMEOUT_SECONDS) -> Optional[str]:
        return run_tool_at(self.root.path(tool), arguments, timeout=timeout)

    def scheduled_command(self, program: str) -> str:
        return f"{SCRIPTS_FOLDER}/{program}"

    def start_job(self, name: str, program: str, arguments: Sequence[str] = ()) -> str:
        return systemd.start_transient_unit(name, [f"{SCRIPTS_FOLDER}/{program}", *arguments])

    def job_running(self, name: str) -> bool:
        return systemd.unit_active(name)

    def daemon_may_switch_to_root(self) -> bool:
        return True
