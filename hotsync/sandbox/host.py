"""The sandbox host (any root but ``/``): the supervisor, declared packages, programs inside the root."""

import os
import sysconfig
from typing import Dict, Optional, Sequence, Tuple

from ..errors import CommandError, HotsyncError
from ..host import HOST_TOOL_TIMEOUT_SECONDS, Host, ServiceStatus, run_tool_at
from ..programs import run_command
from ..root import ROOT_ENVIRONMENT_VARIABLE
from . import jobs, packages, supervisor

PROGRAM_TIMEOUT_SECONDS = 4 * 3600  # a rule's program may restore a large database


class SandboxHost(Host):
    """See ``hotsync.host.Host`` for the contract of each method."""

    def service_status(self, name: str) -> ServiceStatus:
        return supervisor.service_status(self.root, name)

    def start_service(self, name: str) -> ServiceStatus:
        return supervisor.start_service(self.root, name)

    def stop_service(self, name: str) -> ServiceStatus:
        return supervisor.stop_service(self.root, name)

    def restart_service(self, name: str) -> ServiceStatus:
        return supervisor.restart_service(self.root, name)

    def adjust_service(self, name: str, action: str) -> ServiceStatus:
        return supervisor.adjust_service(self.root, name, action)

    def apply_service_state(self, name: str, enabled: bool, action: str = "restart") -> ServiceStatus:
        return supervisor.apply_service_state(self.root, name, enabled, action)

    def reload_service_definitions(self) -> None:
        pass  # the supervisor reads no unit files

    def restart_host_services(self, names: Tuple[str, ...]) -> str:
        # the machine's services are not this root's: restarting them would disturb the machine
        return f"sandbox: not restarting {', '.join(names)} (they belong to the machine, not to this root)"

    def installed_packages(self) -> Dict[str, str]:
        return packages.read_sandbox_packages(self.root)

    def install_packages(self, names: Sequence[str]) -> str:
        return packages.record_packages(self.root, names)

    def unreachable_repositories(self) -> str:
        return packages.unreachable_repositories(self.root)

    def make_backup_with_host_tool(self) -> str:
        return ""  # the machine's backup-config would back up the machine, not this root

    def run_program(self, argv: Tuple[str, ...]) -> str:
        """The program inside the root, told its root."""
        program = str(self.root.path(argv[0]))
        try:
            run_command([program, *argv[1:]], environment={ROOT_ENVIRONMENT_VARIABLE: str(self.root.base)},
                        timeout=PROGRAM_TIMEOUT_SECONDS)
        except CommandError as error:
            raise HotsyncError(str(error)) from None
        return f"ran {' '.join(argv)}"

    def run_host_tool(self, tool: str, arguments: Sequence[str] = (),
                      timeout: float = HOST_TOOL_TIMEOUT_SECONDS) -> Optional[str]:
        """The root's own tool (a test's stand-in), told its root; None in a root without one."""
        return run_tool_at(self.root.path(tool), arguments, environment={ROOT_ENVIRONMENT_VARIABLE: str(self.root.base)},
                           timeout=timeout)

    def scheduled_command(self, program: str) -> str:
        """This installation's script, told its root."""
        scripts = sysconfig.get_path("scripts")
        return f"{ROOT_ENVIRONMENT_VARIABLE}={self.root.base} {scripts}/{program}"

    def start_job(self, name: str, program: str, arguments: Sequence[str] = ()) -> str:
        return jobs.start_job(self.root, name, [self._script(program), *arguments])

    def job_running(self, name: str) -> bool:
        return jobs.job_running(self.root, name)

    def _script(self, program: str) -> str:
        return os.path.join(sysconfig.get_path("scripts"), program)

    def daemon_may_switch_to_root(self) -> bool:
        return os.geteuid() == 0  # a sandbox daemon run by a normal user cannot
