"""Benchmark: the continuous push (``hotsync watch``) beside lsyncd, on the same tree and tunnel.

Usage (as root, from the source tree; ``apt-get install lsyncd`` first for its columns)::

    python -m bench.continuous                         # 50,000 files (the README figures)
    python -m bench.continuous --files 5000 --mib 100 --writes 40   # a quick look

Two sandbox hosts as in ``bench.run``, one deterministic tree (``bench/tree.py``) pushed
whole first. Then for each tool in turn (hotsync watch; lsyncd with ``delay = 1``; lsyncd
with its default delay), started on the master and given time to settle:

* latency: ``--writes`` single-file writes, one at a time, each timed from the write's end
  to the file's content on the slave (polled every 5 ms): median and 95th percentile;
* idle cost: the tool's CPU time (its processes' user + system, from /proc) over 20 s without
  a change, as a share of one core.

lsyncd runs ``default.rsync`` to the same rsync daemon module through the same stunnel tunnel,
with the same password file. Its default delay is 15 s, so its latency is measured on
``--writes // 5`` writes.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from bench.run import DATA, configure, free_port, hotsync, install_hotsync
from bench.tree import TreeShape, generate_tree

IDLE_SECONDS = 20.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: List[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (and of waited-for children: 13, 14)
        total += int(fields[13]) + int(fields[14])
    return total / TICKS


def process_tree(pid: int) -> List[int]:
    """``pid`` and its descendants now."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def wait_for(path: Path, content: bytes, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if path.read_bytes() == content:
                return time.perf_counter()
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{path} did not reach the slave within {timeout} s")


def latencies(master_data: Path, slave_data: Path, tool: str, writes: int, timeout: float) -> List[float]:
    measured = []
    folder = master_data / "latency"
    folder.mkdir(exist_ok=True)
    for number in range(writes):
        name = f"{tool}-{number}.txt"
        content = f"{tool} write {number} {time.time()}\n".encode()
        (folder / name).write_bytes(content)
        written = time.perf_counter()
        measured.append(wait_for(slave_data / "latency" / name, content, timeout) - written)
        time.sleep(0.2)
    return measured


def lsyncd_config(work: Path, master: Path, rsync_port: int, delay: int) -> Path:
    config = work / f"lsyncd-{delay}.lua"
    delay_line = f"    delay = {delay},\n" if delay >= 0 else ""
    config.write_text(
        "settings { nodaemon = true, insist = true, statusInterval = 3600 }\n"
        "sync {\n"
        "    default.rsync,\n"
        f"    source = \"{master}{DATA}\",\n"
        f"    target = \"rsync://hotsyncuser@127.0.0.1:{rsync_port}/hotsync{DATA}\",\n"
        f"{delay_line}"
        "    rsync = {\n"
        "        archive = true, hard_links = true, acls = true,\n"
        f"        password_file = \"{master}/etc/hotsync/rsync.password\",\n"
        "        _extra = { \"--sockopts=TCP_NODELAY\" },\n"
        "    },\n"
        "}\n")
    return config


def measure_tool(name: str, argv: List[str], master: Path, slave: Path, writes: int, timeout: float,
                 warmup: float) -> Dict[str, float]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(warmup)
        values = latencies(master / DATA.lstrip("/"), slave / DATA.lstrip("/"), name, writes, timeout)
        time.sleep(2.0)
        pids = process_tree(process.pid)
        before = cpu_seconds(pids)
        time.sleep(IDLE_SECONDS)
        idle = (cpu_seconds(pids) - before) / IDLE_SECONDS
        values.sort()
        return {"median": statistics.median(values), "p95": values[max(int(len(values) * 0.95) - 1, 0)],
                "idle": idle, "writes": len(values)}
    finally:
        os.killpg(process.pid, 15)
        process.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.continuous", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    shape = TreeShape(files=options.files, total_mib=options.mib)
    work = Path(options.keep or tempfile.mkdtemp(prefix="hotsync-continuous-"))
    master, slave = work / "master", work / "slave"
    tunnel_port, master_port = free_port(), free_port()
    script = install_hotsync(work)
    try:
        configure(script, slave, "slave", tunnel_port, free_port())
        configure(script, master, "master", tunnel_port, master_port)
        listing = master / "etc/backup-data.d/bench.include"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(f"{DATA}\n")
        print(f"generating {shape.files:,} files, {shape.total_mib} MiB ...", flush=True)
        generate_tree(master / DATA.lstrip("/"), shape)
        hotsync(script, "--root", slave, "services", "start")
        hotsync(script, "--root", master, "services", "start", "stunnel")
        hotsync(script, "--root", master, "sync")
        results = {}
        print("hotsync watch ...", flush=True)
        results["hotsync watch"] = measure_tool("hotsync", [str(script), "--root", str(master), "watch"],
                                                master, slave, options.writes, 10, 15)
        if shutil.which("lsyncd"):
            for label, delay, writes in (("lsyncd, delay = 1", 1, options.writes),
                                         ("lsyncd, default delay", -1, max(options.writes // 5, 5))):
                print(f"{label} ...", flush=True)
                config = lsyncd_config(work, master, master_port, delay)
                results[label] = measure_tool("lsyncd", ["lsyncd", str(config)], master, slave, writes, 60, 15)
        else:
            print("lsyncd is not installed (apt-get install lsyncd): its columns are left out", flush=True)
        print()
        print(f"{shape.files:,} files, loopback through stunnel (PSK)")
        print()
        print("| tool | single-file latency median | p95 | writes | idle CPU (share of one core) |")
        print("|---|---|---|---|---|")
        for label, result in results.items():
            print(f"| {label} | {result['median']:.3f} s | {result['p95']:.3f} s | {result['writes']:.0f} "
                  f"| {100 * result['idle']:.2f} % |")
    finally:
        for host in (master, slave):
            subprocess.run([str(script), "--root", str(host), "services", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
