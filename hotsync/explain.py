"""Why a path is, or is not, synchronised: the plan's rules evaluated now, with their origins.

Reads the compiled plan (never the rule files) and the host facts the runtime uses at each
push (installed packages, existing paths, the database switch, the list files), and mirrors
how the push's rsync reads its two lists:

- an include entry is sent with everything below it (``--files-from`` with ``-r``);
- an exclude pattern hides what it matches and everything below it. It is checked against
  the include entry itself and every folder between that entry and the path, not against
  the folders above the entry (rsync only implies those), so an excluded ``/var/log/``
  does not hide an included ``/var/log/smbaudit.log``;
- ``unexclude`` withdraws an exclusion made by a rule or a list file; the built-in
  excludes cannot be withdrawn.

Plugins in the plan's plugin folder run only at sync time and may still change the lists:
they are named, their changes cannot be foreseen.
"""

import posixpath
import re
from typing import Iterable, List, Optional, Sequence, Tuple

from .frozen import field, frozen
from .paths import host_path_problem
from .plan import Plan, Rule
from .root import Root
from .runtime.backup import CONFIG_BACKUP_FILES
from .runtime.conditions import InstalledPackages, RuleState, evaluate_rules
from .runtime.lists import FIXED_EXCLUDES, find_plugins, is_withdrawn, list_file_entries, runtime_excludes

BUILT_IN = "built-in"
CONFIG_BACKUP_ORIGIN = "the configuration backup, pushed with every sync"
FIXED_EXCLUDE_ORIGIN = "always excluded: backups, e-smith databases and logs are not mirrored"
RUNTIME_EXCLUDE_ORIGIN = "always excluded: HotSync's own state and the files that make a host master or slave"


@frozen
class ListEntry:
    """One include path or exclude pattern, the rule that made it and where it was written.

    ``origin`` is ``FILE:LINE:COL`` of the statement, ``LISTFILE:LINE`` for a list-file line
    (then ``via`` is the origin of the ``include from``/``exclude from`` statement), or a
    sentence for a built-in entry. ``reason`` says why the rule is inactive ("" = active).
    """

    path: str
    rule: str
    origin: str
    via: str = ""
    reason: str = ""

    @property
    def active(self) -> bool:
        return not self.reason

    def source(self) -> str:
        """Where the entry comes from, as one phrase."""
        if self.rule == BUILT_IN:
            return f"built-in: {self.origin}"
        text = f"rule {self.rule}, {self.origin}"
        return f"{text} via {self.via}" if self.via else text


@frozen
class Withdrawal:
    """An exclusion that an active ``unexclude`` withdrew."""

    exclude: ListEntry
    unexclude: ListEntry


@frozen
class EffectiveLists:
    """The lists a push would use now, before plugins, each entry with its origin."""

    includes: Tuple[ListEntry, ...]  # active, in push order, first occurrence of each path
    excludes: Tuple[ListEntry, ...]  # active and not withdrawn, then the built-in ones
    withdrawn: Tuple[Withdrawal, ...]
    inactive_includes: Tuple[ListEntry, ...]  # entries of inactive rules, with the reason
    inactive_excludes: Tuple[ListEntry, ...]
    rules: Tuple[RuleState, ...]
    plugins: Tuple[str, ...]
    problems: Tuple[str, ...] = ()  # list files that could not be read


@frozen
class Explanation:
    """The verdict on one path and the reasons, one sentence each."""

    path: str
    synced: bool
    reasons: Tuple[str, ...]
    notes: Tuple[str, ...] = field(default_factory=tuple)


def build_effective_lists(root: Root, plan: Plan, packages: Optional[InstalledPackages] = None) -> EffectiveLists:
    """Evaluate the plan's rules now and gather every include and exclude with its origin."""
    packages = packages or InstalledPackages(root)
    states = evaluate_rules(root, plan, packages)
    problems: List[str] = []
    includes, excludes, unexcludes = [], [], []
    inactive_includes, inactive_excludes = [], []
    for state in states:
        reason = "" if state.active else state.reason
        rule_includes = _rule_entries(root, state.rule, "include", reason, problems)
        rule_excludes = _rule_entries(root, state.rule, "exclude", reason, problems)
        if state.active:
            includes += rule_includes
            excludes += rule_excludes
            unexcludes += [_entry(item, state.rule, "") for item in state.rule.unexclude]
        else:
            inactive_includes += rule_includes
            inactive_excludes += rule_excludes
    kept, withdrawn = _apply_unexcludes(excludes, unexcludes)
    includes += [ListEntry(path, BUILT_IN, CONFIG_BACKUP_ORIGIN) for path in CONFIG_BACKUP_FILES]
    kept += [ListEntry(path, BUILT_IN, FIXED_EXCLUDE_ORIGIN) for path in FIXED_EXCLUDES]
    kept += [ListEntry(path, BUILT_IN, RUNTIME_EXCLUDE_ORIGIN) for path in runtime_excludes(plan)]
    return EffectiveLists(
        includes=tuple(_first_of_each(includes)),
        excludes=tuple(_first_of_each(kept)),
        withdrawn=tuple(withdrawn),
        inactive_includes=tuple(inactive_includes),
        inactive_excludes=tuple(inactive_excludes),
        rules=states,
        plugins=tuple(plugin.name for plugin in find_plugins(root, plan)),
        problems=tuple(problems),
    )


def _entry(item, rule: Rule, reason: str, via: str = "") -> ListEntry:
    return ListEntry(item.path, rule.name, item.origin, via, reason)


def _rule_entries(root: Root, rule: Rule, action: str, reason: str, problems: List[str]) -> List[ListEntry]:
    """A rule's own paths, then its list files' lines: the order the runtime uses."""
    entries = [_entry(item, rule, reason) for item in getattr(rule, action)]
    for pattern in getattr(rule, f"{action}_lists"):
        for path, where in list_file_entries(root, pattern.path, problems):
            entries.append(ListEntry(path, rule.name, where, pattern.origin, reason))
    return entries


def _apply_unexcludes(excludes: Sequence[ListEntry], unexcludes: Sequence[ListEntry]):
    """The excludes that stay, and each withdrawn one paired with the unexclude that withdrew it."""
    kept, withdrawn = [], []
    for exclude in excludes:
        withdrawing = next((item for item in unexcludes if is_withdrawn(exclude.path, [item.path])), None)
        if withdrawing is None:
            kept.append(exclude)
        else:
            withdrawn.append(Withdrawal(exclude, withdrawing))
    return kept, withdrawn


def _first_of_each(entries: Iterable[ListEntry]) -> List[ListEntry]:
    seen, unique = set(), []
    for entry in entries:
        if entry.path not in seen:
            seen.add(entry.path)
            unique.append(entry)
    return unique


# --- matching a path the way rsync does -------------------------------------------------


def pattern_matches(pattern: str, path: str, is_directory: bool) -> bool:
    """Whether an rsync exclude ``pattern`` matches the host ``path`` itself.

    A trailing ``/`` matches folders only; a leading ``/`` anchors at the root; a pattern
    with an inner ``/`` (or ``**``) matches the end of the path at a folder boundary; any
    other pattern matches the last name. ``*`` and ``?`` stop at ``/``, ``**`` does not.
    """
    if pattern.endswith("/") and len(pattern) > 1:
        if not is_directory:
            return False
        pattern = pattern.rstrip("/")
    expression = _glob_to_regex(pattern)
    if pattern.startswith("/"):
        return re.fullmatch(expression, path) is not None
    if "/" in pattern or "**" in pattern:
        return re.fullmatch(f"(?:.*/)?{expression}", path.lstrip("/")) is not None
    return re.fullmatch(expression, posixpath.basename(path)) is not None


def _glob_to_regex(pattern: str) -> str:
    parts, index = [], 0
    while index < len(pattern):
        character = pattern[index]
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if character == "*":
            parts.append("[^/]*")
        elif character == "?":
            parts.append("[^/]")
        elif character == "[" and "]" in pattern[index + 2:]:
            end = pattern.index("]", index + 2)
            parts.append("[" + pattern[index + 1:end].replace("!", "^", 1) + "]")
            index = end
        elif character == "\\" and index + 1 < len(pattern):
            index += 1
            parts.append(re.escape(pattern[index]))
        else:
            parts.append(re.escape(character))
        index += 1
    return "".join(parts)


def _bare(path: str) -> str:
    return path.rstrip("/") or "/"


def covers(include: str, path: str) -> bool:
    """Whether the include entry ``include`` sends ``path`` (itself or something below it)."""
    top = _bare(include)
    return path == top or path.startswith(top.rstrip("/") + "/")


def checked_steps(include: str, path: str, path_is_directory: bool) -> List[Tuple[str, bool]]:
    """(host path, is a folder) that rsync checks against the excludes to send ``path`` via ``include``."""
    top = _bare(include)
    steps = [top]
    if path != top:
        relative = path[len(top.rstrip("/")) + 1:].split("/")
        for count in range(1, len(relative) + 1):
            steps.append(top.rstrip("/") + "/" + "/".join(relative[:count]))
    return [(step, True if step != path else path_is_directory) for step in steps]


def first_blocking(excludes: Sequence[ListEntry], include: str, path: str, is_directory: bool):
    """The first exclude that hides ``path`` on its way from ``include``, and the step it matched."""
    for step, step_is_directory in checked_steps(include, path, is_directory):
        for exclude in excludes:
            if pattern_matches(exclude.path, step, step_is_directory):
                return exclude, step
    return None, ""


def matching_excludes(excludes: Sequence[ListEntry], path: str, is_directory: bool) -> List[Tuple[ListEntry, str]]:
    """Excludes matching ``path`` or one of its folders (for paths no include sends)."""
    found = []
    for exclude in excludes:
        step = _matched_step(exclude.path, path, is_directory)
        if step:
            found.append((exclude, step))
    return found


def _matched_step(pattern: str, path: str, is_directory: bool) -> str:
    for step, step_is_directory in checked_steps("/", path, is_directory):
        if step != "/" and pattern_matches(pattern, step, step_is_directory):
            return step
    return ""


# --- explaining one path ----------------------------------------------------------------


def normalize_host_path(text: str) -> str:
    """``text`` as a clean absolute host path; ``ValueError`` when it is relative or climbs."""
    problem = host_path_problem(text)
    if problem:
        raise ValueError(f"path '{text}' {problem}")
    return posixpath.normpath(text).replace("//", "/")


def explain_path(root: Root, plan: Plan, text: str, lists: Optional[EffectiveLists] = None) -> Explanation:
    """Whether the host path ``text`` will be synced by the next push, and why."""
    path = normalize_host_path(text)
    lists = lists or build_effective_lists(root, plan)
    real = root.path(path)
    is_directory = text.endswith("/") or real.is_dir()
    reasons: List[str] = []
    synced = False
    covering = [entry for entry in lists.includes if covers(entry.path, path)]
    for include in covering:
        blocker, step = first_blocking(lists.excludes, include.path, path, is_directory)
        if blocker is None:
            synced = True
            reasons.append(f"included by {include.path} ({include.source()})")
        else:
            where = "" if step == path else f" at {step}"
            reasons.append(f"included by {include.path} ({include.source()})"
                           f" but excluded by {blocker.path}{where} ({blocker.source()})")
    if not covering:
        reasons.append("no active rule includes it")
        reasons += [f"excluded by {entry.path}{'' if step == path else ' at ' + step} ({entry.source()})"
                    for entry, step in matching_excludes(lists.excludes, path, is_directory)]
    reasons += _withdrawn_reasons(lists, path, is_directory)
    reasons += _inactive_reasons(lists, path, is_directory)
    return Explanation(path, synced, tuple(reasons), tuple(_notes(root, plan, lists, path, real, synced)))


def _withdrawn_reasons(lists: EffectiveLists, path: str, is_directory: bool) -> List[str]:
    reasons = []
    for withdrawal in lists.withdrawn:
        exclude, unexclude = withdrawal.exclude, withdrawal.unexclude
        if _matched_step(exclude.path, path, is_directory):
            reasons.append(
                f"the exclusion {exclude.path} ({exclude.source()}) is withdrawn by "
                f"unexclude {unexclude.path} ({unexclude.source()})"
            )
    return reasons


def _inactive_reasons(lists: EffectiveLists, path: str, is_directory: bool) -> List[str]:
    reasons = []
    for entry in lists.inactive_includes:
        if covers(entry.path, path):
            reasons.append(f"rule {entry.rule} would include it by {entry.path} ({entry.origin}) "
                           f"but is inactive, condition false now: {entry.reason}")
    for entry in lists.inactive_excludes:
        if _matched_step(entry.path, path, is_directory):
            reasons.append(f"rule {entry.rule} would exclude it by {entry.path} ({entry.origin}) "
                           f"but is inactive, condition false now: {entry.reason}")
    return reasons


def _notes(root: Root, plan: Plan, lists: EffectiveLists, path: str, real, synced: bool) -> List[str]:
    notes = []
    for state in lists.rules:
        if state.active:
            notes += _dump_notes(state.rule, path) + _owner_notes(state.rule, path)
    if synced and not real.exists() and not real.is_symlink():
        notes.append("it does not exist on this host now: the push skips missing entries")
    if plan.role != "master":
        notes.append(f"this host's role is {plan.role or 'not set'}: only a master pushes these lists")
    if lists.plugins:
        notes.append(f"plugins in {plan.plugin_dir} may still change the lists at sync time: {', '.join(lists.plugins)}")
    notes += list(lists.problems)
    return notes


def _dump_notes(rule: Rule, path: str) -> List[str]:
    notes = []
    for dump in rule.dumps:
        if covers(dump.target, path) or (dump.target.endswith("/") and path.startswith(dump.target)):
            names = ", ".join(dump.databases) or "every database"
            notes.append(f"written before each push by the {dump.engine} dump of {names} (rule {rule.name}, {dump.origin})")
    return notes


def _owner_notes(rule: Rule, path: str) -> List[str]:
    notes = []
    for owner in rule.owners:
        for target in owner.paths:
            if _bare(target) == path or (owner.recursive and covers(target, path)):
                what = f" for files matching {owner.pattern}" if owner.pattern else ""
                notes.append(f"the slave sets owner {owner.owner}:{owner.group}{what} on {target} "
                             f"(rule {rule.name}, {owner.origin})")
    return notes


# --- text for the admin -----------------------------------------------------------------


def format_explanation(explanation: Explanation) -> str:
    """The verdict line, then one indented line per reason and note."""
    verdict = "synced" if explanation.synced else "not synced"
    lines = [f"{explanation.path}: {verdict}"]
    lines += [f"  {reason}" for reason in explanation.reasons]
    lines += [f"  note: {note}" for note in explanation.notes]
    return "\n".join(lines) + "\n"


def format_lists(plan: Plan, lists: EffectiveLists) -> str:
    """Every effective include and exclude with its origin, then what was withdrawn or inactive."""
    sections = [
        _section("includes", [(entry.path, entry.source()) for entry in lists.includes]),
        _section("excludes", [(entry.path, entry.source()) for entry in lists.excludes]),
        _section("withdrawn excludes", [
            (item.exclude.path, f"{item.exclude.source()}; withdrawn by unexclude {item.unexclude.path} "
                                f"({item.unexclude.source()})")
            for item in lists.withdrawn
        ]),
        _section("inactive rules", _inactive_rows(lists.rules)),
    ]
    text = "\n".join(section for section in sections if section)
    if plan.role != "master":
        text += f"\nnote: this host's role is {plan.role or 'not set'}: only a master pushes these lists\n"
    if lists.plugins:
        text += f"\nnote: plugins in {plan.plugin_dir} may still change the lists at sync time: {', '.join(lists.plugins)}\n"
    for problem in lists.problems:
        text += f"\nnote: {problem}\n"
    return text


def _inactive_rows(states: Sequence[RuleState]) -> List[Tuple[str, str]]:
    """One row per inactive rule and failed condition (a rule's parts often fail alike)."""
    rows = []
    for state in states:
        if state.active:
            continue
        condition = state.reason
        repeated = f" ({state.rule.origin})"
        if condition.endswith(repeated):  # the package condition sits where the rule starts
            condition = condition[: -len(repeated)]
        row = (state.rule.name, f"{state.rule.origin}: condition false now: {condition}")
        if row not in rows:
            rows.append(row)
    return rows


def _section(title: str, rows: Sequence[Tuple[str, str]]) -> str:
    if not rows:
        return f"{title} (0)\n"
    width = min(max(len(name) for name, _ in rows), 56)
    body = "".join(f"  {name:<{width}}  {detail}\n" for name, detail in rows)
    return f"{title} ({len(rows)}):\n{body}"
