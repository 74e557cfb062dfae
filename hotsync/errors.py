"""The errors a user can meet, each with its exit code.

Every error that reaches ``main()`` is printed as one line on stderr and turned
into its exit code, so cron's mail tells an admin whether to fix the setup or
report a bug:

* 0   success;
* 1   the work failed, or the input is invalid (``HotsyncError``): fix what the line says;
* 2   the command line is wrong (``UsageError``);
* 70  a bug (EX_SOFTWARE): an unexpected exception; its traceback goes to the log, never
      to the terminal (``RunCrashed`` when a run recorded it as failed);
* 130 stopped by Ctrl-C (128 + SIGINT);
* 143 stopped by SIGTERM (128 + SIGTERM; 129 for SIGHUP): ``Terminated``.
"""

import signal
from typing import Optional, Sequence

from .frozen import frozen

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PAUSED = 3  # the brake paused a push that looked like a mass change (ransomware, a wipe)
EXIT_SOFTWARE = 70  # sysexits.h's EX_SOFTWARE: an internal software error
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class HotsyncError(Exception):
    """The work failed; the message says what and what to do."""

    exit_code = EXIT_FAILURE


class UsageError(HotsyncError):
    """The command line is wrong."""

    exit_code = EXIT_USAGE


class RunCrashed(HotsyncError):
    """A run ended on an unexpected exception (a bug); it was recorded as failed, its traceback logged."""

    exit_code = EXIT_SOFTWARE


class Terminated(BaseException):
    """A signal stopped the command before it finished; exits 128 + the signal's number, as a shell shows it.

    Not a ``HotsyncError`` (nor an ``Exception``), as ``KeyboardInterrupt`` is not: a step that
    tolerates failures (``except HotsyncError``: a backup, the metrics, a batch of the watch)
    must not swallow it, or only the first signal, which alone raises, would be lost and the
    command would run on.
    """

    def __init__(self, number: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + number


class CommandError(HotsyncError):
    """An external program failed; carries its own message."""

    def __init__(self, argv: Sequence[str], returncode: Optional[int], output: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        program = self.argv[0] if self.argv else "?"
        detail = last_lines(output) or "no output"
        if returncode is None:
            text = f"{program} did not finish in time: {detail}"
        else:
            text = f"{program} failed (exit {returncode}): {detail}"
        super().__init__(text)


@frozen
class Span:
    """Where something came from: a DSL file position or a database property."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@frozen
class Diagnostic:
    """One problem found in the user's input, located at its source."""

    span: Span
    message: str
    source_line: str = ""
    severity: str = "error"

    def format(self) -> str:
        text = f"{self.span}: {self.severity}: {self.message}"
        if self.source_line:
            caret = " " * max(self.span.column - 1, 0) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        return text

    def as_dict(self) -> dict:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "severity": self.severity,
            "message": self.message,
        }


def last_lines(text: str, count: int = 3) -> str:
    """The last non-empty lines of a program's output, joined on one line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return " / ".join(lines[-count:])
