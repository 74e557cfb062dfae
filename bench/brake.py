"""Benchmark of the brake: no false alarm on ordinary cycles, a pause before ransomware reaches the slave.

Usage (as root, from the source tree)::

    python -m bench.brake                          # 50,000 files, 1 GiB, 100 cycles (the README figures)
    python -m bench.brake --files 5000 --mib 100 --cycles 20   # a quick look

Two sandbox hosts built with the admin's commands, the bench tree (``bench/tree.py``) on the
master, one first sync, then:

1. ``--cycles`` ordinary cycles: 1 % of the files changed (a third rewritten, a third appended
   to, a third deleted), ``hotsync sync``, the change undone, ``hotsync sync`` again. Any run
   the brake pauses (exit 3) is a false alarm.
2. Ransomware: 30 % of the files overwritten with random bytes and renamed ``*.locked``, then
   ``hotsync sync``: it must exit 3 with the slave's tree exactly as before (every file's
   size, time and inode, no ``*.locked`` file, no rsync temp file).

It also times the brake's scan alone (the local rsync listing the brake runs before a push).
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from bench.run import DATA, bench_hosts, installed_environment
from bench.tree import TreeShape, apply_change, file_path, undo_change
from hotsync.runtime.brake import scan_commands, scan_files

EXIT_PAUSED = 3


def sync(script: Path, master: Path) -> Tuple[int, float, str]:
    started = time.perf_counter()
    run = subprocess.run([str(script), "--root", str(master), "sync"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=installed_environment())
    return run.returncode, time.perf_counter() - started, run.stderr


def stat_digest(folder: Path) -> Dict[str, Tuple[int, int, int]]:
    """Every file's size, modification time and inode: a rewrite or a new file changes it."""
    digest = {}
    for parent, _folders, files in os.walk(folder):
        for name in files:
            info = os.lstat(os.path.join(parent, name))
            digest[os.path.join(parent, name)] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return digest


def encrypt(data: Path, shape: TreeShape, share: float) -> int:
    chooser = random.Random(99)
    numbers = chooser.sample(range(shape.files), int(shape.files * share))
    for number in numbers:
        path = file_path(data, number, shape)
        scrambled = os.urandom(path.stat().st_size)
        path.unlink()
        path.with_name(path.name + ".locked").write_bytes(scrambled)
    return len(numbers)


def scan_seconds(master: Path) -> float:
    """The brake's scan alone: rsync's listing of the push's selection, read into entries."""
    with tempfile.TemporaryDirectory() as temporary:
        include, exclude = Path(temporary) / "include", Path(temporary) / "exclude"
        include.write_text(f"{DATA}\n")
        exclude.write_text("")
        empty = Path(temporary) / "empty"
        empty.mkdir()
        commands = scan_commands(include, exclude, None, str(master), empty)
        started = time.perf_counter()
        scan, _ = scan_files(commands, Path(temporary), lambda: None)
        assert not scan.error, scan.error
        return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.brake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    shape = TreeShape(files=options.files, total_mib=options.mib)
    failures: List[str] = []
    with bench_hosts(options.keep, "hotsync-brake-") as hosts:
        hosts.generate(shape)
        hosts.start()
        script, master, slave, data, stash = hosts.script, hosts.master, hosts.slave, hosts.data, hosts.stash
        code, seconds, error = sync(script, master)
        print(f"first sync: exit {code}, {seconds:.2f} s", flush=True)
        if code != 0:
            raise SystemExit(f"the first sync failed: {error}")

        false_alarms, runs, durations = 0, 0, []
        for cycle in range(options.cycles):
            apply_change(data, stash, shape)
            changed = sync(script, master)
            undo_change(data, stash, shape)
            restored = sync(script, master)
            for code, seconds, error in (changed, restored):
                runs += 1
                durations.append(seconds)
                if code == EXIT_PAUSED:
                    false_alarms += 1
                    print(f"  cycle {cycle + 1}: false alarm: {error.strip()}", flush=True)
                elif code != 0:
                    failures.append(f"cycle {cycle + 1}: exit {code}: {error.strip()}")
            if (cycle + 1) % 10 == 0:
                print(f"  {cycle + 1} cycles, {false_alarms} false alarm(s)", flush=True)
        scans = [scan_seconds(master) for _ in range(5)]

        slave_data = slave / DATA.lstrip("/")
        before = stat_digest(slave_data)
        encrypted = encrypt(data, shape, 0.30)
        code, seconds, error = sync(script, master)
        after = stat_digest(slave_data)
        untouched = after == before
        locked_on_slave = sum(1 for name in after if name.endswith(".locked"))

        print()
        print(f"{shape.files:,} files, {shape.total_mib} MiB, loopback through stunnel (PSK)")
        print(f"ordinary 1 % cycles: {options.cycles} cycles ({runs} syncs): {false_alarms} false alarm(s); "
              f"median sync {statistics.median(durations):.2f} s; the brake's scan alone "
              f"{statistics.median(scans):.2f} s (median of 5)")
        print(f"ransomware ({encrypted} files, 30 %, random bytes, renamed *.locked): exit {code} in {seconds:.2f} s; "
              f"slave untouched: {'yes' if untouched else 'NO'} ({locked_on_slave} *.locked file(s) on the slave)")
        print(f"  {error.strip()}")
        if false_alarms or code != EXIT_PAUSED or not untouched:
            failures.append("the brake did not behave as required")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
