"""Model + settings -> plan: the plan stage of the compiler (``compile_root`` runs it)."""

import hashlib
from typing import Dict, List, Tuple

from .. import plan as planned
from ..frozen import frozen
from ..tool_versions import ToolVersions
from . import model
from . import settings as named
from .tunnel_auth import choose_tunnel_auth
from .validate import ResolvedSettings

DUMP_SUFFIX = {"mysql": ".dump", "postgresql": ".sql"}


def source_hash(program: model.Program, resolved: ResolvedSettings) -> str:
    """A digest of the rule files and the settings used (the password is not part of it)."""
    digest = hashlib.sha256()
    for source in program.files:
        digest.update(f"{source.path}\0{source.text}\0".encode())
    for name in sorted(resolved.values):
        if name != "password":
            digest.update(f"{name}={resolved.values[name]}\0".encode())
    for job in sorted(resolved.schedules):
        digest.update(f"{job}={resolved.schedules[job]}\0".encode())
    return "sha256:" + digest.hexdigest()


def build_plan(program: model.Program, resolved: ResolvedSettings, database, digest: str,
               tools: ToolVersions) -> planned.Plan:
    """The plan of a validated program (``database`` resolves the dump options' settings;
    ``tools`` are the versions the caller found on the host, recorded as they are)."""
    values = resolved.values
    tunnel_auth = choose_tunnel_auth(values["tunnel_auth"], tools.stunnel)
    context = _Context(database, _dumps_by_database(program))
    rules: List[planned.Rule] = []
    for block in program.items(model.RuleBlock):
        rules.extend(_flatten_rule(block, context))
    return planned.Plan(
        version=planned.PLAN_VERSION,
        source_hash=digest,
        role=values["role"],
        enabled=values["status"],
        databases_enabled=values["databases"],
        slave_host=values["slave_host"],
        master_host=values["master_host"],
        schedules=dict(resolved.schedules),
        compress=values["compress"],
        mode=values["mode"],
        restore_points=values["restore_points"],
        restore_points_keep=values["restore_points_keep"],
        restore_points_free_percent=values["restore_points_free_space"],
        transport=planned.Transport(
            tunnel_port=values["tunnel_port"], rsync_port=values["rsync_port"], user=values["user"],
            auth=tunnel_auth.mode, auth_chosen_by=tunnel_auth.chosen_by,
        ),
        limits=planned.Limits(
            max_delete_percent=values["max_delete"], max_rewrite_percent=values["max_rewrite"],
            io_timeout=values["io_timeout"], plugin_timeout=values["plugin_timeout"], bwlimit=values["bwlimit"],
        ),
        plugin_dir=values["plugin_dir"],
        notify=values["notify"],
        rules=tuple(rules),
        tools=tools,
        health=planned.Health(
            freshness_warning=values["freshness_warning"], freshness_critical=values["freshness_critical"],
            metrics_dir=values["metrics_dir"], min_free_mib=values["min_free_space"],
        ),
    )


def _origin(span) -> str:
    return str(span)


def _block_conditions(block: model.RuleBlock) -> Tuple[planned.Condition, ...]:
    if block.kind != "package":
        return ()
    version = block.version
    return (planned.Condition(
        kind="installed", argument=block.name,
        version_op=version.operator if version else "", version=version.version if version else "",
        origin=_origin(block.span),
    ),)


def _plan_condition(condition: model.Condition, negate: bool) -> planned.Condition:
    version = condition.version
    return planned.Condition(
        kind=condition.kind, argument=condition.argument, negated=condition.negated != negate,
        version_op=version.operator if version else "", version=version.version if version else "",
        origin=_origin(condition.span),
    )


@frozen
class _Context:
    database: object
    # (engine, database or "*" for an all-databases dump) -> [(rule name, dump statement)], in file order
    dumps: Dict[Tuple[str, str], List[Tuple[str, model.DumpStatement]]]

    def dump_for_restore(self, rule: str, engine: str, name: str) -> model.DumpStatement:
        """The dump a ``promote restore`` loads: its own rule's when there is one, else the first
        (validation has made sure there is one)."""
        candidates = self.dumps.get((engine, name)) or self.dumps.get((engine, "*")) or []
        own = [dump for owner, dump in candidates if owner == rule]
        return (own or [dump for _owner, dump in candidates])[0]

    def connection(self, dump: model.DumpStatement) -> Dict[str, str]:
        return {option.name: named.resolve_value(option.value, self.database).text for option in dump.options}


class _RuleParts:
    """What one set of conditions contributes, gathered while walking a rule's body."""

    def __init__(self):
        self.include: List[planned.PathEntry] = []
        self.exclude: List[planned.PathEntry] = []
        self.unexclude: List[planned.PathEntry] = []
        self.include_lists: List[planned.PathEntry] = []
        self.exclude_lists: List[planned.PathEntry] = []
        self.dumps: List[planned.Dump] = []
        self.owners: List[planned.OwnerFix] = []
        self.promote: List[planned.PromoteStep] = []
        self.warnings: List[str] = []
        self.before_push: List[planned.Action] = []


def _flatten_rule(block: model.RuleBlock, context: _Context) -> List[planned.Rule]:
    """The rule's statements as plan rules, one per run of statements under the same conditions.

    Consecutive statements with the same conditions share a plan rule; a change of
    conditions starts a new one, so the plan keeps the order the rule file gives (promotion
    steps run in that order).
    """
    groups: List[Tuple[Tuple[planned.Condition, ...], _RuleParts]] = []

    outer = _block_conditions(block)
    for statement, branches in model.walk_statements(block.body):
        if isinstance(statement, model.WhenStatement):
            continue  # its statements follow, each under its branch's condition
        conditions = outer + tuple(_plan_condition(condition, in_else) for condition, in_else in branches)
        if not groups or groups[-1][0] != conditions:
            groups.append((conditions, _RuleParts()))
        _add_statement(groups[-1][1], statement, context, block.name)
    if not groups:
        groups.append((outer, _RuleParts()))  # an empty rule still shows in explain
    return [
        planned.Rule(
            name=block.name, origin=_origin(block.span), conditions=conditions,
            include=tuple(part.include), exclude=tuple(part.exclude), unexclude=tuple(part.unexclude),
            include_lists=tuple(part.include_lists), exclude_lists=tuple(part.exclude_lists),
            dumps=tuple(part.dumps), owners=tuple(part.owners), promote=tuple(part.promote),
            warnings=tuple(part.warnings), before_push=tuple(part.before_push),
        )
        for conditions, part in groups
    ]


def _entries(references) -> List[planned.PathEntry]:
    return [planned.PathEntry(reference.path, _origin(reference.span)) for reference in references]


def _add_statement(part: _RuleParts, statement, context: _Context, rule: str) -> None:
    if isinstance(statement, model.PathStatement):
        getattr(part, statement.action).extend(_entries(statement.paths))
    elif isinstance(statement, model.ListFileStatement):
        getattr(part, f"{statement.action}_lists").extend(_entries([statement.pattern]))
    elif isinstance(statement, model.OwnerStatement):
        part.owners.append(planned.OwnerFix(
            owner=statement.owner, group=statement.group, paths=tuple(ref.path for ref in statement.paths),
            recursive=statement.recursive, optional=statement.optional, pattern=statement.pattern,
            origin=_origin(statement.span),
        ))
    elif isinstance(statement, model.DumpStatement):
        part.dumps.append(planned.Dump(
            engine=statement.engine, databases=statement.databases, target=statement.target.path,
            connection=context.connection(statement),
            origin=_origin(statement.span),
        ))
    elif isinstance(statement, model.PromoteStatement):
        part.promote.append(_promote_step(statement, context, rule))
    elif isinstance(statement, model.WarnStatement):
        part.warnings.append(statement.text)
    elif isinstance(statement, model.BeforePushStatement):
        part.before_push.append(planned.Action(arguments=statement.arguments, origin=_origin(statement.span)))


def _promote_step(statement: model.PromoteStatement, context: _Context, rule: str) -> planned.PromoteStep:
    if statement.kind == "restore":
        dumps = [context.dump_for_restore(rule, statement.engine, name) for name in statement.arguments]
        return planned.PromoteStep(
            kind="restore", engine=statement.engine, databases=statement.arguments,
            dump_targets=tuple(dump_file(statement.engine, dump.target.path, name)
                               for dump, name in zip(dumps, statement.arguments)),
            # Validation guarantees a dump for each database; they share one connection per statement.
            connection=context.connection(dumps[0]),
            origin=_origin(statement.span), optional=statement.optional,
        )
    return planned.PromoteStep(kind=statement.kind, arguments=statement.arguments, origin=_origin(statement.span),
                               optional=statement.optional)


def dump_file(engine: str, target: str, database: str) -> str:
    """The host path of one database's dump: inside a folder target, or the file target itself."""
    if target.endswith("/"):
        return f"{target}{database}{DUMP_SUFFIX[engine]}"
    return target


def _dumps_by_database(program: model.Program) -> Dict[Tuple[str, str], List[Tuple[str, model.DumpStatement]]]:
    """Every dump statement under each (engine, database) it dumps; "*" for all-databases dumps."""
    dumps: Dict[Tuple[str, str], List[Tuple[str, model.DumpStatement]]] = {}
    for rule in program.items(model.RuleBlock):
        for statement, _branches in model.walk_statements(rule.body):
            if isinstance(statement, model.DumpStatement):
                for name in statement.databases or ("*",):
                    dumps.setdefault((statement.engine, name), []).append((rule.name, statement))
    return dumps
