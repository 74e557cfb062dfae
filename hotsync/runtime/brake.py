"""The brake: pause a push that looks like a disaster on the master, before one byte is sent.

An encrypted share or a wiped folder would otherwise reach the slave within one cycle.
Before each push the master lists what the push would send (a local rsync listing with the
push's own include, exclude and guard lists: the selection is rsync's own, no tunnel, no
slave) and compares it with the manifest of the last completed push
(``pushed-files``: size, modification time and a content-entropy sample of each file). The
push is paused, nothing sent, when it would

* delete more than ``max_delete`` % of the files the slave holds,
* rewrite more than ``max_rewrite`` % of them,
* or shows ransomware traits: many files rewritten with high-entropy content where they had
  low entropy (in place, or under a new name beside the deleted original: ``a.doc`` →
  ``a.doc.locked``), an extension never seen before appearing across many folders, or
  ransom-note file names in several folders.

``hotsync sync --force`` pushes once anyway. Without a manifest (the first push) nothing
can be compared: the push goes on and its manifest is the baseline.

The entropy sample is the first 4 KiB of a file, read only for new and changed files (and
for every file once, when the manifest is made): the cost follows what changed.
"""

import json
import math
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import AbstractSet, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ..files import write_file_atomic
from ..frozen import frozen
from ..paths import STATE_FOLDER
from ..root import Root
from .backup import CONFIG_BACKUP_FILES
from .dumps import DUMP_RECORD_PATH
from .manifest import UNKNOWN_ENTROPY, Entry, real_name
from .points import BATCH_ADDED_PATH, PUSH_ADDED_PATH

T = TypeVar("T")

SAMPLE_BYTES = 4096
# Below this size an entropy sample says little (100 random bytes measure about 6.6 bits/byte).
ENTROPY_MIN_SIZE = 1024
HIGH_ENTROPY = 7.5  # bits per byte: encrypted or compressed content
LOW_ENTROPY = 7.0  # documents, text, databases, most binaries
# "Many" files: at least this many, and at least this share of the slave's files.
# A share of a handful of files is no mass change: an admin editing or deleting one of the few
# documents a small host syncs changes a large share of them. (The delete guard's --max-delete
# cap still bounds the deletions of any push.)
MASS_CHANGE_MIN_FILES = 20
ENCRYPTED_MIN_FILES = 10
ENCRYPTED_MIN_PERCENT = 1.0
NEW_EXTENSION_MIN_FILES = 10
NEW_EXTENSION_MIN_FOLDERS = 3
RANSOM_NOTE_MIN_FOLDERS = 2
EXAMPLES_SHOWN = 5
_RANSOM_NOTE = re.compile(
    r"(decrypt|ransom|recover[-_ .]*(your|my|all)?[-_ .]*files|restore[-_ .]*(your|my|all)?[-_ .]*files|"
    r"how[-_ .]*to[-_ .]*(recover|restore|decrypt|get[-_ .]*back)|your[-_ .]*files[-_ .]*(are|were)|"
    r"files[-_ .]*encrypted|^_?readme[-_ .]*(now|!+)|read[-_ .]*me[-_ .]*(to|for)[-_ .]*(decrypt|restore|recover))",
    re.IGNORECASE,
)


@frozen
class BrakeVerdict:
    """What the brake found; ``reasons`` empty: the push may go."""

    files_before: int
    deleted: int
    rewritten: int
    added: int
    reasons: Tuple[str, ...]
    examples: Tuple[str, ...]

    @property
    def paused(self) -> bool:
        return bool(self.reasons)

    def message(self) -> str:
        """The status line: the reasons with their numbers, then a few examples."""
        text = "paused: suspected mass change: " + "; ".join(self.reasons)
        if self.examples:
            text += " (e.g. " + ", ".join(self.examples) + ")"
        return text + ". Nothing was sent; check the master's data, then run 'hotsync sync --force' to push anyway"


@frozen
class Scan:
    """The files the push would consider now, with what the manifest knew of each."""

    files: Dict[str, Entry]
    error: str = ""


# The scan's source arguments are split over several rsync runs past this many bytes, far
# below the kernel's limit on a command line (a watch batch may name thousands of paths).
SCAN_ARGUMENT_BYTES = 64 * 1024


def scan_commands(include_file: Path, exclude_file: Path, guard_file: Optional[Path], source: str,
                  empty_folder: Path) -> List[List[str]]:
    """rsync's own listing of every file the push would consider, with size and time.

    Each entry of the push's include file becomes a relative source (``SOURCE/./ENTRY``, the
    names the push's ``--files-from`` gives), filtered by the push's exclude and guard lists;
    ``--list-only`` lists them without running a receiver (``--files-from`` would need one:
    three times slower on the bench tree with today's rsync). ``empty_folder`` is the
    destination rsync wants beside several sources; nothing is written there. ``--no-h`` and
    the listing's columns are the same from rsync 3.1.2 to today's.
    """
    options = ["rsync", "-r", "-a", "-R", "--list-only", "--no-h"]
    if guard_file is not None:
        options.append(f"--filter=merge {guard_file}")
    options.append(f"--exclude-from={exclude_file}")
    base = source.rstrip("/") + "/./"
    sources = [base + entry.lstrip("/") for entry in _include_entries(include_file)]
    destination = str(empty_folder).rstrip("/") + "/"
    return [options + chunk + [destination] for chunk in _chunks(sources, SCAN_ARGUMENT_BYTES)]


def _include_entries(include_file: Path) -> List[str]:
    """The entries of an include file as ``--files-from`` reads them (blank lines skipped)."""
    with open(str(include_file), encoding="utf-8", errors="surrogateescape") as stream:
        return [line.rstrip("\n") for line in stream if line.strip("\n")]


def _chunks(arguments: Sequence[str], most_bytes: int) -> List[List[str]]:
    chunks: List[List[str]] = []
    size = 0
    for argument in arguments:
        length = len(argument.encode("utf-8", "surrogateescape")) + 1
        if not chunks or size + length > most_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(argument)
        size += length
    return chunks


def scan_files(commands: Sequence[Sequence[str]], spool: Path, meanwhile: Callable[[], T]) -> Tuple[Scan, T]:
    """Run the scan (regular files only, keyed by their name relative to the source), and
    ``meanwhile`` while the first rsync walks the tree: the caller reads the manifest then, and
    the listing is read as rsync writes it, so the three overlap instead of adding up. rsync
    writes into a file in ``spool`` (a pipe nobody reads while ``meanwhile`` runs would stop it)."""
    first = _Listing(commands[0], spool) if commands else None
    try:
        alongside = meanwhile()
    except BaseException:
        if first is not None:
            first.stop()
        raise
    files: Dict[str, Entry] = {}
    for number, argv in enumerate(commands):
        listing = first if number == 0 and first is not None else _Listing(argv, spool)
        listed, error = listing.finish()
        if error:
            return Scan({}, error), alongside
        files.update(listed)
    return Scan(files), alongside


class _Listing:
    """One rsync listing, started at once, its output and errors written into files of the
    spool and read back by name as they grow. In the C locale every byte outside ASCII comes
    escaped (``\\#ooo``): one file per line."""

    # How long to wait for more of the listing while rsync still runs.
    POLL_SECONDS = 0.005

    def __init__(self, argv: Sequence[str], spool: Path):
        self.output_path, self.errors_path = spool / "scan.out", spool / "scan.err"
        self.process: Optional[subprocess.Popen] = None
        self.start_error = ""
        try:
            with open(str(self.output_path), "wb") as output, open(str(self.errors_path), "wb") as errors:
                try:
                    self.process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=output,
                                                    stderr=errors, env=dict(os.environ, LC_ALL="C"))
                except OSError as error:
                    self.start_error = f"cannot start rsync: {error.strerror}"
        except OSError as error:
            self.start_error = f"cannot write the brake's scan into {spool}: {error.strerror}"

    def finish(self) -> Tuple[Dict[str, Entry], str]:
        """(the files listed, "") or ({}, what went wrong), reading the listing as it grows."""
        if self.process is None:
            return {}, self.start_error
        files = self._follow(self.process)
        code = self.process.wait()
        # 23/24: a file vanished or could not be read while listing; the rest is a fair picture.
        if code not in (0, 23, 24):
            written = self.errors_path.read_bytes().decode("utf-8", "replace")
            last = written.strip().splitlines()[-1:] or ["no output"]
            return {}, f"the brake's scan failed (rsync exit {code}): {last[0]}"
        return files, ""

    def _follow(self, process: subprocess.Popen) -> Dict[str, Entry]:
        files: Dict[str, Entry] = {}
        unfinished = b""
        with open(str(self.output_path), "rb") as reader:
            while True:
                ended = process.poll() is not None  # before the read: the read then gets the rest
                text = unfinished + reader.read()
                cut = text.rfind(b"\n") + 1
                if cut:
                    files.update(parse_listing(text[:cut].decode("utf-8", "surrogateescape")))
                unfinished = text[cut:]
                if ended:
                    files.update(parse_listing(unfinished.decode("utf-8", "surrogateescape")))
                    return files
                if not cut:
                    time.sleep(self.POLL_SECONDS)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def parse_listing(output: str) -> Dict[str, Entry]:
    """The regular files of a ``--list-only --no-h`` listing: ``-rw-r--r--   SIZE DAY TIME NAME``.

    The time is kept as rsync's ``%M`` spells it (``2026/12/01-20:15:00``), the manifest's form.
    """
    files = {}
    for line in output.split("\n"):
        if not line.startswith("-"):
            continue
        columns = line.split(" ", 1)[-1].lstrip(" ").split(" ", 3)
        if len(columns) == 4 and columns[0].isdigit():
            size, day, clock, name = columns
            files[name] = Entry(int(size), f"{day}-{clock}")
    return files


def sample_entropy(path: Path, size: int) -> float:
    """Shannon entropy (bits per byte) of the first 4 KiB; unknown for small or unreadable files."""
    if size < ENTROPY_MIN_SIZE:
        return UNKNOWN_ENTROPY
    try:
        with open(str(path), "rb") as stream:
            data = stream.read(SAMPLE_BYTES)
    except OSError:
        return UNKNOWN_ENTROPY
    if len(data) < ENTROPY_MIN_SIZE:
        return UNKNOWN_ENTROPY
    total = len(data)
    return -sum(count / total * math.log2(count / total) for count in Counter(data).values())


def with_entropy(source: Path, scanned: Dict[str, Entry], manifest: Dict[str, Entry]) -> Dict[str, Entry]:
    """The scan with each file's entropy: the manifest's where the file is unchanged, else sampled."""
    result = {}
    for name, entry in scanned.items():
        known = manifest.get(name)
        if known is not None and known.size == entry.size and known.mtime == entry.mtime:
            result[name] = known
        else:
            result[name] = Entry(entry.size, entry.mtime, sample_entropy(source / real_name(name), entry.size))
    return result


def under_roots(name: str, roots: Sequence[str]) -> bool:
    """Whether ``name`` (relative to the source) lies under one of the include entries ``roots``."""
    path = "/" + name
    for entry in roots:
        bare = entry.rstrip("/")
        if not bare or path == bare or path.startswith(bare + "/"):
            return True
    return False


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    return suffix.lower() if dot and stem and 0 < len(suffix) <= 16 else ""


def produced_by_hotsync(dump_targets: Sequence[str]) -> Tuple[str, ...]:
    """The names (as the scan spells them) of what HotSync itself writes before each push: the
    configuration backup, the dumps (``dump_targets``: files, or folders ending in /), their
    record and the restore points' lists of added files. They change every cycle by design, so
    counting them would make a small host's every push look like a mass rewrite."""
    own = (*CONFIG_BACKUP_FILES, PUSH_ADDED_PATH, BATCH_ADDED_PATH, DUMP_RECORD_PATH, *dump_targets)
    return tuple(path.lstrip("/") for path in own)


def produced_test(produced: Sequence[str]) -> Callable[[str], bool]:
    """Whether a name is one of ``produced`` (a name, or anything under a name ending in /)."""
    exact = {name for name in produced if not name.endswith("/")}
    folders = tuple(name for name in produced if name.endswith("/"))
    return lambda name: name in exact or name.startswith(folders)


def leave_out(files: Dict[str, Entry], produced: Sequence[str]) -> Dict[str, Entry]:
    """``files`` without HotSync's own products (``produced_by_hotsync``)."""
    is_produced = produced_test(produced)
    return {name: entry for name, entry in files.items() if not is_produced(name)}


@frozen
class Changes:
    """What a push would change against the last push's manifest of ``total`` files: the names
    deleted, added and rewritten, each found in ``before`` (the manifest) and ``now`` as it
    applies; ``known_extensions``: the extensions of the manifest's files."""

    before: Mapping[str, Entry]
    now: Mapping[str, Entry]
    deleted: Sequence[str]
    added: Sequence[str]
    rewritten: Sequence[str]
    total: int
    known_extensions: AbstractSet[str]


def judge(
    before: Dict[str, Entry],
    now: Dict[str, Entry],
    includes: Sequence[str],
    max_delete_percent: int,
    max_rewrite_percent: int,
) -> BrakeVerdict:
    """Compare the files now with the last push's; the verdict names every trait it found."""
    deleted = [name for name in before if name not in now and under_roots(name, includes)]
    added = [name for name in now if name not in before]
    rewritten = [name for name in now if name in before and is_rewrite(before[name], now[name])]
    # Fewer new files than a new extension needs: no need to know the old ones (50,000 names).
    known = {extension(name) for name in before} if len(added) >= NEW_EXTENSION_MIN_FILES else set()
    return judge_changes(Changes(before, now, deleted, added, rewritten, len(before), known),
                         max_delete_percent, max_rewrite_percent)


def is_rewrite(old: Entry, new: Entry) -> bool:
    return (new.size, new.mtime) != (old.size, old.mtime)


def judge_changes(changes: Changes, max_delete_percent: int, max_rewrite_percent: int) -> BrakeVerdict:
    """The verdict on ``changes``: the shares count against the manifest's files, whatever
    the number of files the push itself looks at (a batch of the continuous push: a few)."""
    deleted, added, rewritten, total = changes.deleted, changes.added, changes.rewritten, changes.total
    reasons: List[str] = []
    examples: List[str] = []
    if (total and max_delete_percent < 100 and len(deleted) >= MASS_CHANGE_MIN_FILES
            and len(deleted) * 100 > total * max_delete_percent):
        reasons.append(f"{len(deleted)} of {total} files would be deleted on the slave "
                       f"(more than MaxDeletePercent {max_delete_percent} %)")
        examples += ["deleted /" + name for name in deleted[:2]]
    if (total and max_rewrite_percent < 100 and len(rewritten) >= MASS_CHANGE_MIN_FILES
            and len(rewritten) * 100 > total * max_rewrite_percent):
        reasons.append(f"{len(rewritten)} of {total} files would be rewritten "
                       f"(more than MaxRewritePercent {max_rewrite_percent} %)")
        examples += ["rewritten /" + name for name in rewritten[:2]]
    encrypted = encrypted_rewrites(changes.before, changes.now, rewritten, added, set(deleted))
    if len(encrypted) >= max(ENCRYPTED_MIN_FILES, total * ENCRYPTED_MIN_PERCENT / 100):
        reasons.append(f"{len(encrypted)} files now have random-looking (encrypted?) content where they had "
                       "ordinary content")
        examples += ["encrypted? /" + name for name in encrypted[:2]]
    reasons += new_extension_reasons(changes.known_extensions, added, examples)
    notes = [name for name in added if is_ransom_note(name)]
    note_folders = {name.rpartition("/")[0] for name in notes}
    if len(note_folders) >= RANSOM_NOTE_MIN_FOLDERS:
        reasons.append(f"{len(notes)} new files named like ransom notes in {len(note_folders)} folders")
        examples += ["note /" + name for name in notes[:2]]
    shown = tuple(real_name(example) for example in examples[:EXAMPLES_SHOWN])
    return BrakeVerdict(total, len(deleted), len(rewritten), len(added), tuple(reasons), shown)


def is_ransom_note(name: str) -> bool:
    return bool(_RANSOM_NOTE.search(name.rsplit("/", 1)[-1]))


def encrypted_rewrites(before: Mapping[str, Entry], now: Mapping[str, Entry], rewritten: Sequence[str],
                       added: Sequence[str], deleted: "set") -> List[str]:
    """Files whose content went from low to high entropy: rewritten in place, or written under a
    new name (``a.doc.locked``, ``a.locked``) beside a deleted original."""
    found = [name for name in rewritten if _turned_random(before[name], now[name])]
    by_stem = {name.rpartition(".")[0]: name for name in deleted if "." in name.rsplit("/", 1)[-1]}
    for name in added:
        original = _deleted_original(name, deleted, by_stem)
        if original and _turned_random(before[original], now[name]):
            found.append(name)
    return found


def _turned_random(old: Entry, new: Entry) -> bool:
    return 0 <= old.entropy < LOW_ENTROPY and new.entropy >= HIGH_ENTROPY


def _deleted_original(name: str, deleted: "set", by_stem: Dict[str, str]) -> str:
    """The deleted file this new one replaces under another extension, or ""."""
    head, dot, _ = name.rpartition(".")
    if not dot or "/" in name[len(head):]:
        return ""
    if head in deleted:
        return head  # a.doc -> a.doc.locked
    return by_stem.get(head, "")  # a.doc -> a.locked


def new_extension_reasons(known: AbstractSet[str], added: Sequence[str], examples: List[str]) -> List[str]:
    """An extension no file had at the last push (``known``), now on many new files across many folders."""
    files_by_extension: Dict[str, List[str]] = {}
    for name in added:
        suffix = extension(name)
        if suffix and suffix not in known:
            files_by_extension.setdefault(suffix, []).append(name)
    reasons = []
    for suffix, names in sorted(files_by_extension.items()):
        folders = {name.rpartition("/")[0] for name in names}
        if len(names) >= NEW_EXTENSION_MIN_FILES and len(folders) >= NEW_EXTENSION_MIN_FOLDERS:
            reasons.append(f"a new extension '.{suffix}' on {len(names)} new files in {len(folders)} folders")
            examples += ["new /" + name for name in names[:2]]
    return reasons


def manifest_after_push(
    before: Optional[Dict[str, Entry]], now: Dict[str, Entry], protected: Sequence[str]
) -> Dict[str, Entry]:
    """What the slave holds after a completed push: the files sent, plus the last manifest's files
    the push leaves alone on the slave (under a protected root: kept out of the push)."""
    result = dict(now)
    if before:
        for name, entry in before.items():
            if name not in result and protected and under_roots(name, protected):
                result[name] = entry
    return result


# The continuous push's pause, kept until the admin forces a push: its batches are judged one
# at a time, and a scheduled full push comparing the tree with the manifest may no longer see
# what the batches added up to (some went out before the brake caught on).
HELD_PAUSE_PATH = f"{STATE_FOLDER}/brake-paused"


def hold_pause(root: Root, verdict: BrakeVerdict) -> None:
    """Keep ``verdict`` as the pause every push but a forced one ends with."""
    state = {"files_before": verdict.files_before, "deleted": verdict.deleted, "rewritten": verdict.rewritten,
             "added": verdict.added, "reasons": list(verdict.reasons), "examples": list(verdict.examples)}
    write_file_atomic(root.path(HELD_PAUSE_PATH), json.dumps(state, indent=1) + "\n", mode=0o600)


def held_pause(root: Root) -> Optional[BrakeVerdict]:
    """The pause kept by ``hold_pause``; None when there is none."""
    try:
        text = root.path(HELD_PAUSE_PATH).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        text = ""
    try:
        state = json.loads(text)
        return BrakeVerdict(int(state["files_before"]), int(state["deleted"]), int(state["rewritten"]),
                            int(state["added"]), tuple(str(reason) for reason in state["reasons"]),
                            tuple(str(example) for example in state["examples"]))
    except (ValueError, KeyError, TypeError):
        return BrakeVerdict(0, 0, 0, 0, (f"the continuous push paused (its record {HELD_PAUSE_PATH} is unreadable)",),
                            ())


def pause_is_held(root: Root) -> bool:
    return root.path(HELD_PAUSE_PATH).exists()


def release_pause(root: Root) -> None:
    """A forced push went through: nothing is held any more."""
    try:
        os.unlink(str(root.path(HELD_PAUSE_PATH)))
    except FileNotFoundError:
        pass
