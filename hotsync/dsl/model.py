"""The rule language's model: frozen dataclasses, each node with its source span.

Nothing after the parser sees a lark Tree or Token; stages after this one (validate,
compile) work on these classes only.
"""

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from ..errors import Span


@dataclass(frozen=True)
class Literal:
    """A literal value: ``kind`` is ``string``, ``number``, ``percent`` or ``word``."""

    kind: str
    text: str
    span: Span


@dataclass(frozen=True)
class SettingRef:
    """A value read from the configuration database, ``setting KEY.PROP [default VALUE]``."""

    key: str
    prop: str
    default: Optional[Literal]
    span: Span


Value = Union[Literal, SettingRef]


@dataclass(frozen=True)
class Assignment:
    name: str
    value: Value
    span: Span


@dataclass(frozen=True)
class Schedule:
    job: str
    cron: str
    span: Span


@dataclass(frozen=True)
class GlobalBlock:
    assignments: Tuple[Assignment, ...]
    span: Span


@dataclass(frozen=True)
class RoleBlock:
    role: str
    assignments: Tuple[Assignment, ...]
    schedules: Tuple[Schedule, ...]
    span: Span


@dataclass(frozen=True)
class VersionConstraint:
    operator: str
    version: str
    span: Span


@dataclass(frozen=True)
class PathRef:
    path: str
    span: Span


@dataclass(frozen=True)
class PathStatement:
    """``include``, ``exclude`` or ``unexclude`` followed by paths."""

    action: str
    paths: Tuple[PathRef, ...]
    span: Span


@dataclass(frozen=True)
class ListFileStatement:
    """``include from "GLOB"`` / ``exclude from "GLOB"``: list files, one path per line."""

    action: str
    pattern: PathRef
    span: Span


@dataclass(frozen=True)
class OwnerStatement:
    owner: str
    group: str
    recursive: bool
    optional: bool
    paths: Tuple[PathRef, ...]
    pattern: str
    span: Span


@dataclass(frozen=True)
class DumpOption:
    name: str
    value: Value
    span: Span


@dataclass(frozen=True)
class DumpStatement:
    engine: str
    databases: Tuple[str, ...]  # empty = all
    target: PathRef
    options: Tuple[DumpOption, ...]
    span: Span


@dataclass(frozen=True)
class PromoteStatement:
    """``promote restore ENGINE DB…``, ``promote restart SERVICE…``, ``promote run PATH ARG…``."""

    kind: str
    engine: str
    arguments: Tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class WarnStatement:
    text: str
    span: Span


@dataclass(frozen=True)
class Condition:
    """``databases``, ``installed NAME [OP VERSION]`` or ``exists PATH``, maybe negated."""

    kind: str
    argument: str
    negated: bool
    version: Optional[VersionConstraint]
    span: Span


@dataclass(frozen=True)
class WhenStatement:
    condition: Condition
    then: Tuple["Statement", ...]
    otherwise: Tuple["Statement", ...]
    span: Span


Statement = Union[
    PathStatement, ListFileStatement, OwnerStatement, DumpStatement,
    PromoteStatement, WarnStatement, WhenStatement,
]


@dataclass(frozen=True)
class RuleBlock:
    """``package NAME [OP VERSION] {…}`` (active when installed) or ``rule NAME {…}`` (always)."""

    kind: str
    name: str
    version: Optional[VersionConstraint]
    body: Tuple[Statement, ...]
    span: Span


@dataclass(frozen=True)
class FileInclude:
    pattern: str
    span: Span


@dataclass(frozen=True)
class SourceFile:
    """One parsed rule file: its host path, its text and its top-level items in order."""

    path: str
    text: str
    items: Tuple[Union[FileInclude, GlobalBlock, RoleBlock, RuleBlock], ...]


@dataclass(frozen=True)
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
