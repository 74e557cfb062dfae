"""Compare generated files with the disk, show the differences, write the changed ones.

Everything is computed before the first write, so ``--check`` and ``--diff`` are the same
code path minus ``write_changes``.
"""

import difflib
from typing import Iterable, List, Optional

from ..files import file_differs, write_file_atomic
from ..frozen import frozen
from ..plan import PLAN_PATH, Plan, plan_to_json
from ..root import Root
from .render import Output


@frozen
class Change:
    """A file whose content or mode will change; ``old`` is None when it does not exist yet."""

    output: Output
    old: Optional[str]

    @property
    def verb(self) -> str:
        return "create" if self.old is None else "update"


def plan_output(plan: Plan) -> Output:
    return Output(path=PLAN_PATH, content=plan_to_json(plan), mode=0o644)


def find_changes(root: Root, outputs: Iterable[Output]) -> List[Change]:
    """The outputs that differ from the disk (content or mode)."""
    changes = []
    for output in outputs:
        target = root.path(output.path)
        if file_differs(target, output.content, output.mode):
            try:
                old = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                old = None
            except UnicodeDecodeError:
                old = ""
            changes.append(Change(output, old))
    return changes


def format_diff(change: Change) -> str:
    """A unified diff of one change; secret (0600) files show that they change, not how."""
    if change.output.mode & 0o077 == 0:
        return f"--- {change.output.path}\n+++ {change.output.path}\n(secret file {change.verb}d; content not shown)\n"
    old_lines = (change.old or "").splitlines(keepends=True)
    new_lines = change.output.content.splitlines(keepends=True)
    diff = difflib.unified_diff(
        old_lines, new_lines,
        fromfile=change.output.path if change.old is not None else "/dev/null",
        tofile=change.output.path,
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
    return text or f"(mode of {change.output.path} changes to {change.output.mode:04o})\n"


def write_changes(root: Root, changes: Iterable[Change]) -> None:
    """Write every changed file through the one atomic helper."""
    for change in changes:
        output = change.output
        write_file_atomic(root.path(output.path), output.content, mode=output.mode, owner=output.owner, group=output.group)
