"""The command line: global options, dispatch to one command module, errors to exit codes.

Each command lives in ``hotsync/commands/<name>.py`` and exposes
``main(root, argv) -> int``; this module only finds it and handles what it raises.
"""

import importlib
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional, Sequence

from . import __version__
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_SOFTWARE, HotsyncError, Terminated, UsageError
from .root import Root, resolve_root

# command word -> module under hotsync.commands, and the one-line help
COMMANDS = {
    "sync": ("sync", "push this master's data to the slave now (the default command)"),
    "watch": ("watch", "push each change to the slave as it happens (continuous mode), until stopped"),
    "status": ("status", "role, peer, age of the slave's data, last result"),
    "install": ("install", "lay HotSync's events, defaults and rules into the root"),
    "config": ("config", "read and change the e-smith configuration database"),
    "signal-event": ("signal_event", "run an e-smith event's handlers"),
    "services": ("services", "start, stop, restart or show stunnel and rsyncd"),
    "compile": ("compile", "turn the rules and settings into the plan and the config files"),
    "explain": ("explain", "say whether a path is synced, and why"),
    "slave": ("slave", "slave upkeep: reinstall packages, fix permissions"),
    "promote": ("promote", "make this slave the master"),
    "restore-points": ("restore_points", "the restore points this slave keeps, one per push"),
    "restore": ("restore", "a file or folder as it was at a restore point (slave)"),
    "api": ("api", "one call of the web API (Cockpit): JSON on stdin and stdout"),
    "demo": ("demo", "two sandbox hosts on loopback: sync, fail, promote, report"),
}

USAGE = """usage: hotsync [--root DIR] [COMMAND] [ARGS...]

With no command, runs one sync (same as 'hotsync sync'); 'hotsync --dry-run' previews it.

global options:
  --root DIR     act on the host rooted at DIR instead of / (also: $HOTSYNC_ROOT)
  -h, --help     show this help
  --version      show the version

commands:
{commands}

Exit codes: 0 success, 1 the work failed or the input is invalid, 2 usage error,
3 a sync paused by the brake (suspected mass change, nothing sent: 'hotsync --force' pushes),
70 internal error (a bug: its traceback is in /var/log/hotsync.log; please report it),
130 interrupted (Ctrl-C), 143 stopped by SIGTERM (129 by SIGHUP).
Run 'hotsync COMMAND --help' for a command's own options."""


def format_usage() -> str:
    lines = [f"  {word:<14} {summary}" for word, (_, summary) in COMMANDS.items()]
    return USAGE.format(commands="\n".join(lines))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``hotsync``; returns the exit code (also used by the tests in-process)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return _guarded(arguments)


def slave_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``hotsync-slave`` (same as ``hotsync slave``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return _guarded(_with_command(arguments, "slave"))


def promote_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``hotsync-promote`` (same as ``hotsync promote``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return _guarded(_with_command(arguments, "promote"))


def run() -> NoReturn:
    """Console script ``hotsync``."""
    exit_without_teardown(main())


def run_slave() -> NoReturn:
    """Console script ``hotsync-slave``."""
    exit_without_teardown(slave_main())


def run_promote() -> NoReturn:
    """Console script ``hotsync-promote``."""
    exit_without_teardown(promote_main())


def exit_without_teardown(code: int) -> NoReturn:
    """End the process with ``code`` once its output is flushed, skipping Python's teardown.

    A command has finished all its work when it returns: children waited for, files
    closed. The orderly shutdown would only free every object one by one, about 7 ms:
    1 % of a no-change sync, which cron repeats every few minutes.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the output is lost either way
            code = code or 1
    os._exit(code)


def _with_command(arguments: List[str], command: str) -> List[str]:
    """Insert ``command`` after the global options of ``arguments``."""
    global_options, rest = _split_global_options(arguments)
    return global_options + [command] + rest


def _split_global_options(arguments: List[str]):
    """Leading ``--root DIR`` / ``--root=DIR`` tokens, and the rest."""
    index = 0
    while index < len(arguments):
        token = arguments[index]
        if token == "--root":
            index += 2
        elif token.startswith("--root="):
            index += 1
        else:
            break
    return arguments[:index], arguments[index:]


class _Reached:
    """How far the command line got: the command and root a signal or a bug report names."""

    def __init__(self) -> None:
        self.word = ""
        self.root: Optional[Root] = None

    def command(self) -> str:
        return f"'hotsync {self.word}'" if self.word else "hotsync"


def _dispatch(arguments: List[str], reached: _Reached) -> int:
    """Run the command ``arguments`` name; ``reached`` learns its word and root on the way."""
    root_option = None
    while arguments:
        token = arguments[0]
        if token == "--root":
            if len(arguments) < 2:
                raise UsageError("--root needs a directory")
            root_option, arguments = arguments[1], arguments[2:]
        elif token.startswith("--root="):
            root_option, arguments = token.split("=", 1)[1], arguments[1:]
        elif token in ("-h", "--help"):
            print(format_usage())
            return 0
        elif token == "--version":
            print(f"hotsync {__version__}")
            return 0
        else:
            break
    if arguments and not arguments[0].startswith("-"):
        word, rest = arguments[0], arguments[1:]
    else:
        word, rest = "sync", arguments
    if word not in COMMANDS:
        raise UsageError(f"unknown command '{word}' (try 'hotsync --help')")
    reached.word = word
    module = importlib.import_module(f"hotsync.commands.{COMMANDS[word][0]}")
    root = resolve_root(root_option)
    reached.root = root
    return module.main(root, rest)


def _guarded(arguments: List[str]) -> int:
    """Run the command line; turn what it raises into one line on stderr and the exit code."""
    reached = _Reached()
    try:
        with _terminated_by_signals(reached):
            return _dispatch(arguments, reached)
    except (HotsyncError, Terminated) as error:
        print(f"hotsync: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("hotsync: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILURE
    except Exception as error:  # noqa: BLE001 - a bug: one line here, its traceback in the log
        print(f"hotsync: {_log_bug(reached, error)}", file=sys.stderr)
        return EXIT_SOFTWARE


@contextmanager
def _terminated_by_signals(reached: _Reached) -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``Terminated`` (exit 128 + the signal) while the command runs.

    The error unwinds through the step that is running, which stops its own child
    (rsync, a plugin, a dump) on the way out, and a run records its failure; otherwise a
    killed sync would leave its rsync pushing after the lock was released, beside the next
    run's. Only the first signal raises: a second one must not cut that cleanup short.
    """
    received: List[int] = []

    def stop(number, _frame):
        if received:
            return
        received.append(number)
        raise Terminated(number, f"stopped by {signal.Signals(number).name} before {reached.command()} finished")

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _log_bug(reached: _Reached, error: Exception) -> str:
    """Log the traceback of a bug that escaped the command in its root's log; the line for stderr."""
    try:
        from .runtime.failure import log_bug  # only a bug pays for importing the runtime

        return log_bug(reached.root or _root_for_a_bug_report(), reached.command(), error)
    except Exception as problem:  # noqa: BLE001 - the report must not end in a traceback either
        detail = " ".join(str(error).split())
        return (f"internal error {type(error).__name__}: {detail} (this is a bug; its traceback could not "
                f"be logged: {type(problem).__name__}: {problem} - please report it)")


def _root_for_a_bug_report() -> Root:
    """The root a bug before ``--root`` was read is logged under: ``$HOTSYNC_ROOT``, else ``/``."""
    try:
        return resolve_root(None)
    except HotsyncError:
        return Root(Path("/"))


if __name__ == "__main__":
    run()
