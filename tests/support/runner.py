"""One way to run HotSync's commands in the tests: ``run_hotsync`` runs ``PROGRAM ARGS`` in this
process or as a real process (as cron or an admin would), and returns one ``Outcome``;
``admin`` is the same run that must succeed.

Fixtures: ``hotsync`` (in process) and ``hotsync_process`` (a real process), both ``run_hotsync``.
"""

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

VENV_BIN = Path(sys.executable).parent
PROGRAMS = ("hotsync", "hotsync-slave", "hotsync-promote")
TIMEOUT = 120


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def run_hotsync(*arguments, in_process: bool = False, program: str = "hotsync",
                environment: Optional[Dict[str, str]] = None, timeout: float = TIMEOUT,
                inside: Sequence[str] = ()) -> Outcome:
    """``PROGRAM ARGS`` with ``environment`` added to this one's; its exit code and output.

    ``in_process``: call the console script's function here (fast; the output is captured
    from ``sys.stdout``/``sys.stderr``); otherwise the installed script runs as a real
    process, behind the ``inside`` command (``ip netns exec NS``) when one is given.
    """
    words = [str(argument) for argument in arguments]
    if in_process:
        assert not inside, "a command inside a namespace runs as a real process"
        return _run_in_process(program, words, environment or {})
    finished = subprocess.run(command_line(program, words, inside), capture_output=True, text=True,
                              env=process_environment(environment), timeout=timeout)
    return Outcome(finished.returncode, finished.stdout, finished.stderr)


def admin(root: Path, *arguments, **options) -> Outcome:
    """What an admin types on host ``root``: ``hotsync --root ROOT ARGS``; it must succeed.
    ``options`` as for ``run_hotsync``."""
    outcome = run_hotsync("--root", root, *arguments, **options)
    program = options.get("program", "hotsync")
    assert outcome.code == 0, \
        f"{program} {' '.join(map(str, arguments))} failed ({outcome.code}): {outcome.err}{outcome.out}"
    return outcome


def start_hotsync(*arguments, program: str = "hotsync", environment: Optional[Dict[str, str]] = None,
                  inside: Sequence[str] = ()) -> subprocess.Popen:
    """``PROGRAM ARGS`` started in the background in a process group of its own (so it can be
    killed whole); its output is piped, as text."""
    words = [str(argument) for argument in arguments]
    return subprocess.Popen(command_line(program, words, inside), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=process_environment(environment), start_new_session=True)


def command_line(program: str, words: List[str], inside: Sequence[str] = ()) -> List[str]:
    assert program in PROGRAMS, program
    return [str(part) for part in inside] + [str(VENV_BIN / program)] + words


def process_environment(environment: Optional[Dict[str, str]]) -> Dict[str, str]:
    full = dict(os.environ)
    full.update(environment or {})
    return full


def _run_in_process(program: str, words: List[str], environment: Dict[str, str]) -> Outcome:
    from hotsync import cli

    main = {"hotsync": cli.main, "hotsync-slave": cli.slave_main, "hotsync-promote": cli.promote_main}[program]
    out, err = _capture_stream(), _capture_stream()
    with _environment_added(environment), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(words)
    return Outcome(code, _captured(out), _captured(err))


def _capture_stream() -> io.TextIOWrapper:
    """A text stream like a terminal's: UTF-8 with a ``buffer`` (for bytes that are not UTF-8)."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="", write_through=True)


def _captured(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "surrogateescape")  # type: ignore[attr-defined]


@contextlib.contextmanager
def _environment_added(environment: Dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def hotsync():
    """Run ``hotsync ARGS`` in process (``run_hotsync(..., in_process=True)``)."""

    def run(*arguments, **options) -> Outcome:
        return run_hotsync(*arguments, in_process=True, **options)

    return run


@pytest.fixture
def hotsync_process():
    """Run ``hotsync ARGS`` as a real process (``run_hotsync``)."""
    return run_hotsync
