"""The compiler: rule files + configuration values -> plan and generated files, one module per stage.

    parser -> model -> validate (+ settings) -> planner (+ tunnel_auth) -> render (+ tunnel_key,
    tunnel_certificate) -> apply

``compile_root`` runs parse -> validate -> plan -> render and returns everything in
memory; writing is ``apply.py``'s job, so ``--check`` is just "don't apply". The compiler
reads the rule files of a root and nothing of the platform: the caller reads the
configuration database, asks the host (``hotsync.host``) how its commands are started and
the tools which versions they are (``hotsync.tool_versions``), and passes all three in (``tests/test_layout.py`` keeps it so).
"""

from typing import Optional, Tuple

from ..errors import Diagnostic
from ..frozen import frozen
from ..plan import Plan
from ..root import Root
from ..tool_versions import ToolVersions
from .parser import MAIN_RULES_FILE, parse_program
from .planner import build_plan, source_hash
from .render import HostCommands, Output, render_outputs
from .validate import validate_program


@frozen
class Compilation:
    """The result of compiling a root: the plan and the files (and any warnings), or the
    diagnostics with at least one error."""

    plan: Optional[Plan]
    outputs: Tuple[Output, ...]
    diagnostics: Tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> Tuple[Diagnostic, ...]:
        return tuple(diagnostic for diagnostic in self.diagnostics if diagnostic.severity == "error")


def compile_root(root: Root, database, commands: HostCommands, tools: ToolVersions,
                 main_file: str = MAIN_RULES_FILE, will_apply: bool = False) -> Compilation:
    """Read the root's rule files; with the configuration ``database``, plan and render in memory.

    ``database`` holds the configuration values the rules' ``setting KEY.PROP`` read:
    anything with ``get_prop(key, prop) -> Optional[str]`` (the caller's e-smith Database).
    ``commands`` is what the files say about the host (see ``render.HostCommands``).
    ``tools`` are the host's tool versions, recorded in the plan (the runtime chooses options from them).
    ``will_apply`` says the caller is going to write, so the parser may refresh its cache too.
    """
    program, parse_diagnostics = parse_program(root, main_file, may_write_cache=will_apply)
    validation = validate_program(program, database, tools)
    diagnostics = tuple(parse_diagnostics) + tuple(validation.diagnostics)
    if any(diagnostic.severity == "error" for diagnostic in diagnostics):
        return Compilation(None, (), diagnostics)
    plan = build_plan(program, validation.settings, database, source_hash(program, validation.settings), tools)
    return Compilation(plan, tuple(render_outputs(root, plan, validation.settings, commands)), diagnostics)
