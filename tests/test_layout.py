"""The package keeps its boundaries: each package in ``BOUNDARIES`` must not import the modules
its row forbids. The imports are read from the source with ``ast`` (nothing is imported), so
relative imports, imports inside functions and ``from hotsync import X`` all count.

A new rule is a new row: (package, forbidden module prefixes).
"""

import ast
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import pytest

# The folder holding the ``hotsync`` package.
SOURCE = Path(__file__).resolve().parent.parent

# Modules that exist only because of the host HotSync runs on (NethServer or a sandbox).
PLATFORM = (
    "hotsync.esmith", "hotsync.services", "hotsync.events", "hotsync.install",
    "hotsync.nethserver", "hotsync.sandbox",
)

BOUNDARIES = (
    # The compiler turns rule files and the values it is given into a plan and files: it reads no
    # platform (not even through the seam: its caller asks the host), runs nothing of the runtime
    # and knows no command line.
    ("hotsync.compiler", PLATFORM + ("hotsync.host", "hotsync.runtime", "hotsync.demo", "hotsync.commands")),
    # The runtime reaches the platform only through the seam, hotsync.host (not in PLATFORM):
    # the same code runs on NethServer and in a sandbox.
    ("hotsync.runtime", PLATFORM),
)


def package_modules(source: Path, package: str) -> List[Tuple[str, Path]]:
    """(module name, file) of every module in ``package`` and its sub-packages, in name order."""
    folder = source.joinpath(*package.split("."))
    modules = []
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(source).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append((".".join(parts), path))
    return modules


def imported_modules(module: str, path: Path) -> Iterator[Tuple[int, str]]:
    """(line, module) for every import in ``path``; ``from A import B`` names both A and A.B,
    since B may be a module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute_base(module, is_package, node.level, node.module)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _absolute_base(module: str, is_package: bool, level: int, name) -> str:
    """The absolute module a ``from`` import names (``..esmith`` in hotsync.compiler.render is hotsync.esmith)."""
    if not level:
        return name
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def is_under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def boundary_violations(source: Path, package: str, forbidden: Sequence[str]) -> List[str]:
    """Each forbidden import in ``package`` as 'file:line imports module'."""
    violations = []
    for module, path in package_modules(source, package):
        seen: List[Tuple[int, str]] = []
        for line, name in imported_modules(module, path):
            # ``from ..esmith import read_database`` is one violation, not two.
            if is_under(name, forbidden) and not any(at == line and is_under(name, [found]) for at, found in seen):
                seen.append((line, name))
                violations.append(f"{path.relative_to(source)}:{line} imports {name}")
    return violations


@pytest.mark.parametrize("package, forbidden", BOUNDARIES, ids=[package for package, _ in BOUNDARIES])
def test_package_imports_nothing_its_boundary_forbids(package, forbidden):
    assert package_modules(SOURCE, package), f"{package} has no modules: the layout moved"
    assert boundary_violations(SOURCE, package, forbidden) == []


def write_tree(base, files) -> None:
    """Write ``files`` (relative path -> text) under ``base``."""
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)


def test_the_check_sees_relative_absolute_and_nested_imports(tmp_path):
    """A package with every way to reach a forbidden module, and look-alikes that are allowed."""
    files = {
        "hotsync/compiler/__init__.py": "from ..esmith import read_database\nfrom . import model\n",
        "hotsync/compiler/model.py": "from ..errors import Span\nfrom .. import services\nimport hotsync.runtime.sync\n",
        "hotsync/compiler/stage/__init__.py": "from ...runtimes import nothing\nfrom hotsync.nethserver import host\n",
        "hotsync/compiler/stage/deep.py": "def late():\n    from ...commands import compile\n    from ..model import Span\n",
    }
    write_tree(tmp_path, files)

    forbidden = PLATFORM + ("hotsync.runtime", "hotsync.commands")
    assert boundary_violations(tmp_path, "hotsync.compiler", forbidden) == [
        "hotsync/compiler/__init__.py:1 imports hotsync.esmith",
        "hotsync/compiler/model.py:2 imports hotsync.services",
        "hotsync/compiler/model.py:3 imports hotsync.runtime.sync",
        "hotsync/compiler/stage/__init__.py:2 imports hotsync.nethserver",
        "hotsync/compiler/stage/deep.py:2 imports hotsync.commands",
    ]


def test_the_runtime_check_sees_every_way_around_the_seam(tmp_path):
    """A runtime that reaches the platform directly, in each way an import can be written;
    the seam itself (hotsync.host) is allowed."""
    files = {
        "hotsync/runtime/__init__.py": "",
        "hotsync/runtime/fence.py": "from ..esmith import read_database\nfrom ..host import host_for\n",
        "hotsync/runtime/promote.py": "from .. import services\nfrom ..nethserver.events import run_event\n",
        "hotsync/runtime/slave.py": "def late():\n    import hotsync.sandbox.packages\n    from ..hosts import x\n",
    }
    write_tree(tmp_path, files)

    assert boundary_violations(tmp_path, "hotsync.runtime", PLATFORM) == [
        "hotsync/runtime/fence.py:1 imports hotsync.esmith",
        "hotsync/runtime/promote.py:1 imports hotsync.services",
        "hotsync/runtime/promote.py:2 imports hotsync.nethserver.events",
        "hotsync/runtime/slave.py:2 imports hotsync.sandbox.packages",
    ]


def sandbox_checks(source: Path) -> List[str]:
    """'file:line' of every place the package's source reads ``is_sandbox`` (as an attribute,
    or by name, as ``getattr`` would)."""
    found = []
    for path in sorted(source.joinpath("hotsync").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            attribute = isinstance(node, ast.Attribute) and node.attr == "is_sandbox"
            text = isinstance(node, ast.Constant) and node.value == "is_sandbox"
            if attribute or text:
                found.append(f"{path.relative_to(source)}:{node.lineno}")
    return found


def test_only_the_seam_tells_nethserver_from_a_sandbox():
    """Every sandbox-or-NethServer decision goes through host_for(root): is_sandbox is read there only."""
    reads = sandbox_checks(SOURCE)
    assert reads, "is_sandbox is read nowhere: the seam moved"
    assert [read for read in reads if not read.startswith("hotsync/host.py:")] == []
