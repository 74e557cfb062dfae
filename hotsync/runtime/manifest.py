"""The manifest of what the slave holds: the brake's memory of the last push (``pushed-files``).

A full push rewrites the manifest whole: size, modification time and an entropy sample of
each file it considered, under the name rsync's listing gives it. The continuous push sends
a few paths at a time: rewriting the whole manifest after each batch would cost what the
tree costs, so it appends what each batch sent to a journal (``pushed-files.journal``)
instead, and whoever reads the manifest reads the journal over it. The journal names the
manifest it follows (inode and time): a journal left behind by a manifest that was replaced
since is stale, and ignored.
"""

import os
import re
from bisect import bisect_left
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Set, Tuple

from ..files import append_lines, write_file_atomic
from ..frozen import frozen
from ..paths import STATE_FOLDER
from ..root import Root

MANIFEST_PATH = f"{STATE_FOLDER}/pushed-files"
MANIFEST_HEADER = "# hotsync pushed-files 1: size mtime entropy name\n"
JOURNAL_PATH = f"{STATE_FOLDER}/pushed-files.journal"
JOURNAL_HEADER = "# hotsync pushed-files journal 1 of {identity}\n"
MANIFEST_MODE = 0o600
UNKNOWN_ENTROPY = -1.0

Identity = Tuple[int, int]  # the manifest file's inode and modification time (ns)


class Entry(NamedTuple):
    """One file as a push sees it.

    A named tuple, not a ``frozen`` class: a push makes two per file (the scan's and the
    manifest's), and for 50,000 files the frozen class's checks cost a quarter of a second.
    """

    size: int
    mtime: str
    entropy: float = UNKNOWN_ENTROPY


# A journal's changes: a name's new entry, or None when the batch deleted it on the slave.
ManifestChanges = Dict[str, Optional[Entry]]


@frozen
class Manifest:
    """The manifest file's files (``base``), the journal's changes over it, and which file it was."""

    base: Dict[str, Entry]
    journal: ManifestChanges
    identity: Optional[Identity]

    def files(self) -> Dict[str, Entry]:
        """What the slave holds: the base with the journal's changes."""
        return overlay(self.base, self.journal)


def overlay(base: Mapping[str, Entry], changes: ManifestChanges) -> Dict[str, Entry]:
    files = dict(base)
    for name, entry in changes.items():
        if entry is None:
            files.pop(name, None)
        else:
            files[name] = entry
    return files


def manifest_identity(root: Root) -> Optional[Identity]:
    try:
        status = os.stat(str(root.path(MANIFEST_PATH)))
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def read_manifest_parts(root: Root) -> Optional[Manifest]:
    """The manifest and its journal; None when there is no manifest (or it cannot be read)."""
    path = root.path(MANIFEST_PATH)
    try:
        with open(str(path), "rb") as stream:
            status = os.fstat(stream.fileno())
            text = stream.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None
    if not text.startswith(MANIFEST_HEADER):
        return None
    identity = (status.st_ino, status.st_mtime_ns)
    base = {}
    for line in text[len(MANIFEST_HEADER):].splitlines():
        parsed = _parse_entry(line)
        if parsed:
            base[parsed[0]] = parsed[1]
    return Manifest(base, read_journal(root, identity), identity)


def read_manifest(root: Root) -> Optional[Dict[str, Entry]]:
    """The files the slave holds after the last completed push (a full one and the continuous
    push's batches since); None when there is no manifest."""
    manifest = read_manifest_parts(root)
    return manifest.files() if manifest is not None else None


def write_manifest(root: Root, files: Mapping[str, Entry]) -> None:
    """Replace the manifest (a completed full push): the journal of the one before goes."""
    content = (MANIFEST_HEADER + "".join(_entry_line(name, entry) for name, entry in files.items()))
    write_file_atomic(root.path(MANIFEST_PATH), content.encode("utf-8", "surrogateescape"), mode=MANIFEST_MODE,
                      durable=False)
    try:
        os.unlink(str(root.path(JOURNAL_PATH)))
    except FileNotFoundError:
        pass


def read_journal(root: Root, identity: Identity) -> ManifestChanges:
    """The journal's changes when it follows the manifest ``identity``, else none."""
    try:
        text = root.path(JOURNAL_PATH).read_text("utf-8", "surrogateescape")
    except OSError:
        return {}
    header = JOURNAL_HEADER.format(identity=_identity_text(identity))
    if not text.startswith(header):
        return {}
    changes: ManifestChanges = {}
    # A line cut short by a crash has no newline: it is left out.
    for line in text[len(header):].split("\n")[:-1]:
        if line.startswith("- "):
            changes[line[2:]] = None
        elif line.startswith("+ "):
            parsed = _parse_entry(line[2:])
            if parsed:
                changes[parsed[0]] = parsed[1]
    return changes


def append_journal(root: Root, identity: Identity, changes: ManifestChanges) -> None:
    """Record what a batch sent, after the manifest ``identity`` and what the journal already holds."""
    lines = "".join("- " + name + "\n" if entry is None else "+ " + _entry_line(name, entry)
                    for name, entry in changes.items())
    header = JOURNAL_HEADER.format(identity=_identity_text(identity))
    path = root.path(JOURNAL_PATH)
    if _journal_header(root) == header:
        append_lines(path, lines.encode("utf-8", "surrogateescape"), MANIFEST_MODE)
    else:
        write_file_atomic(path, (header + lines).encode("utf-8", "surrogateescape"), mode=MANIFEST_MODE,
                          durable=False)


def _journal_header(root: Root) -> str:
    try:
        with open(str(root.path(JOURNAL_PATH)), "rb") as stream:
            return stream.readline().decode("utf-8", "surrogateescape")
    except OSError:
        return ""


def _identity_text(identity: Identity) -> str:
    return f"{identity[0]} {identity[1]}"


def _entry_line(name: str, entry: Entry) -> str:
    return f"{entry.size} {entry.mtime} {entry.entropy:.2f} {name}\n"


def _parse_entry(line: str) -> Optional[Tuple[str, Entry]]:
    parts = line.split(" ", 3)
    if len(parts) != 4:
        return None
    try:
        return parts[3], Entry(int(parts[0]), parts[1], float(parts[2]))
    except ValueError:
        return None


_ESCAPE = re.compile(rb"\\#([0-7]{3})")


def real_name(name: str) -> str:
    """rsync's listed name with its ``\\#ooo`` escapes undone (bytes: a UTF-8 name comes back whole)."""
    raw = os.fsencode(name)
    return os.fsdecode(_ESCAPE.sub(lambda found: bytes([int(found.group(1), 8)]), raw))


def listed_name(host_path: str) -> str:
    """The name rsync's listing gives the host path (relative to the root, bytes that are not
    printable in the C locale as ``\\#ooo``): how the manifest spells it."""
    escaped = []
    for byte in os.fsencode(host_path.lstrip("/")):
        if byte >= 0x80 or (byte < 0x20 and byte != 0x09):
            escaped.append(f"\\#{byte:03o}")
        else:
            escaped.append(chr(byte))
    return "".join(escaped)


class FileIndex:
    """The names of a manifest, to find every file under a folder without reading them all:
    a sorted list (names under a folder are one run of it) and the names added since it was sorted."""

    RESORT_AFTER = 4096

    def __init__(self, names: Iterable[str]):
        self._sorted = sorted(names)
        self._added: Set[str] = set()

    def add(self, name: str) -> None:
        self._added.add(name)
        if len(self._added) > self.RESORT_AFTER:
            self._sorted = sorted(set(self._sorted) | self._added)
            self._added.clear()

    def under(self, folder: str, keep: Callable[[str], bool]) -> List[str]:
        """The names under ``folder`` (a name, no trailing /) that ``keep`` accepts."""
        prefix = folder.rstrip("/") + "/"
        start, end = bisect_left(self._sorted, prefix), bisect_left(self._sorted, prefix[:-1] + "0")
        found = [name for name in self._sorted[start:end] if keep(name)]
        found += [name for name in self._added if name.startswith(prefix) and keep(name)]
        return list(dict.fromkeys(found))
