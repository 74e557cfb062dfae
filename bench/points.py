"""Benchmark of the restore points: the short cycles with them on and off, and the slave's disk growth.

Usage (as root, from the source tree)::

    python -m bench.points                         # 50,000 files, 1 GiB, 15 cycles per setting
    python -m bench.points --files 5000 --mib 100 --repeats 5   # a quick look

Two sandbox hosts and the bench tree, as ``bench/run.py``. The master's ``RestorePoints`` is
switched between ``enabled`` and ``disabled`` (``config setprop`` and ``compile``), taking
turns at every measurement: a 1 % change cycle (a third of those files rewritten, a third
appended to, a third deleted) and a no-change cycle, each timed as the whole ``hotsync sync``.
With restore points on, the growth of the slave's ``restore-points`` folder per 1 % cycle is
compared with the bytes that cycle replaced or deleted on the slave. Medians.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

from bench.run import DATA, bench_hosts, hotsync, timed
from bench.tree import TreeShape, apply_change, changed_numbers, file_path, undo_change

POINTS = "var/lib/nethserver/hotsync/restore-points"


def disk_usage(folder: Path) -> int:
    """Bytes of the blocks the files under ``folder`` take (hard links counted once)."""
    seen, total = set(), 0
    for parent, _folders, files in os.walk(str(folder)):
        for name in files:
            info = os.lstat(os.path.join(parent, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def replaced_bytes(slave_data: Path, shape: TreeShape) -> int:
    """The bytes the slave holds in the files a 1 % change rewrites, appends to or deletes."""
    return sum(os.lstat(str(file_path(slave_data, number, shape))).st_blocks * 512
               for number in changed_numbers(shape, 1.0))


def set_points(script: Path, master: Path, enabled: bool) -> None:
    hotsync(script, "--root", master, "config", "setprop", "hotsync", "RestorePoints",
            "enabled" if enabled else "disabled")
    hotsync(script, "--root", master, "compile")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.points", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15, help="cycles per setting")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    shape = TreeShape(files=options.files, total_mib=options.mib)
    samples: Dict[str, Dict[str, List[float]]] = {setting: {"1 % change": [], "no change": []}
                                                  for setting in ("on", "off")}
    growth: List[float] = []
    with bench_hosts(options.keep, "hotsync-points-") as hosts:
        hosts.generate(shape)
        hosts.start()
        hosts.sync()
        script, master, slave, data, stash, sync = (hosts.script, hosts.master, hosts.slave, hosts.data,
                                                    hosts.stash, hosts.sync)
        for number in range(options.repeats):
            for setting in (("on", "off") if number % 2 == 0 else ("off", "on")):
                set_points(script, master, setting == "on")
                sync()  # settle: the first push after a switch is not measured
                before = disk_usage(slave / POINTS)
                replaced = replaced_bytes(slave / DATA.lstrip("/"), shape)
                apply_change(data, stash, shape)
                changed = timed(sync)
                time.sleep(0.5)  # the slave seals the point just after the push
                if setting == "on":
                    growth.append((disk_usage(slave / POINTS) - before) / replaced)
                undo_change(data, stash, shape)
                sync()
                unchanged = timed(sync)
                samples[setting]["1 % change"].append(changed)
                samples[setting]["no change"].append(unchanged)
                print(f"  repeat {number + 1} points {setting}: 1 % change {changed:.2f} s, "
                      f"no change {unchanged:.2f} s", flush=True)
        print()
        print(f"{shape.files:,} files, {shape.total_mib} MiB, loopback through stunnel (PSK), "
              f"{options.repeats} cycles per setting, medians")
        print("| case | restore points on | off | on / off (median of paired ratios) |")
        print("|---|---|---|---|")
        for case in ("1 % change", "no change"):
            on, off = samples["on"][case], samples["off"][case]
            ratio = statistics.median(a / b for a, b in zip(on, off))
            print(f"| {case} | {statistics.median(on):.2f} s | {statistics.median(off):.2f} s | {ratio:.2f}x |")
        print(f"slave disk growth per 1 % cycle / bytes that cycle replaced or deleted: "
              f"{statistics.median(growth):.2f} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
