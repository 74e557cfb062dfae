"""The brake for the continuous push: each batch is judged before it is sent, at the batch's cost.

A full push lists the whole tree to compare it with the manifest of the last push
(``brake.py``); a batch of ``hotsync watch`` knows its paths. ``BatchBrake`` keeps the
manifest of the last full push in memory (the base) with what the batches sent since (the
journal), lists only the batch's paths as the push would send them (rsync's own selection,
in a local listing: the excludes hold, a folder that appeared is listed whole) and judges
everything sent since the last full push together with the batch against the base. That is
the comparison the scheduled push would have made: ransomware spread over many small batches
adds up as it does over one interval. The shares count against the manifest's files.

After a batch reached the slave, what it sent goes into the manifest's journal: the next full
push compares the tree with what the slave holds, not with what it held before the batches.
"""

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..frozen import frozen
from ..plan import Plan
from ..root import Root
from .brake import (
    ENCRYPTED_MIN_FILES,
    ENCRYPTED_MIN_PERCENT,
    ENTROPY_MIN_SIZE,
    LOW_ENTROPY,
    BrakeVerdict,
    Changes,
    encrypted_rewrites,
    extension,
    is_ransom_note,
    is_rewrite,
    judge_changes,
    produced_test,
    sample_entropy,
    scan_commands,
    scan_files,
)
from .manifest import (
    Entry,
    FileIndex,
    Manifest,
    ManifestChanges,
    append_journal,
    listed_name,
    manifest_identity,
    read_manifest_parts,
    real_name,
)
from .push import source_folder


@frozen
class BatchJudgement:
    """The brake's verdict on a batch (None: nothing to compare with), what the batch changes in
    the manifest, and why it could not be judged ("" when it was)."""

    verdict: Optional[BrakeVerdict]
    changes: ManifestChanges
    error: str = ""
    signs: Tuple[str, ...] = ()  # the batch's files that look encrypted, or like ransom notes


# A batch with random-looking or emptied files waits for more once the files since the last
# full push are a tenth of what the brake pauses for: on a small tree from the first such file
# (ransomware encrypting one file at a time is judged before its first file leaves); on a large
# one a few dozen random-looking files among the ordinary edits go at once, as ordinary edits do.
SIGNS_HOLD_SHARE = 0.1


def signs_in(compared: Changes, batch: ManifestChanges, total: int) -> Tuple[str, ...]:
    """The batch's files that look like ransomware's work, too few for a verdict but enough to
    wait for more (``SIGNS_HOLD_SHARE``): content turned random (in place, or beside its deleted
    original) and documents caught emptied (ransomware rewriting a file in place truncates it
    first: the batch may catch it between the two; an ordinary save that did the same is
    complete a moment later, and its batch goes at the next look); ransom notes always."""
    encrypted = encrypted_rewrites(compared.before, compared.now, compared.rewritten, compared.added,
                                   set(compared.deleted))
    emptied = [name for name in compared.rewritten if _emptied(compared.before[name], compared.now[name])]
    pausing_count = max(ENCRYPTED_MIN_FILES, total * ENCRYPTED_MIN_PERCENT / 100)
    worrying = encrypted + emptied if len(encrypted) + len(emptied) >= pausing_count * SIGNS_HOLD_SHARE else []
    notes = [name for name in compared.added if is_ransom_note(name)]
    return tuple(name for name in worrying + notes if name in batch)


def _emptied(old: Entry, new: Entry) -> bool:
    return 0 <= old.entropy < LOW_ENTROPY and new.size < ENTROPY_MIN_SIZE


class BatchBrake:
    """The manifest in memory and the judge of the continuous push's batches."""

    def __init__(self, root: Root, plan: Plan, produced: Sequence[str]):
        self.root, self.plan = root, plan
        self.is_produced = produced_test(produced)
        self.source = Path(source_folder(root))
        self.manifest: Optional[Manifest] = None
        self.sent: ManifestChanges = {}
        self.index = FileIndex(())
        self.total = 0
        self.known_extensions: frozenset = frozenset()

    def refresh(self) -> None:
        """Read the manifest again when a full push replaced it (the base and the window start over)."""
        identity = manifest_identity(self.root)
        if identity is not None and self.manifest is not None and identity == self.manifest.identity:
            return
        self.manifest = read_manifest_parts(self.root)
        base = self.manifest.base if self.manifest else {}
        self.sent = dict(self.manifest.journal) if self.manifest else {}
        self.index = FileIndex(list(base) + list(self.sent))
        judged = [name for name in base if not self.is_produced(name)]
        self.total = len(judged)
        self.known_extensions = frozenset(extension(name) for name in judged)

    def judge(self, batch_paths: Sequence[str], deleted: Sequence[str], lists_files: Tuple[Path, Path],
              empty_folder: Path) -> BatchJudgement:
        """Judge a batch: ``batch_paths`` the host paths it lists (``lists_files``: its include
        and exclude files), ``deleted`` those of them deleted on the master."""
        self.refresh()
        if self.manifest is None:
            return BatchJudgement(None, {})  # no full push completed yet: nothing to compare with
        commands = scan_commands(lists_files[0], lists_files[1], None, str(self.source), empty_folder)
        scan, _ = scan_files(commands, empty_folder.parent, lambda: None)
        if scan.error:
            return BatchJudgement(None, {}, scan.error)
        changes = self._changes(scan.files, batch_paths, deleted)
        window = dict(self.sent)
        window.update(changes)
        compared = self._compare(window)
        verdict = judge_changes(compared, self.plan.limits.max_delete_percent, self.plan.limits.max_rewrite_percent)
        return BatchJudgement(verdict, changes, "", signs_in(compared, changes, self.total))

    def record(self, changes: ManifestChanges) -> None:
        """The batch reached the slave: its changes join the window and the manifest's journal."""
        if self.manifest is None or self.manifest.identity is None or not changes:
            return
        for name in changes:
            if name not in self.sent and name not in self.manifest.base:
                self.index.add(name)
        self.sent.update(changes)
        append_journal(self.root, self.manifest.identity, changes)

    def added_by(self, changes: ManifestChanges) -> List[str]:
        """The names ``changes`` adds to the slave: files it holds neither from the last full
        push nor from a batch since."""
        return [name for name, entry in changes.items() if entry is not None and self._held(name) is None]

    def _held(self, name: str) -> Optional[Entry]:
        """The slave's file ``name`` as the manifest and the journal know it."""
        if name in self.sent:
            return self.sent[name]
        return self.manifest.base.get(name) if self.manifest else None

    def _changes(self, scanned: Dict[str, Entry], batch_paths: Sequence[str], deleted: Sequence[str]) -> ManifestChanges:
        changes: ManifestChanges = {}
        for name, entry in scanned.items():
            known = self._held(name)
            if known is None or is_rewrite(known, entry):
                changes[name] = Entry(entry.size, entry.mtime,
                                      sample_entropy(self.source / real_name(name), entry.size))
        gone = set(deleted)
        for path in batch_paths:
            name, real = listed_name(path), str(self.root.path(path))
            if name in scanned:
                continue
            if path in gone or not os.path.lexists(real):
                # deleted on the slave (--delete-missing-args), with everything under it
                for inside in [name] + self.index.under(name, lambda held: self._held(held) is not None):
                    if self._held(inside) is not None:
                        changes[inside] = None
            elif self._held(name) is not None and not os.path.isdir(real) and not os.path.isfile(real):
                changes[name] = None  # no regular file any more (a link now): the manifest lists files only
        return changes

    def _compare(self, window: ManifestChanges) -> Changes:
        """The window (what the batches sent since the last full push, and this batch) against the base."""
        base = self.manifest.base if self.manifest else {}
        deleted: List[str] = []
        added: List[str] = []
        rewritten: List[str] = []
        now: Dict[str, Entry] = {}
        for name, entry in window.items():
            if self.is_produced(name):
                continue
            if entry is None:
                if name in base:
                    deleted.append(name)
                continue
            now[name] = entry
            if name not in base:
                added.append(name)
            elif is_rewrite(base[name], entry):
                rewritten.append(name)
        return Changes(base, now, deleted, added, rewritten, self.total, self.known_extensions)
