"""What ``/proc`` says about processes: alive or not, their command line, the ports they listen on.

The sandbox supervisor finds its daemons with these, and the tests use them to check
that no daemon or transfer is left behind.
"""

import os
from pathlib import Path
from typing import List, Optional, Set

from ..digits import ascii_number, is_ascii_number

_TCP_LISTEN_STATE = "0A"


def read_pid(path: Path) -> Optional[int]:
    """The pid a pid file names (None when the file is missing or holds no positive number)."""
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    number = ascii_number(text)
    return number if number else None


def process_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def processes_using(path: Path) -> List[int]:
    """Live processes whose command line names ``path`` (a daemon before its pid file exists,
    or any process of a sandbox root)."""
    found = []
    for entry in Path("/proc").iterdir():
        if is_ascii_number(entry.name) and str(path) in command_line(int(entry.name)):
            if process_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """The process's arguments joined by spaces ("" when it is gone or hidden)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def listening_ports(pid: int) -> set:
    """TCP ports process ``pid`` itself listens on (IPv4 and IPv6).

    Matching socket inodes to the process's descriptors, rather than asking whether
    anyone listens on the port, keeps a port held by another program from passing
    for our daemon being ready.
    """
    sockets = socket_inodes(pid)
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN_STATE and fields[9] in sockets:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def socket_inodes(pid: int) -> Set[str]:
    inodes: Set[str] = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes
