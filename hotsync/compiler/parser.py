"""Parse rule files into the model: grammar loading, lark tree to frozen classes, includes.

``parse_program(root, main_file)`` reads the main rule file and every file it includes
and returns the model plus the diagnostics of files that did not parse. Only rule files
are ever read (``*.hs`` inside ``/etc/hotsync/``, links followed), so no diagnostic can
quote a line of another file.
"""

import difflib
import functools
import glob
import os
import re
from pathlib import PurePosixPath
from typing import List, Optional, Tuple

from lark import Lark, Token, Transformer, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args

from ..errors import Diagnostic, Span
from ..paths import RULES_FOLDER
from ..resources import shipped_folder
from ..root import Root
from . import model

MAIN_RULES_FILE = f"{RULES_FOLDER}/hotsync.hs"
RULE_FILE_SUFFIX = ".hs"
# Building the LALR tables costs far more than parsing the rules; lark keeps them here,
# keyed by a digest of the grammar and of lark's version, so every event after the first
# starts fast. Inside the root (root-owned), never in a shared temp folder: it is a pickle.
GRAMMAR_CACHE = "/var/cache/hotsync/grammar.lark-cache"
# How deep 'when' blocks may nest. Every later stage walks the rules recursively; the
# limit keeps a hostile or generated file from exhausting Python's recursion depth.
MAX_NESTING_LEVELS = 32

# What a terminal is called in an error message.
TERMINAL_NAMES = {
    "PATH": "an absolute path", "ADDRESS": "an IPv4 address", "STRING": "a quoted string", "NAME": "a name", "NUMBER": "a number",
    "PERCENT": "a percentage", "SETTING_REF": "a setting KEY.PROP", "OWNER_GROUP": "OWNER:GROUP",
    "VERSION": "a version", "VERSION_OP": "a comparison (> >= < <= ==)", "ENGINE": "mysql or postgresql",
    "LBRACE": "'{'", "RBRACE": "'}'", "EQUAL": "'='", "SEMICOLON": "';'", "_SEP": "end of line",
    "$END": "end of file", "OTHERWISE": "'otherwise'",
}


@functools.lru_cache(maxsize=None)
def build_parser(strict: bool = False, cache_file: Optional[str] = None) -> Lark:
    """The rule-language parser, built once per process. ``strict`` (used by the tests) also
    fails on terminal collisions, which needs the optional ``interegular`` package;
    ``cache_file`` keeps the built tables between processes."""
    grammar = (shipped_folder("grammar") / "hotsync.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, strict=strict, maybe_placeholders=True,
                cache=cache_file or False)


def parser_for(root: Root, may_write: bool) -> Lark:
    """The parser, using the root's table cache; ``may_write`` False (``--check``) only reads it."""
    cache = root.path(GRAMMAR_CACHE)
    if may_write:
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return build_parser(cache_file=str(cache))
    return build_parser(cache_file=str(cache) if cache.is_file() else None)


def parse_text(text: str, file: str, parser: Optional[Lark] = None) -> Tuple[Optional[model.SourceFile], List[Diagnostic]]:
    """Parse one rule file's text; on a syntax error, no model and one located diagnostic."""
    try:
        tree = (parser or build_parser()).parse(text)
    except UnexpectedInput as error:
        return None, [_syntax_diagnostic(error, text, file)]
    too_deep = _first_too_deep_block(tree)
    if too_deep is not None:
        return None, [_nesting_diagnostic(too_deep, text, file)]
    items = _ToModel(file).transform(tree)
    return model.SourceFile(path=file, text=text, items=tuple(items.children)), []


def parse_program(
    root: Root, main_file: str = MAIN_RULES_FILE, may_write_cache: bool = False
) -> Tuple[model.Program, List[Diagnostic]]:
    """The main rule file and, depth first in order, every file it includes (globs sorted).

    A file included twice is read once; a missing main file is a diagnostic.
    """
    parsers: List[Lark] = []  # built on the first file read, so a host without rules gets no cache
    files: List[model.SourceFile] = []
    diagnostics: List[Diagnostic] = []
    seen = set()

    def read(host_path: str, included_from: Optional[model.FileInclude]) -> None:
        if host_path in seen:
            return
        seen.add(host_path)
        span = included_from.span if included_from else Span(host_path)
        if not _inside_rules_folder(root, host_path):
            diagnostics.append(Diagnostic(span, f"rule file {host_path} is a link to a file outside "
                                                f"{RULES_FOLDER}/: rule files are read only from there"))
            return
        try:
            text = root.path(host_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            hint = "; run 'hotsync install' to put the shipped rules in place" if host_path == main_file else ""
            diagnostics.append(Diagnostic(span, f"cannot read rule file {host_path}: {reason}{hint}"))
            return
        if not parsers:
            parsers.append(parser_for(root, may_write_cache))
        source, problems = parse_text(text, host_path, parsers[0])
        diagnostics.extend(problems)
        if source is None:
            return
        files.append(source)
        for item in source.items:
            if isinstance(item, model.FileInclude):
                refusal = _refuse_include(host_path, item)
                if refusal:
                    diagnostics.append(Diagnostic(item.span, refusal, _line(text, item.span.line)))
                    continue
                for included in _expand_include(root, host_path, item):
                    read(included, item)

    read(main_file, None)
    return model.Program(files=tuple(files)), diagnostics


def _refuse_include(including_file: str, include: model.FileInclude) -> str:
    """Why an ``include "PATTERN"`` may not be read ("" when it may), decided before reading.

    Only rule files are read: a file of another kind would end up quoted in a syntax
    error (``include "/etc/shadow"`` would print a password hash), so the message names
    the pattern only.
    """
    pattern = _include_pattern(including_file, include)
    if ".." in pattern.parts:
        return ""  # reported by validation; _expand_include reads nothing
    if not str(pattern).startswith(f"{RULES_FOLDER}/") or not pattern.name.endswith(RULE_FILE_SUFFIX):
        return (f"include \"{include.pattern}\" is refused: rule files are read only from "
                f"{RULES_FOLDER}/ and their names end in '{RULE_FILE_SUFFIX}'")
    return ""


def _inside_rules_folder(root: Root, host_path: str) -> bool:
    """Whether the file at ``host_path``, links followed, is inside the rules folder."""
    folder = os.path.realpath(root.path(RULES_FOLDER))
    return os.path.realpath(root.path(host_path)).startswith(folder + os.sep)


def _include_pattern(including_file: str, include: model.FileInclude) -> PurePosixPath:
    """The include's pattern as a host path; relative patterns start at the including file."""
    pattern = PurePosixPath(include.pattern)
    if not pattern.is_absolute():
        pattern = PurePosixPath(including_file).parent / pattern
    return pattern


def _expand_include(root: Root, including_file: str, include: model.FileInclude) -> List[str]:
    """Host paths named by an ``include "PATTERN"``, globs expanded and sorted."""
    pattern = _include_pattern(including_file, include)
    if ".." in pattern.parts:
        return []  # reported by validation; never read outside the rule folders
    if not glob.has_magic(str(pattern)):
        return [str(pattern)]
    # Host paths spelled from the match itself: a match that is a link is judged by read().
    matches = glob.glob(str(root.path(str(pattern))))
    return sorted("/" + os.path.relpath(match, root.base) for match in matches)


def _line(text: str, number: int) -> str:
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


def _first_too_deep_block(tree: Tree) -> Optional[Tree]:
    """The first 'when' block, in file order, nested deeper than ``MAX_NESTING_LEVELS``.

    Walks with a list, not by recursion: the tree of the file may be deeper than Python's
    recursion limit (which the transformer into the model, a recursive walk, would hit).
    """
    pending = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if node.data == "when":
            depth += 1
            if depth > MAX_NESTING_LEVELS:
                return node
        pending.extend((child, depth) for child in reversed(node.children) if isinstance(child, Tree))
    return None


def _nesting_diagnostic(block: Tree, text: str, file: str) -> Diagnostic:
    line, column = block.meta.line, block.meta.column
    lines = text.splitlines()
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return Diagnostic(Span(file, line, column),
                      f"rules nest deeper than {MAX_NESTING_LEVELS} levels: this 'when' is inside "
                      f"{MAX_NESTING_LEVELS} others; join the conditions or split the rule", source_line)


def _syntax_diagnostic(error: UnexpectedInput, text: str, file: str) -> Diagnostic:
    """One located message for a syntax error: the likely mistake when there is one, else what was expected."""
    lines = text.splitlines()
    line, column = error.line, error.column
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    expected = _expected_terminals(error)
    keywords = sorted(name.lower() for name in expected if name.isalpha() and name not in TERMINAL_NAMES)
    word = _word_at(source_line, column)
    misspelled = bool(word) and word not in keywords and word.isidentifier()
    suggestion = difflib.get_close_matches(word, keywords, n=1, cutoff=0.6) if misspelled else []
    if suggestion or (misspelled and len(keywords) > 1):
        message = f"unknown keyword '{word}'"
    else:
        message = f"unexpected {_found(error, word, source_line, column)}"
    message += f" (did you mean '{suggestion[0]}'?)" if suggestion else f"; expected {_describe(expected)}"
    return Diagnostic(Span(file, line, column), message, source_line)


def _found(error: UnexpectedInput, word: str, source_line: str, column: int) -> str:
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        return "end of file"
    if word:
        return f"'{word}'"
    character = source_line[column - 1:column]
    return f"'{character}'" if character else "end of line"


def _expected_terminals(error: UnexpectedInput) -> List[str]:
    if isinstance(error, UnexpectedToken):
        return sorted(error.expected)
    if isinstance(error, UnexpectedCharacters):
        return sorted(error.allowed or ())
    return []


def _describe(expected: List[str]) -> str:
    names = []
    for terminal in expected:
        if terminal in ("COMMENT", "__ANON_0"):
            continue
        name = TERMINAL_NAMES.get(terminal)
        if name is None:
            name = f"'{terminal.lower()}'" if terminal.isalpha() else terminal
        if name not in names:
            names.append(name)
    if not names:
        return "something else"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _word_at(line: str, column: int) -> str:
    match = re.match(r'[^\s;{}"#=]+', line[column - 1:]) if column > 0 else None
    return match.group(0) if match else ""


def _unquote(token: str) -> str:
    """The text of a quoted string: \\" and \\\\ are the only escapes."""
    return re.sub(r'\\(["\\])', r"\1", token[1:-1])


def _path_text(token: Token) -> str:
    return _unquote(token) if token.type == "STRING" else str(token)


@v_args(meta=True)
class _ToModel(Transformer):
    """Lark tree of one file to model nodes; every node gets its span."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta_or_token) -> Span:
        return Span(self.file, getattr(meta_or_token, "line", 0) or 0, getattr(meta_or_token, "column", 0) or 0)

    def _path(self, token: Token) -> model.PathRef:
        return model.PathRef(_path_text(token), self._span(token))

    def file_include(self, meta, children):
        return model.FileInclude(_unquote(children[0]), self._span(meta))

    def global_block(self, meta, children):
        return model.GlobalBlock(tuple(child for child in children if child is not None), self._span(meta))

    def role_block(self, meta, children):
        _keyword, name, *items = children
        items = [item for item in items if item is not None]
        assignments = tuple(item for item in items if isinstance(item, model.Assignment))
        schedules = tuple(item for item in items if isinstance(item, model.Schedule))
        return model.RoleBlock(str(name), assignments, schedules, self._span(meta))

    def schedule(self, meta, children):
        job, cron = children
        return model.Schedule(str(job), _unquote(cron), self._span(meta))

    def assignment(self, meta, children):
        name, value = children
        return model.Assignment(str(name), value, self._span(name))

    def setting(self, meta, children):
        reference, default = children
        key, prop = str(reference).split(".", 1)
        return model.SettingRef(key, prop, default, self._span(reference))

    def string(self, meta, children):
        return model.Literal("string", _unquote(children[0]), self._span(children[0]))

    def number(self, meta, children):
        return model.Literal("number", str(children[0]), self._span(children[0]))

    def percent(self, meta, children):
        return model.Literal("percent", str(children[0])[:-1], self._span(children[0]))

    def word(self, meta, children):
        return model.Literal("word", str(children[0]), self._span(children[0]))

    def address(self, meta, children):
        return model.Literal("address", str(children[0]), self._span(children[0]))

    def path_literal(self, meta, children):
        return model.Literal("path", str(children[0]), self._span(children[0]))

    def version_constraint(self, meta, children):
        operator, version = children
        return model.VersionConstraint(str(operator), str(version), self._span(operator))

    def package_block(self, meta, children):
        name, version, body = children
        return model.RuleBlock("package", str(name), version, body, self._span(name))

    def rule_block(self, meta, children):
        name, body = children
        return model.RuleBlock("rule", str(name), None, body, self._span(name))

    def body(self, meta, children):
        return tuple(child for child in children if child is not None)

    def _paths(self, action, meta, children):
        return model.PathStatement(action, tuple(self._path(token) for token in children), self._span(meta))

    def include_paths(self, meta, children):
        return self._paths("include", meta, children)

    def exclude_paths(self, meta, children):
        return self._paths("exclude", meta, children)

    def unexclude_paths(self, meta, children):
        return self._paths("unexclude", meta, children)

    def include_list(self, meta, children):
        return model.ListFileStatement("include", self._path(children[0]), self._span(meta))

    def exclude_list(self, meta, children):
        return model.ListFileStatement("exclude", self._path(children[0]), self._span(meta))

    def owner_flag(self, meta, children):
        return str(children[0])

    def owner_pattern(self, meta, children):
        return ("pattern", _unquote(children[0]))

    def owner(self, meta, children):
        owner, group = str(children[0]).split(":", 1)
        flags = [child for child in children[1:] if isinstance(child, str) and not isinstance(child, Token)]
        pattern = next((child[1] for child in children if isinstance(child, tuple)), "")
        paths = tuple(self._path(child) for child in children[1:] if isinstance(child, Token))
        return model.OwnerStatement(owner, group, "recursive" in flags, "optional" in flags, paths, pattern, self._span(meta))

    def dump(self, meta, children):
        engine, *rest = children
        options = tuple(child for child in rest if isinstance(child, model.DumpOption))
        tokens = [child for child in rest if isinstance(child, Token)]
        *names, target = tokens
        databases = () if [n.type for n in names] == ["ALL"] else tuple(str(n) for n in names)
        return model.DumpStatement(str(engine), databases, self._path(target), options, self._span(meta))

    def dump_option(self, meta, children):
        name, value = children
        return model.DumpOption(str(name), value, self._span(name))

    def promote_restore(self, meta, children):
        optional, engine, *names = children
        return model.PromoteStatement("restore", str(engine), tuple(str(n) for n in names), self._span(meta),
                                      optional is not None)

    def promote_restart(self, meta, children):
        optional, *names = children
        return model.PromoteStatement("restart", "", tuple(str(n) for n in names), self._span(meta),
                                      optional is not None)

    def promote_run(self, meta, children):
        optional, program, *arguments = children
        return model.PromoteStatement(
            "run", "", (_path_text(program),) + tuple(_unquote(a) for a in arguments), self._span(meta),
            optional is not None,
        )

    def before_push(self, meta, children):
        program, *arguments = children
        return model.BeforePushStatement((_path_text(program),) + tuple(_unquote(a) for a in arguments), self._span(meta))

    def warn(self, meta, children):
        return model.WarnStatement(_unquote(children[0]), self._span(meta))

    def when(self, meta, children):
        condition, then, *rest = [child for child in children if not isinstance(child, Token)]
        otherwise = rest[0] if rest else None
        return model.WhenStatement(condition, _as_statements(then), _as_statements(otherwise), self._span(meta))

    def condition(self, meta, children):
        negation, (kind, argument, version) = children
        return model.Condition(kind, argument, negation is not None, version, self._span(meta))

    def databases_condition(self, meta, children):
        return ("databases", "", None)

    def installed_condition(self, meta, children):
        name, version = children
        return ("installed", str(name), version)

    def exists_condition(self, meta, children):
        return ("exists", _path_text(children[0]), None)


def _as_statements(branch) -> tuple:
    if branch is None:
        return ()
    return branch if isinstance(branch, tuple) else (branch,)
