"""Helpers the test modules import (tests/ is on sys.path; the package under test is the installed one)."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_hotsync_process(*arguments, environment=None, timeout=120, program="hotsync") -> Outcome:
    """Run the installed console script as a real process (as cron or an admin would)."""
    executable = Path(sys.executable).parent / program
    full_environment = dict(os.environ)
    full_environment.update(environment or {})
    finished = subprocess.run(
        [str(executable), *[str(argument) for argument in arguments]],
        capture_output=True,
        text=True,
        env=full_environment,
        timeout=timeout,
    )
    return Outcome(finished.returncode, finished.stdout, finished.stderr)
