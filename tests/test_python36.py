"""The package runs on NethServer 7's Python 3.6: nothing newer slips into ``hotsync/``.

Python 3.6 cannot be installed where the tests run, so the proof is static. vermin reads every
module and names each construct, module, function and keyword argument newer than 3.6. It runs
so that nothing can quiet it: no configuration file (a ``[vermin]`` section in setup.cfg could
declare backports or exclusions), no backports (``dataclasses`` from PyPI would count as 3.6),
no ``# novm`` comments, and annotations counted as evaluated (3.6 evaluates them when a
function or class is defined: ``list[int]`` there fails at import).

vermin cannot know the type behind a method call (``entry.unlink(missing_ok=True)`` on a path
from ``iterdir``), so a second check looks for the 3.7+ keyword arguments and methods HotSync's
kind of code reaches for, in the code's tokens (comments and strings do not count).
"""

import io
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import List

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hotsync"

VERMIN_OPTIONS = (
    "-t=3.6-", "--violations", "--no-tips", "--no-config-file", "--no-backport", "--no-parse-comments",
    "--eval-annotations",
)

# Keyword arguments and methods newer than 3.6 whose owner vermin cannot see in a call on a variable.
NEWER_CALLS = (
    ("missing_ok=", "Path.unlink(missing_ok=) is 3.8: catch FileNotFoundError"),
    ("capture_output=", "subprocess's capture_output= is 3.7: stdout=PIPE, stderr=PIPE"),
    ("dirs_exist_ok=", "shutil.copytree(dirs_exist_ok=) is 3.8"),
    (".isascii(", "str.isascii() is 3.7"),
    (".removeprefix(", "str.removeprefix() is 3.9"),
    (".removesuffix(", "str.removesuffix() is 3.9"),
    (".is_relative_to(", "PurePath.is_relative_to() is 3.9"),
    (".with_stem(", "PurePath.with_stem() is 3.9"),
    (".hardlink_to(", "Path.hardlink_to() is 3.10"),
    (".link_to(", "Path.link_to() is 3.8"),
    (".reconfigure(", "TextIOWrapper.reconfigure() is 3.7"),
)


def run_vermin(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", *VERMIN_OPTIONS, *map(str, paths)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )


def newer_calls(source: str) -> List[str]:
    """``LINE: advice`` for each 3.7+ call of ``NEWER_CALLS`` in the code of ``source``."""
    lines = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for before, token, after in zip(tokens, tokens[1:], tokens[2:]):
        spelled = {
            f"{token.string}{after.string}" if after.string == "=" else None,
            f"{before.string}{token.string}{after.string}" if before.string == "." and after.string == "(" else None,
        }
        for text, advice in NEWER_CALLS:
            if token.type == tokenize.NAME and text in spelled:
                lines.setdefault(token.start[0], f"{token.start[0]}: {advice}")
    return [lines[number] for number in sorted(lines)]


def test_the_package_needs_nothing_newer_than_python_3_6():
    finished = run_vermin(PACKAGE)
    assert finished.returncode == 0, f"code newer than Python 3.6 (NethServer 7):\n{finished.stdout}"


def test_no_call_newer_than_python_3_6_hides_behind_a_variable():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in newer_calls(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# Each sample is newer than 3.6, and is written the way that quiets a careless check: its line
# says "# novm", and the folder has a setup.cfg whose [vermin] section declares backports.
SAMPLES = {
    "capture_output": ("import subprocess\nsubprocess.run(['true'], capture_output=True)\n", "capture_output"),
    "text mode": ("import subprocess\nsubprocess.run(['true'], text=True)\n", "subprocess.run(text)"),
    "resources files": ("import importlib.resources\nimportlib.resources.files('hotsync')\n",
                        "importlib.resources"),
    "dataclasses with a fallback": ("try:\n    import dataclasses\nexcept ImportError:\n    dataclasses = None\n",
                                    "'dataclasses' module"),
    "postponed annotations": ("from __future__ import annotations\n", "__future__.annotations"),
    "get_args": ("import typing\ntyping.get_args(int)\n", "typing.get_args"),
    "Literal": ("from typing import Literal\n", "typing.Literal"),
    "builtin generics": ("def names(items: list[str]) -> None:\n    pass\n", "builtin generic type annotation"),
    "walrus": ("if (n := 1):\n    pass\n", "named expressions"),
    "self-documenting f-string": ("n = 1\nprint(f'{n=}')\n", "self-documenting f-strings"),
    "nullcontext": ("import contextlib\ncontextlib.nullcontext()\n", "contextlib.nullcontext"),
    "fromisoformat": ("import datetime\ndatetime.datetime.fromisoformat('2020-01-01')\n", "fromisoformat"),
    "shlex.join": ("import shlex\nshlex.join(['a'])\n", "shlex.join"),
    "cached_property": ("import functools\nfunctools.cached_property\n", "functools.cached_property"),
    "asyncio.run": ("import asyncio\nasyncio.run(None)\n", "asyncio.run"),
}


def _sample_project(folder: Path, code: str) -> Path:
    (folder / ".git").mkdir()  # vermin looks for its configuration up to the project's top
    (folder / "setup.cfg").write_text("[vermin]\nbackports = dataclasses\n    typing_extensions\n", encoding="utf-8")
    module = folder / "sample.py"
    module.write_text("".join(f"{line}  # novm\n" for line in code.splitlines()), encoding="utf-8")
    return module


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_check_refuses_a_construct_newer_than_python_3_6(tmp_path, name):
    code, named = SAMPLES[name]
    finished = run_vermin(_sample_project(tmp_path, code))
    assert finished.returncode == 1, finished.stdout
    assert named in finished.stdout


def test_the_call_check_finds_a_newer_keyword_on_a_variable_and_ignores_comments_and_strings():
    source = (
        "for entry in folder.iterdir():\n"
        "    entry.unlink(missing_ok=True)  # not missing_ok= here\n"
        "message = 'call .isascii( or missing_ok= in a string'\n"
        "if name.isascii():\n"
        "    pass\n"
    )
    assert newer_calls(source) == [
        "2: Path.unlink(missing_ok=) is 3.8: catch FileNotFoundError",
        "4: str.isascii() is 3.7",
    ]
