"""A run that ends on an exception still leaves a failed run's traces.

A sync, the slave's upkeep and each promotion step run inside ``failure_recorded``.
Whatever escapes the run is handed to the run's own ``record`` function (the sync writes
its failed status record and mails), so ``hotsync status`` never keeps saying "ok" after
a run that crashed. An unexpected exception (not a ``HotsyncError``) also leaves its
traceback in the log, where a bug report can quote it, and reaches the terminal as one
line: a ``RunCrashed``, exit 70. ``log_bug`` does the same for a bug outside any run.
"""

import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from ..errors import HotsyncError, RunCrashed, Terminated
from ..paths import LOG_PATH
from ..root import Root
from .status import append_log

MAX_DETAIL_CHARACTERS = 300


@contextmanager
def failure_recorded(root: Root, what: str, record: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Run the block as the run ``what`` (for the log); record any exception that ends it.

    ``record(message)`` writes the run's failed record; a failure of its own is logged,
    never raised over the run's. A ``HotsyncError`` is re-raised as it is; any other
    exception is logged with its traceback and raised as ``RunCrashed`` (exit 70, a bug).
    A signal's ``Terminated`` is recorded and re-raised too; ``KeyboardInterrupt`` passes
    untouched: an admin who stops a run knows it stopped.
    """
    try:
        yield
    except (HotsyncError, Terminated) as error:
        _record_quietly(root, what, record, str(error))
        raise
    except Exception as error:  # whatever the bug, the run must end recorded
        message = log_bug(root, what, error)
        _record_quietly(root, what, record, message)
        raise RunCrashed(message) from error


def log_bug(root: Root, what: str, error: BaseException) -> str:
    """Append ``error``'s traceback to the root's log as the end of ``what``; the one line to show for it.

    The line names the bug and says where its traceback is, or why it could not be
    written there; it never holds the traceback itself.
    """
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        append_log(root, f"{what} stopped on an {describe_exception(error)}:\n{_indented(trace)}")
    except OSError as problem:
        where = f"its traceback could not be written to {LOG_PATH}: {problem.strerror or problem}"
    else:
        where = f"the traceback is in {LOG_PATH}"
    return f"{describe_exception(error)} (this is a bug; {where} - please report it)"


def describe_exception(error: BaseException) -> str:
    """``internal error TYPE: DETAIL`` on one line, however many lines the exception's text has."""
    detail = " ".join(str(error).split())[:MAX_DETAIL_CHARACTERS]
    return f"internal error {type(error).__name__}" + (f": {detail}" if detail else "")


def _record_quietly(root: Root, what: str, record: Optional[Callable[[str], None]], message: str) -> None:
    if record is None:
        return
    try:
        record(message)
    except Exception as problem:  # noqa: BLE001 - the run's own failure is the one to report
        _log_quietly(root, f"{what}: could not record its failure ({message}): "
                           f"{type(problem).__name__}: {problem}")


def _log_quietly(root: Root, text: str) -> None:
    try:
        append_log(root, text)
    except OSError:
        pass  # no log to write to: the terminal's line is all that is left


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())
