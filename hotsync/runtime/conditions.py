"""Run-time conditions of a rule, evaluated now: installed packages, existing paths, the database switch.

Package facts come from the host (``hotsync.host``): ``rpm`` on NethServer, the declared
package file in a sandbox root.

Each package is asked about at most once per run, so the cost follows the number of
rules, never the size of the disk.
"""

import re
from itertools import zip_longest
from typing import Dict, Iterable, Optional, Tuple

from ..errors import CommandError
from ..frozen import frozen
from ..host import host_for
from ..plan import Condition, Plan, Rule
from ..root import Root


class InstalledPackages:
    """Which packages the root's host has, and their versions.

    Asked once, when first needed (a single ``rpm -qa`` on NethServer): every sync needs
    the whole list for the configuration backup anyway, and one ``rpm -q`` per rule
    condition would cost a process each on every run.
    """

    def __init__(self, root: Root):
        self.root = root
        self._versions: Optional[Dict[str, str]] = None
        self._failure: Optional[CommandError] = None

    def version_of(self, name: str) -> Optional[str]:
        """The installed version of ``name`` ("" when unknown), or None when it is not installed."""
        return self._table().get(name)

    def all_names(self) -> Tuple[str, ...]:
        """Every installed package name (for the configuration backup's package list)."""
        versions = self._table()
        if self._failure is not None:
            raise self._failure
        return tuple(sorted(versions))

    def _table(self) -> Dict[str, str]:
        if self._versions is None:
            try:
                self._versions = host_for(self.root).installed_packages()
            except CommandError as error:
                self._failure = error  # for rules: nothing is installed as far as they can tell
                self._versions = {}
        return self._versions


@frozen
class RuleState:
    """A rule and whether it is active now; ``reason`` names the first condition that failed."""

    rule: Rule
    active: bool
    reason: str = ""


def evaluate_rules(root: Root, plan: Plan, packages: InstalledPackages) -> Tuple[RuleState, ...]:
    """Every rule of the plan with its state now, in plan order."""
    return tuple(evaluate_rule(root, plan, rule, packages) for rule in plan.rules)


def evaluate_rule(root: Root, plan: Plan, rule: Rule, packages: InstalledPackages) -> RuleState:
    """A rule is active when all its conditions hold; the first that does not is the reason."""
    for condition in rule.conditions:
        if not condition_holds(root, plan, condition, packages):
            return RuleState(rule, False, describe_condition(condition))
    return RuleState(rule, True)


def condition_holds(root: Root, plan: Plan, condition: Condition, packages: InstalledPackages) -> bool:
    """Whether ``condition`` holds now (``negated`` already applied); unknown kinds never hold."""
    if condition.kind == "installed":
        holds = package_matches(packages.version_of(condition.argument), condition.version_op, condition.version)
    elif condition.kind == "exists":
        holds = root.path(condition.argument).exists()
    elif condition.kind == "databases":
        holds = plan.databases_enabled
    else:
        return False
    return holds != condition.negated


def package_matches(installed: Optional[str], operator: str, wanted: str) -> bool:
    """Whether an installed version (None = not installed) satisfies ``operator wanted``."""
    if installed is None:
        return False
    if not operator:
        return True
    order = compare_versions(installed, wanted)
    checks = {
        "=": order == 0,
        "==": order == 0,
        "!=": order != 0,
        ">": order > 0,
        ">=": order >= 0,
        "<": order < 0,
        "<=": order <= 0,
    }
    return checks.get(operator, False)


def describe_condition(condition: Condition) -> str:
    """A condition as the admin would read it, with where it was written."""
    if condition.kind == "installed":
        text = f"installed {condition.argument}"
        if condition.version_op:
            text += f" {condition.version_op} {condition.version}"
    elif condition.kind == "exists":
        text = f"exists {condition.argument}"
    else:
        text = condition.kind
    if condition.negated:
        text = f"not {text}"
    return f"{text} ({condition.origin})" if condition.origin else text


_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")


def compare_versions(left: str, right: str) -> int:
    """Compare two version strings the way rpm does: -1, 0 or 1.

    Digits compare as numbers, letters as text, a digit segment is newer than a letter
    segment, a longer version is newer, and ``~`` sorts before everything (pre-releases).
    """
    for mine, theirs in zip_longest(_segments(left), _segments(right)):
        order = _compare_segment(mine, theirs)
        if order:
            return order
    return 0


def _segments(version: str) -> Iterable[str]:
    return _SEGMENT.findall(version)


def _compare_segment(mine: Optional[str], theirs: Optional[str]) -> int:
    if mine == theirs:
        return 0
    if mine == "~" or theirs == "~":
        return -1 if mine == "~" else 1
    if mine == "^":
        return 1 if theirs is None else -1  # 1.0^post is newer than 1.0, older than 1.0.1
    if theirs == "^":
        return -1 if mine is None else 1
    if mine is None or theirs is None:
        return -1 if mine is None else 1
    if mine.isdigit() and theirs.isdigit():
        return (int(mine) > int(theirs)) - (int(mine) < int(theirs))
    if mine.isdigit() != theirs.isdigit():
        return 1 if mine.isdigit() else -1
    return (mine > theirs) - (mine < theirs)
