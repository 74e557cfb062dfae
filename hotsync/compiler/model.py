"""The rule language's model: frozen classes, each node with its source span.

Nothing after the parser sees a lark Tree or Token; stages after this one (validate,
compile) work on these classes only.
"""

from typing import Iterator, Optional, Sequence, Tuple, Union

from ..errors import Span
from ..frozen import frozen


@frozen
class Literal:
    """A literal value: ``kind`` is ``string``, ``number``, ``percent`` or ``word``."""

    kind: str
    text: str
    span: Span


@frozen
class SettingRef:
    """A value read from the configuration database, ``setting KEY.PROP [default VALUE]``."""

    key: str
    prop: str
    default: Optional[Literal]
    span: Span


Value = Union[Literal, SettingRef]


@frozen
class Assignment:
    name: str
    value: Value
    span: Span


@frozen
class Schedule:
    job: str
    cron: str
    span: Span


@frozen
class GlobalBlock:
    assignments: Tuple[Assignment, ...]
    span: Span


@frozen
class RoleBlock:
    role: str
    assignments: Tuple[Assignment, ...]
    schedules: Tuple[Schedule, ...]
    span: Span


@frozen
class VersionConstraint:
    operator: str
    version: str
    span: Span


@frozen
class PathRef:
    path: str
    span: Span


@frozen
class PathStatement:
    """``include``, ``exclude`` or ``unexclude`` followed by paths."""

    action: str
    paths: Tuple[PathRef, ...]
    span: Span


@frozen
class ListFileStatement:
    """``include from "GLOB"`` / ``exclude from "GLOB"``: list files, one path per line."""

    action: str
    pattern: PathRef
    span: Span


@frozen
class OwnerStatement:
    owner: str
    group: str
    recursive: bool
    optional: bool
    paths: Tuple[PathRef, ...]
    pattern: str
    span: Span


@frozen
class DumpOption:
    name: str
    value: Value
    span: Span


@frozen
class DumpStatement:
    engine: str
    databases: Tuple[str, ...]  # empty = all
    target: PathRef
    options: Tuple[DumpOption, ...]
    span: Span


@frozen
class PromoteStatement:
    """``promote [optional] restore ENGINE DB…``, ``… restart SERVICE…``, ``… run PATH ARG…``;
    ``optional``: its failure is reported and promotion goes on."""

    kind: str
    engine: str
    arguments: Tuple[str, ...]
    span: Span
    optional: bool = False


@frozen
class BeforePushStatement:
    """``before push run PATH ARG…``: a program the master runs before each push."""

    arguments: Tuple[str, ...]  # the program's host path, then its arguments
    span: Span


@frozen
class WarnStatement:
    text: str
    span: Span


@frozen
class Condition:
    """``databases``, ``installed NAME [OP VERSION]`` or ``exists PATH``, maybe negated."""

    kind: str
    argument: str
    negated: bool
    version: Optional[VersionConstraint]
    span: Span


@frozen
class WhenStatement:
    condition: Condition
    then: Tuple["Statement", ...]
    otherwise: Tuple["Statement", ...]
    span: Span


Statement = Union[
    PathStatement, ListFileStatement, OwnerStatement, DumpStatement,
    PromoteStatement, BeforePushStatement, WarnStatement, WhenStatement,
]

# A ``when`` a statement sits in: its condition, and True when the statement is in its ``else``.
Branch = Tuple[Condition, bool]


def walk_statements(statements: Sequence[Statement],
                    branches: Tuple[Branch, ...] = ()) -> Iterator[Tuple[Statement, Tuple[Branch, ...]]]:
    """Every statement of a body in source order, those inside ``when`` blocks too (a ``when``
    comes before its branches), each with the ``when`` branches it sits in, outermost first."""
    for statement in statements:
        yield statement, branches
        if isinstance(statement, WhenStatement):
            yield from walk_statements(statement.then, branches + ((statement.condition, False),))
            yield from walk_statements(statement.otherwise, branches + ((statement.condition, True),))


@frozen
class RuleBlock:
    """``package NAME [OP VERSION] {…}`` (active when installed) or ``rule NAME {…}`` (always)."""

    kind: str
    name: str
    version: Optional[VersionConstraint]
    body: Tuple[Statement, ...]
    span: Span


@frozen
class FileInclude:
    pattern: str
    span: Span


@frozen
class SourceFile:
    """One parsed rule file: its host path, its text and its top-level items in order."""

    path: str
    text: str
    items: Tuple[Union[FileInclude, GlobalBlock, RoleBlock, RuleBlock], ...]


@frozen
class Program:
    """Every rule file reached from the main one, in reading order."""

    files: Tuple[SourceFile, ...]

    def items(self, kind):
        return tuple(item for source in self.files for item in source.items if isinstance(item, kind))

    def line_of(self, span: Span) -> str:
        """The source line a span points to (for the caret under an error)."""
        for source in self.files:
            if source.path == span.file:
                lines = source.text.splitlines()
                if 0 < span.line <= len(lines):
                    return lines[span.line - 1]
        return ""
