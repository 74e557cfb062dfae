"""``settings/read``, ``settings/validate``, ``settings/update``, ``settings/execute``.

The form's fields are the configuration database's properties below (``PARAMETERS``).
Validation is the compiler's own: the proposed values are laid over the stored database in
memory and the whole configuration is compiled, as ``hotsync compile --check`` does, so the
form shows the very messages the command prints and accepts exactly what a save accepts.

Decisions, NethServer's way:
* a field left out, or sent as JSON ``null``, keeps its stored value (a null is never written
  as the text "null", which the original's form did for an empty role);
* no role is the empty string, as the database's default;
* the password is write-only: ``settings/read`` sends ``passwordSet``, and an empty or absent
  password in an update keeps the stored one.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..compiler import HostCommands, compile_root
from ..errors import HotsyncError, last_lines
from ..host import database_path, edit_database, host_for, read_database
from ..nethserver.esmith import DatabaseSession, InvalidDatabaseEntry
from ..nethserver.events import EVENTS_LOG
from ..plan import load_plan
from ..root import Root
from ..tool_versions import probe_tool_versions
from . import NotValid, Request, Response, invalid

# API parameter -> (database key, property), in the form's order
PARAMETERS: Dict[str, Tuple[str, str]] = {
    "status": ("hotsync", "status"),
    "role": ("hotsync", "role"),
    "slaveHost": ("hotsync", "SlaveHost"),
    "masterHost": ("hotsync", "MasterHost"),
    "databases": ("hotsync", "databases"),
    "tunnelAuth": ("hotsync", "TunnelAuth"),
    "password": ("rsyncd", "password"),
}
SECRET_PARAMETERS = ("password",)
SAVE_EVENT = "nethserver-hotsync-save"

# settings/execute: action -> (the role it runs on, the job's name, the program it runs)
ACTIONS = {
    "sync": ("master", "hotsync", "hotsync"),
    "install-packages": ("slave", "hotsync-slave", "hotsync-slave"),
}


def read(root: Root, request: Request) -> Response:
    """The form's values as stored; the password only as ``passwordSet``."""
    database = read_database(database_path(root))
    configuration: Dict[str, Any] = {
        name: database.get_prop(key, prop) or "" for name, (key, prop) in PARAMETERS.items()
        if name not in SECRET_PARAMETERS
    }
    configuration["passwordSet"] = bool(database.get_prop("rsyncd", "password"))
    return {"configuration": configuration, "tunnel": _compiled_tunnel(root)}


def validate(root: Root, request: Request) -> Response:
    """Check the request's ``configuration`` as a save would; NotValid lists every problem."""
    changes = proposed_changes(request)
    warnings = _check_compiles(root, changes)
    return {"state": "success", "warnings": warnings}


def update(root: Root, request: Request) -> Response:
    """Validate, store the changed values, run the save event (compile, write, restart)."""
    changes = proposed_changes(request)
    _check_compiles(root, changes)
    with edit_database(database_path(root)) as session:
        _apply(session, changes)
    result = host_for(root).signal_event(SAVE_EVENT)
    if not result.ok:
        failures = "; ".join(f"{step.name}: {last_lines(step.output) or step.verdict()}"
                             for step in result.steps if not step.ok)
        raise HotsyncError(f"the settings were saved, but the {SAVE_EVENT} event failed: {failures} "
                           f"(see {EVENTS_LOG})")
    return {"state": "success"}


def execute(root: Root, request: Request) -> Response:
    """Start "sync now" (master) or "install the master's packages" (slave) in the background."""
    action = request.get("action")
    if action not in ACTIONS:
        raise NotValid([invalid("action", action, f"expected one of: {', '.join(ACTIONS)}")])
    role, job, program = ACTIONS[action]
    actual = _role(root)
    if actual != role:
        raise NotValid([invalid("action", action, f"this host's role is {actual or 'none'}; {action} runs on the {role}")])
    started = host_for(root).start_job(job, program)
    return {"state": "started", "job": job, "message": started}


def proposed_changes(request: Request) -> Dict[str, str]:
    """The request's ``configuration`` as API parameter -> new text; NotValid for unknown names
    and values that are not text. Nulls, and an empty password, change nothing."""
    configuration = request.get("configuration")
    if not isinstance(configuration, dict):
        raise NotValid([invalid("configuration", configuration, "expected an object of settings")])
    problems, changes = [], {}
    for name, value in configuration.items():
        if name not in PARAMETERS:
            problems.append(invalid(name, "", f"unknown setting '{name}' (expected one of: {', '.join(PARAMETERS)})"))
        elif value is None or (name in SECRET_PARAMETERS and value == ""):
            continue
        elif not isinstance(value, str):
            problems.append(invalid(name, _shown(name, value), "expected text"))
        else:
            changes[name] = value
    if problems:
        raise NotValid(problems)
    return changes


def _check_compiles(root: Root, changes: Mapping[str, str]) -> List[str]:
    """Compile the configuration with ``changes`` in memory; NotValid with the compiler's
    messages, each on its parameter; the warnings' texts when it compiles."""
    session = DatabaseSession(read_database(database_path(root)))
    problems = _apply(session, changes, collect=True)
    if problems:
        raise NotValid(problems)
    host = host_for(root)
    commands = HostCommands(hotsync=host.scheduled_command("hotsync"),
                            hotsync_slave=host.scheduled_command("hotsync-slave"),
                            switch_to_root=host.daemon_may_switch_to_root())
    compilation = compile_root(root, session.database, commands, probe_tool_versions())
    parameters = {f"configuration:{key}.{prop}": name for name, (key, prop) in PARAMETERS.items()}
    for diagnostic in compilation.errors:
        name = parameters.get(diagnostic.span.file)
        value = changes.get(name, "") if name else ""
        problems.append(invalid(name or str(diagnostic.span), _shown(name, value), diagnostic.message))
    if problems:
        raise NotValid(problems)
    return [diagnostic.format() for diagnostic in compilation.diagnostics if diagnostic.severity != "error"]


def _apply(session: DatabaseSession, changes: Mapping[str, str], collect: bool = False) -> List[Dict[str, str]]:
    """Set each changed property; with ``collect`` a value the database cannot hold is a
    NotValid attribute instead of an error."""
    problems = []
    for name, value in changes.items():
        key, prop = PARAMETERS[name]
        try:
            if session.get(key) is None:
                raise InvalidDatabaseEntry(f"the configuration database has no '{key}' record: run 'hotsync install'")
            session.set_prop(key, prop, value)
        except InvalidDatabaseEntry as error:
            if not collect:
                raise
            problems.append(invalid(name, _shown(name, value), str(error)))
    return problems


def _shown(name: Optional[str], value: Any) -> Any:
    return "" if name in SECRET_PARAMETERS else value


def _role(root: Root) -> str:
    try:
        return load_plan(root).role
    except HotsyncError:
        return ""


def _compiled_tunnel(root: Root) -> Dict[str, str]:
    """The tunnel mode the last compilation chose (the setting may say "choose")."""
    try:
        plan = load_plan(root)
    except HotsyncError:
        return {}
    return {"auth": plan.transport.auth, "chosenBy": plan.transport.auth_chosen_by}
