"""A deterministic office-like tree: many small documents, some medium files, a few large ones.

The same seed always gives the same names, sizes, contents and modification times, so two
runs of the benchmark (or two tools in one run) push exactly the same data.
"""

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List

FIXED_MTIME = 1_700_000_000  # a fixed date, so rsync's quick check behaves the same every run
WORDS = (b"invoice customer order report meeting budget project draft final review contract "
         b"quarter sales summary agenda minutes offer delivery payment account ").split()


@dataclass(frozen=True)
class TreeShape:
    files: int = 50_000
    total_mib: int = 1024
    files_per_folder: int = 100


def file_sizes(shape: TreeShape, chooser: random.Random) -> List[int]:
    """Sizes summing to about ``total_mib``: 85 % small, 14.8 % medium, 0.2 % large (by count)."""
    weights = []
    for _ in range(shape.files):
        draw = chooser.random()
        if draw < 0.85:
            weights.append(chooser.uniform(0.5, 12))  # letters, spreadsheets: a few KiB
        elif draw < 0.998:
            weights.append(chooser.uniform(20, 200))  # documents with pictures
        else:
            weights.append(chooser.uniform(1500, 4000))  # videos, archives
    scale = shape.total_mib * 1024 * 1024 / sum(weights)
    return [max(1, int(weight * scale)) for weight in weights]


def text_pool(seed: int) -> bytes:
    """A megabyte of words that text-like files are cut from (compressible, like documents)."""
    chooser = random.Random(seed)
    return b" ".join(chooser.choice(WORDS) for _ in range(180_000))[: 1 << 20]


def content(chooser: random.Random, pool: bytes, size: int) -> bytes:
    """Half the files text-like (compressible), half binary-like (not)."""
    if chooser.random() < 0.5:
        start = chooser.randrange(len(pool))
        if start + size <= len(pool):
            return pool[start:start + size]
        repeated = pool[start:] + pool * (size // len(pool) + 1)
        return repeated[:size]
    return chooser.randbytes(size)


def file_path(base: Path, number: int, shape: TreeShape) -> Path:
    folder = number // shape.files_per_folder
    return base / f"dept-{folder // 50:02}" / f"folder-{folder:04}" / f"doc-{number:06}.dat"


def generate_tree(base: Path, shape: TreeShape, seed: int = 1) -> int:
    """Write the tree under ``base``; returns the bytes written."""
    chooser = random.Random(seed)
    pool = text_pool(seed)
    total = 0
    for number, size in enumerate(file_sizes(shape, chooser)):
        path = file_path(base, number, shape)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content(chooser, pool, size)
        path.write_bytes(data)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        total += len(data)
    return total


def changed_numbers(shape: TreeShape, percent: float, seed: int = 2) -> List[int]:
    chooser = random.Random(seed)
    return sorted(chooser.sample(range(shape.files), max(1, int(shape.files * percent / 100))))


def apply_change(base: Path, stash: Path, shape: TreeShape, percent: float = 1.0) -> None:
    """Change ``percent`` of the files (a third rewritten, a third appended to, a third deleted).

    The originals are moved to ``stash`` first, so ``undo_change`` can put them back.
    """
    chooser = random.Random(3)
    pool = text_pool(3)
    stash.mkdir(parents=True, exist_ok=True)
    for index, number in enumerate(changed_numbers(shape, percent)):
        path = file_path(base, number, shape)
        os.link(path, stash / path.name)
        path.unlink()
        kind = index % 3
        if kind == 2:
            continue  # deleted
        data = content(chooser, pool, (stash / path.name).stat().st_size)
        if kind == 1:
            data = (stash / path.name).read_bytes() + data[:4096]
        path.write_bytes(data)
        os.utime(path, (FIXED_MTIME + 3600, FIXED_MTIME + 3600))


def undo_change(base: Path, stash: Path, shape: TreeShape, percent: float = 1.0) -> None:
    """Put the originals saved by ``apply_change`` back."""
    for number in changed_numbers(shape, percent):
        path = file_path(base, number, shape)
        if path.exists():
            path.unlink()
        os.rename(stash / path.name, path)
