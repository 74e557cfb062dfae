"""The one way HotSync starts an external program (rsync, stunnel, systemctl, mysqldump...).

argv is always a list (never a shell); secrets travel in the environment or a
0600 file, never in argv; output is captured; every call has a timeout.
(The admin's subcommands are ``hotsync/commands/``; this module is about other programs.)
"""

import os
import subprocess
from typing import IO, Mapping, Optional, Sequence

from .errors import CommandError

DEFAULT_TIMEOUT_SECONDS = 600


def run_command(
    argv: Sequence[str],
    *,
    environment: Optional[Mapping[str, str]] = None,
    input_text: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    check: bool = True,
    cwd: Optional[str] = None,
    output_file: Optional[IO[bytes]] = None,
    input_file: Optional[IO[bytes]] = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` and return the finished process (stdout and stderr as text).

    ``environment`` is added to the current environment. With ``check`` a non-zero
    exit raises ``CommandError`` carrying the program's own message. A program that
    cannot be started, or that outlives ``timeout``, raises ``CommandError`` too.
    ``output_file`` (opened by HotSync) takes the program's stdout instead of a capture,
    ``input_file`` gives its stdin: a program run as another user then reads and writes
    files only HotSync may open, and a dump of any size never passes through Python.
    """
    full_environment = dict(os.environ)
    if environment:
        full_environment.update(environment)
    try:
        finished = subprocess.run(
            list(argv),
            env=full_environment,
            input=input_text,
            stdin=input_file,
            stdout=output_file if output_file is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Named, not the locale's: Python 3.6 under cron's C locale would read ASCII and
            # fail on the first accented file name a program prints.
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            cwd=cwd,
        )
    except FileNotFoundError as error:
        raise CommandError(argv, 127, f"program not found: {error.filename or argv[0]}") from None
    except subprocess.TimeoutExpired as error:
        output = _text(error.stdout) + _text(error.stderr)
        raise CommandError(argv, None, output or f"timed out after {timeout:g} s") from None
    if check and finished.returncode != 0:
        raise CommandError(argv, finished.returncode, finished.stderr or finished.stdout or "")
    return finished


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def start_detached(argv: Sequence[str], *, environment: Optional[Mapping[str, str]] = None,
                   output_path: Optional[str] = None) -> int:
    """Start ``argv`` in a session of its own, not waited for; returns its pid.

    For a run a web request starts: it must outlive the request's process. Its output goes
    to ``output_path`` (appended) or nowhere; it reads nothing. A program that cannot be
    started raises ``CommandError``.
    """
    full_environment = dict(os.environ)
    if environment:
        full_environment.update(environment)
    output = open(output_path, "ab") if output_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(list(argv), env=full_environment, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd="/")
    except FileNotFoundError as error:
        raise CommandError(argv, 127, f"program not found: {error.filename or argv[0]}") from None
    finally:
        if output_path:
            output.close()  # type: ignore[union-attr]
    return process.pid
