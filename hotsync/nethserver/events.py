"""e-smith events: run the handlers of ``<root>/etc/e-smith/events/EVENT/`` in order.

The handlers are the executable files of the event's folder, sorted by name, each
called as ``handler EVENT ARGS...``. Two generic steps join them when the event
asks for them, sorted among the handlers as if they were files of these names, as
NethServer's own ``signal-event`` does:

* ``S05generic_template_expand`` when ``EVENT/templates2expand/`` exists: the
  platform's template expansion, ``<root>/etc/e-smith/events/actions/generic_template_expand``
  (HotSync's own events have none: their ``S05nethserver-hotsync-compile`` action runs
  the compiler, so the stock tools drive them too);
* ``S90adjust-services`` when ``EVENT/services2adjust/`` exists: for each file NAME
  there (its content is the action, ``restart`` by default), apply the action to
  service NAME if its configuration record says ``status=enabled``, else stop it.

Every step runs even after a failure; the event fails when any step failed. One
difference from the stock tool, on purpose: when the configuration did not compile,
the services are left running as they are (a restart would only interrupt the
tunnel). Each step's verdict, elapsed time and output are appended to
``<root>/var/log/hotsync-events.log``.
"""

import os
import sysconfig
import time
from datetime import datetime
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from .. import files
from ..errors import CommandError, HotsyncError
from ..frozen import frozen
from ..host import host_for
from ..paths import EVENTS_FOLDER
from ..programs import run_command
from ..root import ROOT_ENVIRONMENT_VARIABLE, Root
from .esmith import database_path, read_database

EVENTS_LOG = "/var/log/hotsync-events.log"
HANDLER_TIMEOUT_SECONDS = 600
TEMPLATES_FOLDER = "templates2expand"
SERVICES_FOLDER = "services2adjust"
TEMPLATE_STEP_NAME = "S05generic_template_expand"
TEMPLATE_ACTION = f"{EVENTS_FOLDER}/actions/generic_template_expand"
# HotSync's events write their files with this action; the services step waits for its success.
COMPILE_ACTION_NAME = "S05nethserver-hotsync-compile"
SERVICE_STEP_NAME = "S90adjust-services"
DEFAULT_SERVICE_ACTION = "restart"


class UnknownEvent(HotsyncError):
    """The event has no folder under the events directory."""


@frozen
class StepResult:
    """How one step ended: exit code (None when it timed out), its output, how long it took."""

    name: str
    returncode: Optional[int]
    output: str
    seconds: float
    started: datetime

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def verdict(self) -> str:
        """``ok``, ``failed (exit N)``, ``killed by signal N`` or ``timed out``."""
        if self.returncode is None:
            return "timed out"
        if self.returncode == 0:
            return "ok"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"failed (exit {self.returncode})"


@frozen
class EventResult:
    """Every step of one event run, in the order they ran."""

    event: str
    steps: Tuple[StepResult, ...]

    @property
    def failed_steps(self) -> List[str]:
        return [step.name for step in self.steps if not step.ok]

    @property
    def ok(self) -> bool:
        return not self.failed_steps


@frozen
class ProgramStep:
    """A step that is an external program: a handler, or the template expansion."""

    name: str
    argv: Tuple[str, ...]

    def run(self, root: Root, timeout: float) -> Tuple[Optional[int], str]:
        try:
            finished = run_command(self.argv, environment=handler_environment(root), timeout=timeout,
                                   check=False, cwd="/")
        except CommandError as error:
            return error.returncode, error.output
        except OSError as error:  # e.g. a script with a broken "#!" line
            return 126, f"cannot run {self.argv[0]}: {error.strerror}"
        return finished.returncode, _joined(finished.stdout, finished.stderr)


@frozen
class ServiceAdjustStep:
    """The generic S90 step: bring each service of ``services2adjust/`` to its configured state."""

    name: str
    folder: Path

    def run(self, root: Root, timeout: float) -> Tuple[Optional[int], str]:
        try:
            database = read_database(database_path(root))
        except HotsyncError as error:
            return 1, str(error)
        host = host_for(root)
        lines, failed = [], False
        wanted = [(service, action, database.get_prop(service, "status") == "enabled")
                  for service, action in services_to_adjust(self.folder)]
        # Stop first, start after: when a role changes, the daemon going away may hold the
        # port the one coming up needs (a master's stunnel client sits on the rsync port).
        for service, action, enabled in wanted:
            if action == "restart" or not enabled:
                try:
                    host.stop_service(service)
                except HotsyncError:
                    pass  # the second pass reports this service's state or error
        for service, action, enabled in wanted:
            try:
                lines.append(host.apply_service_state(service, enabled, action).describe())
            except HotsyncError as error:
                failed = True
                message = str(error)
                # most service errors already start with the service's name
                lines.append(message if message.startswith(service) else f"{service}: {message}")
        return (1 if failed else 0), "\n".join(lines)


Step = Union[ProgramStep, ServiceAdjustStep]


def run_event(
    root: Root,
    event: str,
    arguments: Sequence[str] = (),
    *,
    timeout: float = HANDLER_TIMEOUT_SECONDS,
) -> EventResult:
    """Run every step of ``event`` in order, log each one, and return how they all ended.

    ``timeout`` bounds each step. Raises ``UnknownEvent`` when the event has no folder;
    a failing step never raises, it is in the result.
    """
    steps = plan_event(root, event, arguments)
    results: List[StepResult] = []
    for step in steps:
        if isinstance(step, ServiceAdjustStep) and _expansion_failed(results):
            # The files on disk are the old, working ones: restarting would only interrupt
            # the running tunnel for nothing. The event still fails because S05 failed.
            result = StepResult(step.name, 1, "skipped: the configuration did not compile; services left running as they are",
                                0.0, datetime.now())
        else:
            result = _run_step(root, step, timeout)
        append_to_log(root, event, result)
        results.append(result)
    return EventResult(event, tuple(results))


def _expansion_failed(results: Sequence[StepResult]) -> bool:
    return any(result.name in (COMPILE_ACTION_NAME, TEMPLATE_STEP_NAME) and not result.ok for result in results)


def plan_event(root: Root, event: str, arguments: Sequence[str] = ()) -> List[Step]:
    """The steps of ``event`` in the order they will run. Raises ``UnknownEvent``."""
    folder = event_folder(root, event)
    steps: List[Step] = [ProgramStep(path.name, (str(path), event, *arguments)) for path in handlers(folder)]
    if (folder / TEMPLATES_FOLDER).is_dir():
        steps.append(ProgramStep(TEMPLATE_STEP_NAME, (str(root.path(TEMPLATE_ACTION)), event, *arguments)))
    if (folder / SERVICES_FOLDER).is_dir():
        steps.append(ServiceAdjustStep(SERVICE_STEP_NAME, folder / SERVICES_FOLDER))
    return sorted(steps, key=lambda step: step.name)


def event_folder(root: Root, event: str) -> Path:
    """The real folder of ``event``; raises ``UnknownEvent`` when it does not exist."""
    if not event or "/" in event or event.startswith("."):
        raise UnknownEvent(f"invalid event name '{event}'")
    folder = root.path(f"{EVENTS_FOLDER}/{event}")
    if not folder.is_dir():
        raise UnknownEvent(f"unknown event '{event}': no folder {folder}")
    return folder


def handlers(folder: Path) -> List[Path]:
    """The executable regular files of ``folder`` (symlinks followed), sorted by name."""
    return sorted(
        (path for path in folder.iterdir() if path.is_file() and os.access(path, os.X_OK)),
        key=lambda path: path.name,
    )


def services_to_adjust(folder: Path) -> List[Tuple[str, str]]:
    """(service, action) for each file of a ``services2adjust/`` folder, sorted by service."""
    pairs = []
    for path in sorted(folder.iterdir(), key=lambda path: path.name):
        if path.is_file():
            action = path.read_text(encoding="utf-8", errors="replace").strip()
            pairs.append((path.name, action or DEFAULT_SERVICE_ACTION))
    return pairs


def handler_environment(root: Root) -> dict:
    """What a handler finds in its environment: the root, and ``hotsync`` first on its PATH."""
    scripts = sysconfig.get_path("scripts")
    path = os.environ.get("PATH", os.defpath)
    return {ROOT_ENVIRONMENT_VARIABLE: str(root), "PATH": f"{scripts}{os.pathsep}{path}"}


def append_to_log(root: Root, event: str, result: StepResult) -> None:
    """Append one step's verdict line and its indented output to the events log.

    One append per step keeps each entry in one piece beside an event running at the same
    time; the log is created readable by root alone (handler output may quote settings).
    """
    stamp = result.started.isoformat(timespec="seconds")
    lines = [f"{stamp} {event} {result.name}: {result.verdict()} {result.seconds:.2f}s"]
    lines += [f"    {line}" for line in result.output.splitlines()]
    files.append_to_log(root.path(EVENTS_LOG), "\n".join(lines) + "\n")


def _run_step(root: Root, step: Step, timeout: float) -> StepResult:
    started = datetime.now()
    clock = time.monotonic()
    returncode, output = step.run(root, timeout)
    return StepResult(step.name, returncode, output, time.monotonic() - clock, started)


def _joined(stdout: str, stderr: str) -> str:
    parts = [text.rstrip("\n") for text in (stdout, stderr) if text and text.strip()]
    return "\n".join(parts)
