"""Benchmark: does ``BwLimit`` hold a push to its cap?

Usage (as root, from the source tree)::

    python -m bench.bwlimit                       # 2048 KiB/s for 60 s (the README figure)
    python -m bench.bwlimit --kib 512 --seconds 20

Two sandbox hosts as in ``bench.run`` (install, config setprop, compile, services start), one
incompressible file sized to take ``--seconds`` at the cap, ``config setprop hotsync BwLimit KIB``,
then one ``hotsync sync`` through the tunnel. The rate is the file's size over the push's
time (the whole run: lists, configuration backup, push, marker); the growth of rsync's temp
file on the slave is sampled every second, so the table shows the rate of each tenth of the
run too, and whether the cap held from start to end, not only on average.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import List, Tuple

from bench.run import bench_hosts, hotsync

FILE_NAME = "payload.bin"
TOLERANCE = 0.10


def write_payload(path: Path, size: int) -> None:
    """Random bytes: neither rsync's delta nor any compression can shrink them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            out.write(chunk)
            left -= len(chunk)


def sample_growth(folder: Path, stop: threading.Event, samples: List[Tuple[float, int]]) -> None:
    """(time, bytes on the slave so far) every second: rsync's temp file, then the renamed file."""
    while not stop.is_set():
        size = 0
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name == FILE_NAME or entry.name.startswith(f".{FILE_NAME}."):
                    try:
                        size = max(size, entry.stat().st_size)
                    except FileNotFoundError:
                        pass
        samples.append((time.perf_counter(), size))
        stop.wait(1.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bwlimit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kib", type=int, default=2048, help="the cap, KiB/s (BwLimit)")
    parser.add_argument("--seconds", type=int, default=60, help="how long the push should take at the cap")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    size = options.kib * 1024 * options.seconds
    with bench_hosts(options.keep, "hotsync-bwlimit-") as hosts:
        script, master = hosts.script, hosts.master
        write_payload(hosts.data / FILE_NAME, size)
        hotsync(script, "--root", master, "config", "setprop", "hotsync", "BwLimit", options.kib)
        hotsync(script, "--root", master, "compile")
        hosts.start()
        samples: List[Tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_growth, args=(hosts.slave_data, stop, samples))
        started = time.perf_counter()
        sampler.start()
        hotsync(script, "--root", master, "sync")
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        print(format_report(options.kib, size, elapsed, started, samples))
        rate = size / 1024 / elapsed
        return 0 if abs(rate - options.kib) <= TOLERANCE * options.kib else 1


def format_report(kib: int, size: int, elapsed: float, started: float, samples: List[Tuple[float, int]]) -> str:
    rate = size / 1024 / elapsed
    lines = [
        f"BwLimit {kib} KiB/s, {size / 2**20:.0f} MiB of random bytes, one hotsync sync through stunnel (PSK)",
        "",
        "| cap | push time | average rate | off the cap |",
        "|---|---|---|---|",
        f"| {kib} KiB/s | {elapsed:.1f} s | {rate:.0f} KiB/s | {100 * (rate - kib) / kib:+.1f} % |",
        "",
        "rate on the slave in each tenth of the run (KiB/s): "
        + ", ".join(f"{value:.0f}" for value in tenths(started, elapsed, samples)),
    ]
    return "\n".join(lines)


def tenths(started: float, elapsed: float, samples: List[Tuple[float, int]]) -> List[float]:
    """The slave-side rate over each tenth of the run, from the sampled sizes."""
    rates = []
    for part in range(10):
        low, high = started + elapsed * part / 10, started + elapsed * (part + 1) / 10
        inside = [(moment, size) for moment, size in samples if low <= moment <= high]
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
            rates.append((inside[-1][1] - inside[0][1]) / 1024 / (inside[-1][0] - inside[0][0]))
    return rates


if __name__ == "__main__":
    sys.exit(main())
