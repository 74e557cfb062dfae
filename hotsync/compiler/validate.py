"""Semantic checks over the rule model and the settings: every problem at once, located.

``validate_program`` returns the settings resolved from the database (converted to
their kinds) and every diagnostic found; the compiler runs only when there are none.
"""

import difflib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import Diagnostic, Span
from ..frozen import field, frozen
from ..tool_versions import ToolVersions
from . import model
from . import settings as named
from .tunnel_auth import forced_mode_problem


@frozen
class ResolvedSettings:
    """The global and role settings, checked and converted (port -> int, switch -> bool…)."""

    values: Mapping[str, Any]  # a setting's type is its kind's: int, bool or str
    schedules: Mapping[str, str]
    spans: Mapping[str, Span] = field(default_factory=dict)

    def __getitem__(self, name: str):
        return self.values[name]


@frozen
class Validation:
    settings: ResolvedSettings
    diagnostics: tuple


def validate_program(program: model.Program, database, tools: ToolVersions) -> Validation:
    """Check ``program`` against itself, against ``database`` (an e-smith Database) and against
    the versions of the installed ``tools``."""
    problems = _Problems(program)
    values, spans, password_problem = _resolve_globals(program, database, problems)
    _understand_server_role(values, spans, problems)
    role = values.get("role", "")
    _resolve_roles(program, database, problems, values, spans)
    schedules = _resolve_schedules(program, problems, role, values, spans)
    _check_role_requirements(values, spans, password_problem, problems)
    _check_tunnel_auth(values, spans, tools, problems)
    _check_freshness(values, spans, problems)
    _check_rules(program, problems, database)
    return Validation(ResolvedSettings(values, schedules, spans), tuple(problems.items))


class _Problems:
    """Collects diagnostics, attaching the source line for the caret."""

    def __init__(self, program: model.Program):
        self.program = program
        self.items: List[Diagnostic] = []

    def add(self, span: Span, message: str) -> None:
        self.items.append(Diagnostic(span, message, self.program.line_of(span)))

    def warn(self, span: Span, message: str) -> None:
        """A problem that does not stop the compile, shown with its errors."""
        self.items.append(Diagnostic(span, message, self.program.line_of(span), severity="warning"))


def _suggest(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _resolve_globals(program, database, problems):
    declared: Dict[str, model.Assignment] = {}
    for block in program.items(model.GlobalBlock):
        for assignment in block.assignments:
            if assignment.name not in named.GLOBAL_SETTINGS:
                known = ", ".join(sorted(named.GLOBAL_SETTINGS))
                suggestion = _suggest(assignment.name, named.GLOBAL_SETTINGS)
                problems.add(assignment.span, f"unknown setting '{assignment.name}'{suggestion}; known settings: {known}")
            elif assignment.name in declared:
                problems.add(assignment.span, f"setting '{assignment.name}' is already set at {declared[assignment.name].span}")
            else:
                declared[assignment.name] = assignment
    values: Dict[str, object] = {}
    spans: Dict[str, Span] = {}
    password_problem: Optional[Tuple[Span, str]] = None
    for name, kind in named.GLOBAL_SETTINGS.items():
        assignment = declared.get(name)
        resolved = (
            named.resolve_value(assignment.value, database) if assignment
            else named.ResolvedValue(kind.default, Span("(built-in default)"), False)
        )
        value, error = named.check_value(kind, resolved)
        spans[name] = resolved.span
        if error is None:
            values[name] = value
        elif name == "password":
            values[name] = None  # reported with the role: a host without a role needs no password
            password_problem = (resolved.span, error)
        else:
            problems.add(resolved.span, error)
    return values, spans, password_problem


def _understand_server_role(values, spans, problems) -> None:
    """The original's role ``server`` is a master that does not push: no tunnel client, no
    sync job, no slave needed; like a master it takes no push either."""
    if values.get("role") == named.SERVER_ROLE:
        values["role"] = "master"
        values["status"] = False
        problems.warn(spans["role"], "role 'server' is read as a master that does not push (as the original"
                                     " HotSync's role action did): set role master to push to a slave")


def _resolve_roles(program, database, problems, values, spans):
    seen: Dict[str, model.RoleBlock] = {}
    for block in program.items(model.RoleBlock):
        if block.role not in named.ROLE_SETTINGS:
            problems.add(block.span,
                         f"unknown role '{block.role}'{_suggest(block.role, named.ROLE_SETTINGS)}; roles are master and slave")
            continue
        if block.role in seen:
            problems.add(block.span, f"role '{block.role}' is already declared at {seen[block.role].span}")
            continue
        seen[block.role] = block
        allowed = named.ROLE_SETTINGS[block.role]
        for assignment in block.assignments:
            if assignment.name not in allowed:
                problems.add(assignment.span, f"unknown setting '{assignment.name}' for role {block.role}"
                                              f"{_suggest(assignment.name, allowed)}; known: {', '.join(sorted(allowed))}")
                continue
            resolved = named.resolve_value(assignment.value, database)
            value, error = named.check_value(allowed[assignment.name], resolved)
            spans[assignment.name] = resolved.span
            if error:
                problems.add(resolved.span, error)
            else:
                values[assignment.name] = value
    for role_settings in named.ROLE_SETTINGS.values():
        for name, kind in role_settings.items():
            values.setdefault(name, kind.default)


def _resolve_schedules(program, problems, role, values, spans) -> Dict[str, str]:
    """Each job's cron schedule: the rules' ``schedule`` for this host's role, else the
    master's push every ``sync_interval`` minutes, else the built-in one."""
    schedules: Dict[str, str] = {}
    for block in program.items(model.RoleBlock):
        jobs = named.ROLE_SCHEDULES.get(block.role, {})
        for schedule in block.schedules:
            if schedule.job not in jobs:
                problems.add(schedule.span, f"unknown job '{schedule.job}' for role {block.role}"
                                            f"{_suggest(schedule.job, jobs)}; jobs: {', '.join(jobs)}")
                continue
            try:
                named.check_cron(schedule.cron)
            except named.BadValue as error:
                problems.add(schedule.span, str(error))
                continue
            if block.role == role:
                schedules[schedule.job] = schedule.cron
                _warn_interval_overridden(schedule, values, spans, problems)
    if role == "master" and values.get("sync_interval"):
        schedules.setdefault("sync", named.interval_schedule(values["sync_interval"]))
    for job, cron in named.ROLE_SCHEDULES.get(role, {}).items():
        schedules.setdefault(job, cron)
    return schedules


def _warn_interval_overridden(schedule, values, spans, problems) -> None:
    """An admin who set SyncInterval would otherwise not learn that a rule file's schedule wins."""
    span = spans.get("sync_interval")
    if schedule.job == "sync" and span is not None and span.file.startswith("configuration:"):
        problems.warn(schedule.span, f"this schedule replaces the push every {values.get('sync_interval')} minutes"
                                     f" set at {span}: remove it to push at that interval")


def _check_role_requirements(values, spans, password_problem, problems) -> None:
    role = values.get("role")
    if not role or not values.get("status", True):
        return
    if role == "master" and not values.get("slave_host"):
        problems.add(spans.get("slave_host", named.database_span("hotsync", "SlaveHost")),
                     "this host is a master but has no slave host: run 'config setprop hotsync SlaveHost ADDRESS'")
    if role == "slave" and not values.get("master_host"):
        problems.add(spans.get("master_host", named.database_span("hotsync", "MasterHost")),
                     "this host is a slave but has no master host: run 'config setprop hotsync MasterHost ADDRESS'")
    if password_problem:
        problems.add(*password_problem)
    elif len(values.get("password") or "") < named.RECOMMENDED_PASSWORD_LENGTH:
        problems.warn(spans["password"], (
            f"the password is shorter than {named.RECOMMENDED_PASSWORD_LENGTH} characters: whoever records "
            "one connection of the tunnel can try guesses at it offline; use a long random one on both hosts "
            "('hotsync install' generates one)"))


def _check_tunnel_auth(values, spans, tools: ToolVersions, problems) -> None:
    """The tunnel's mode must be one this host's stunnel has; an unknown stunnel is worth a word."""
    if not values.get("role") or "tunnel_auth" not in values:
        return
    span = spans.get("tunnel_auth", named.database_span("hotsync", "TunnelAuth"))
    problem = forced_mode_problem(values["tunnel_auth"], tools.stunnel)
    if problem:
        problems.add(span, problem)
    elif not values["tunnel_auth"] and not tools.stunnel:
        # Unset, the span is the rule file's default: the admin's remedy is the database's.
        problems.warn(named.database_span("hotsync", "TunnelAuth"), (
            "cannot tell the installed stunnel's version ('stunnel -version' said nothing readable): "
            "the tunnel authenticates with the certificate, which every stunnel has; if the other host "
            "uses pre-shared keys, set 'config setprop hotsync TunnelAuth psk' here (stunnel 5.09 and later)"))


FRESHNESS_INTERVAL_MULTIPLES = (("freshness_warning", 1.5), ("freshness_critical", 6))


def _freshness_from_the_interval(values) -> None:
    """An unset threshold is sanoid's multiple of this host's push interval, so a master pushing
    every 5 minutes is late after 7.5 (a slave reads its own SyncInterval: set it there too)."""
    interval = values.get("sync_interval")
    for name, multiple in FRESHNESS_INTERVAL_MULTIPLES:
        if values.get(name) == 0 and isinstance(interval, int):
            values[name] = int(interval * 60 * multiple)


def _check_freshness(values, spans, problems) -> None:
    """The critical age comes after the warning, or a copy would be stale before it was late."""
    _freshness_from_the_interval(values)
    warning, critical = values.get("freshness_warning"), values.get("freshness_critical")
    if isinstance(warning, int) and isinstance(critical, int) and critical <= warning:
        problems.add(spans["freshness_critical"],
                     f"the critical age ({critical} s) must be longer than the warning age ({warning} s)")


def _check_rules(program: model.Program, problems: _Problems, database) -> None:
    seen: Dict[str, model.RuleBlock] = {}
    dumped = _dumped_databases(program)
    for rule in program.items(model.RuleBlock):
        if rule.name in seen:
            problems.add(rule.span, f"{rule.kind} '{rule.name}' is already declared at {seen[rule.name].span}")
        else:
            seen[rule.name] = rule
        for statement, _branches in model.walk_statements(rule.body):
            _check_statement(statement, problems, dumped, database)
    for include in program.items(model.FileInclude):
        if ".." in include.pattern.split("/"):
            problems.add(include.span, f"include '{include.pattern}' contains '..': rule files are read only from their folders")


def _dumped_databases(program) -> Dict[str, set]:
    dumped: Dict[str, set] = {"mysql": set(), "postgresql": set()}
    for rule in program.items(model.RuleBlock):
        for statement, _branches in model.walk_statements(rule.body):
            if isinstance(statement, model.DumpStatement):
                dumped[statement.engine].update(statement.databases or {"*"})
    return dumped


def _check_path(problems, reference: model.PathRef) -> None:
    try:
        named.check_path(reference.path)
    except named.BadValue as error:
        problems.add(reference.span, str(error))


def _check_statement(statement, problems: _Problems, dumped, database) -> None:
    if isinstance(statement, (model.PathStatement, model.OwnerStatement)):
        for reference in statement.paths:
            _check_path(problems, reference)
    if isinstance(statement, model.ListFileStatement):
        _check_path(problems, statement.pattern)
    if isinstance(statement, model.OwnerStatement):
        for account in (statement.owner, statement.group):
            try:
                named.check_account(account)
            except named.BadValue as error:
                problems.add(statement.span, str(error))
        if "/" in statement.pattern:
            problems.add(statement.span, f"'matching' takes a file name pattern without '/', not '{statement.pattern}'")
    if isinstance(statement, model.DumpStatement):
        _check_dump(statement, problems, database)
    if isinstance(statement, model.PromoteStatement) and statement.kind == "restore":
        for database in statement.arguments:
            if database not in dumped[statement.engine] and "*" not in dumped[statement.engine]:
                problems.add(statement.span, f"promote restores {statement.engine} database '{database}' but no rule dumps it")
    if isinstance(statement, model.BeforePushStatement) or (
            isinstance(statement, model.PromoteStatement) and statement.kind == "run"):
        try:
            named.check_path(statement.arguments[0])
        except named.BadValue as error:
            problems.add(statement.span, str(error))
    for text in _free_text(statement):
        try:
            named.check_text(text)
        except named.BadValue as error:
            problems.add(statement.span, str(error))
    if isinstance(statement, model.WhenStatement) and statement.condition.kind == "exists":
        _check_path(problems, model.PathRef(statement.condition.argument, statement.condition.span))


def _free_text(statement) -> Tuple[str, ...]:
    """The quoted strings of ``statement`` that reach the plan unchecked by any other rule."""
    if isinstance(statement, model.WarnStatement):
        return (statement.text,)
    if isinstance(statement, model.OwnerStatement):
        return (statement.pattern,)
    if isinstance(statement, model.BeforePushStatement) or (
            isinstance(statement, model.PromoteStatement) and statement.kind == "run"):
        return tuple(statement.arguments[1:])
    return ()


def _check_dump(statement: model.DumpStatement, problems: _Problems, database) -> None:
    _check_path(problems, statement.target)
    is_folder = statement.target.path.endswith("/")
    if not is_folder and len(statement.databases) != 1:
        problems.add(statement.target.span,
                     "a dump into a file takes exactly one database; end the path with '/' to dump into a folder")
    if statement.engine == "postgresql" and not statement.databases:
        problems.add(statement.span, "postgresql dumps name their databases ('all' is for mysql)")
    seen = set()
    for option in statement.options:
        if option.name not in named.DUMP_OPTIONS:
            problems.add(option.span, f"unknown dump option '{option.name}'{_suggest(option.name, named.DUMP_OPTIONS)};"
                                      f" options: {', '.join(named.DUMP_OPTIONS)}")
            continue
        if option.name in seen:
            problems.add(option.span, f"dump option '{option.name}' is given twice")
        seen.add(option.name)
        resolved = named.resolve_value(option.value, database)
        try:
            named.DUMP_OPTIONS[option.name](resolved.text)
        except named.BadValue as error:
            problems.add(resolved.span, str(error))
