"""A sandbox's background jobs: what a transient systemd unit is on NethServer.

Each job is one detached process whose pid sits in ``/var/run/nethserver-hotsync/jobs/NAME.pid``
under the root and whose output goes to ``NAME.out`` beside it. A flock on ``NAME.lock`` makes
"is it running? then start it" one step, so two requests at once start one job.
"""

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator, List

from ..files import write_file_atomic
from ..host import JobRunning
from ..paths import JOBS_FOLDER
from ..programs import start_detached
from ..root import ROOT_ENVIRONMENT_VARIABLE, Root
from .processes import command_line, process_alive, read_pid


def job_running(root: Root, name: str) -> bool:
    """Whether the job's recorded process lives and is still the program it started."""
    pid = read_pid(root.path(f"{JOBS_FOLDER}/{name}.pid"))
    if pid is None or not process_alive(pid):
        return False
    started = root.path(f"{JOBS_FOLDER}/{name}.argv")
    try:
        program = started.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return program in command_line(pid)  # a recycled pid runs something else


def start_job(root: Root, name: str, argv: List[str]) -> str:
    """Start ``argv`` told its root, unless job ``name`` runs (``JobRunning``)."""
    with _job_lock(root, name):
        if job_running(root, name):
            raise JobRunning(f"{name} is already running")
        output = root.path(f"{JOBS_FOLDER}/{name}.out")
        pid = start_detached(argv, environment={ROOT_ENVIRONMENT_VARIABLE: str(root.base)}, output_path=str(output))
        write_file_atomic(root.path(f"{JOBS_FOLDER}/{name}.argv"), f"{argv[0]}\n", mode=0o644, durable=False)
        write_file_atomic(root.path(f"{JOBS_FOLDER}/{name}.pid"), f"{pid}\n", mode=0o644, durable=False)
    return f"started {name} (its output: {JOBS_FOLDER}/{name}.out)"


@contextmanager
def _job_lock(root: Root, name: str) -> Iterator[None]:
    path = root.path(f"{JOBS_FOLDER}/{name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
