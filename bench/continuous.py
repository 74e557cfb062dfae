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

* a 1 % change (``bench/tree.py``'s: a third of the files rewritten, a third appended to, a
  third deleted), timed from the end of the change to the slave holding all of it (sizes and
  times of the changed files polled every 20 ms, contents checked once at the end), beside a
  raw rsync cycle over the whole tree (``bench.run``'s fastest raw command) for the same change;
  ``--repeats`` of each, the change undone and pushed back between two;
* scaling (unless ``--no-scale``): the same change on a tree ten times larger (``--files`` and
  ``--mib`` times 10: the first ``--files`` files are the same files, so the change is the same),
  reaching the slave through ``hotsync watch``, against the smaller tree's figure.

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
from typing import Callable, Dict, List, Optional, Tuple

from bench.run import DATA, BenchHosts, install_hotsync, raw_command, timed
from bench.tree import TreeShape, apply_change, changed_numbers, file_path, undo_change

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


def change_state(base: Path, numbers: List[int], shape: TreeShape) -> List[Tuple[int, float]]:
    """Size and time of each changed file (-1 for a missing one): what the slave must match."""
    state = []
    for number in numbers:
        try:
            found = file_path(base, number, shape).stat()
            state.append((found.st_size, found.st_mtime))
        except FileNotFoundError:
            state.append((-1, 0.0))
    return state


def wait_for_change(master_data: Path, slave_data: Path, shape: TreeShape, timeout: float) -> float:
    """Wait until the slave holds the change's files as the master does; when it did."""
    numbers = changed_numbers(shape, 1.0)
    wanted = change_state(master_data, numbers, shape)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if change_state(slave_data, numbers, shape) == wanted:
            arrived = time.perf_counter()
            for number in numbers:
                source = file_path(master_data, number, shape)
                if source.exists() and source.read_bytes() != file_path(slave_data, number, shape).read_bytes():
                    raise RuntimeError(f"{source}: the slave's copy has the master's size and time, not its content")
            return arrived
        time.sleep(0.02)
    raise RuntimeError(f"the 1 % change did not reach the slave within {timeout} s")


def change_cycles(master: Path, slave: Path, stash: Path, shape: TreeShape, repeats: int, timeout: float,
                  push: Optional[Callable[[], None]] = None) -> List[float]:
    """Seconds from the end of a 1 % change to the slave holding it, ``repeats`` times.

    ``push``: run it after the change and time it (a raw rsync cycle); without it a running
    tool (hotsync watch, lsyncd) is expected to bring the change over by itself.
    """
    master_data, slave_data = master / DATA.lstrip("/"), slave / DATA.lstrip("/")
    measured = []
    for _ in range(repeats):
        os.sync()  # the change's writes are flushed on nobody's clock
        apply_change(master_data, stash, shape)
        if push is not None:
            measured.append(timed(push))
            wait_for_change(master_data, slave_data, shape, 1.0)  # it did all of it
        else:
            changed = time.perf_counter()
            measured.append(wait_for_change(master_data, slave_data, shape, timeout) - changed)
        undo_change(master_data, stash, shape)
        if push is not None:
            push()
        wait_for_change(master_data, slave_data, shape, timeout)
        time.sleep(1.0)
    return measured


def with_tool(argv: List[str], warmup: float, action: Callable[[int], Dict[str, float]]) -> Dict[str, float]:
    """``action``'s figures (given the tool's pid), measured while ``argv`` runs (started
    ``warmup`` seconds before)."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(warmup)
        return action(process.pid)
    finally:
        os.killpg(process.pid, 15)
        process.wait()


def summary(values: List[float]) -> Dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p95": ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            "runs": len(ordered)}


def pushed_pair(work: Path, script: Path, shape: TreeShape) -> BenchHosts:
    """A master and a slave with the bench tree of ``shape`` pushed whole (the caller stops them)."""
    hosts = BenchHosts(work, script)
    try:
        hosts.configure()
        hosts.generate(shape)
        hosts.start()
        print("first push ...", flush=True)
        hosts.sync()
    except BaseException:
        hosts.stop()
        raise
    return hosts


def watch_argv(hosts: BenchHosts) -> List[str]:
    return [str(hosts.script), "--root", str(hosts.master), "watch"]


def raw_push(hosts: BenchHosts) -> None:
    subprocess.run(raw_command(hosts.master, hosts.work, hosts.master_port, False), check=True,
                   stdout=subprocess.DEVNULL)


def watch_settle_seconds(shape: TreeShape) -> float:
    """Time for ``hotsync watch`` to set its watches and make its first (full) push."""
    return 15 + shape.files / 10_000


def measure_base(hosts: BenchHosts, shape: TreeShape, options) -> Dict[str, Dict[str, float]]:
    """Latency, idle cost and the 1 % change per tool, and the raw rsync cycle, on one tree."""
    results: Dict[str, Dict[str, float]] = {}

    def watched(name: str, writes: int, timeout: float) -> Callable[[int], Dict[str, float]]:
        def action(pid: int) -> Dict[str, float]:
            figures = measure_latency_and_idle(name, hosts, writes, timeout, pid)
            change = summary(change_cycles(hosts.master, hosts.slave, hosts.stash, shape, options.repeats, 120))
            return {**figures, "change": change["median"], "change_p95": change["p95"]}
        return action

    print("hotsync watch ...", flush=True)
    results["hotsync watch"] = with_tool(watch_argv(hosts), watch_settle_seconds(shape),
                                         watched("hotsync", options.writes, 10))
    if shutil.which("lsyncd"):
        for label, delay, writes in (("lsyncd, delay = 1", 1, options.writes),
                                     ("lsyncd, default delay", -1, max(options.writes // 5, 5))):
            print(f"{label} ...", flush=True)
            config = lsyncd_config(hosts.work, hosts.master, hosts.master_port, delay)
            results[label] = with_tool(["lsyncd", str(config)], 15, watched("lsyncd", writes, 60))
    else:
        print("lsyncd is not installed (apt-get install lsyncd): its rows are left out", flush=True)
    print("raw rsync cycles ...", flush=True)
    raw = summary(change_cycles(hosts.master, hosts.slave, hosts.stash, shape, options.repeats, 120, lambda: raw_push(hosts)))
    results["raw rsync cycle"] = {"change": raw["median"], "change_p95": raw["p95"]}
    return results


def measure_latency_and_idle(name: str, hosts: BenchHosts, writes: int, timeout: float, pid: int) -> Dict[str, float]:
    values = latencies(hosts.master / DATA.lstrip("/"), hosts.slave / DATA.lstrip("/"), name, writes, timeout)
    time.sleep(2.0)
    pids = process_tree(pid)
    before = cpu_seconds(pids)
    time.sleep(IDLE_SECONDS)
    figures = summary(values)
    return {"median": figures["median"], "p95": figures["p95"], "writes": figures["runs"],
            "idle": (cpu_seconds(pids) - before) / IDLE_SECONDS}


def measure_scaled(work: Path, script: Path, shape: TreeShape, change_shape: TreeShape, repeats: int) -> float:
    """The median time for ``change_shape``'s 1 % change to reach the slave through
    ``hotsync watch`` on a tree of ``shape``."""
    hosts = pushed_pair(work, script, shape)
    try:
        print(f"hotsync watch, {shape.files:,} files ...", flush=True)
        figures = with_tool(watch_argv(hosts), watch_settle_seconds(shape), lambda _pid: summary(
            change_cycles(hosts.master, hosts.slave, hosts.stash, change_shape, repeats, 300)))
        return figures["median"]
    finally:
        hosts.stop()


def format_results(results: Dict[str, Dict[str, float]], shape: TreeShape, scaled: Optional[float],
                   large: TreeShape) -> str:
    raw = results["raw rsync cycle"]["change"]
    lines = [f"{shape.files:,} files, {shape.total_mib} MiB, loopback through stunnel (PSK)", "",
             "| tool | single-file latency median | p95 | writes | idle CPU (share of one core) "
             "| 1 % change to the slave (median) | against a raw rsync cycle |",
             "|---|---|---|---|---|---|---|"]
    for label, figures in results.items():
        if label == "raw rsync cycle":
            continue
        lines.append(f"| {label} | {figures['median']:.3f} s | {figures['p95']:.3f} s | {figures['writes']:.0f} "
                     f"| {100 * figures['idle']:.2f} % | {figures['change']:.2f} s | {figures['change'] / raw:.2f}x |")
    lines.append(f"| raw rsync cycle (whole tree) | | | | | {raw:.2f} s | 1.00x |")
    if scaled is not None:
        base = results["hotsync watch"]["change"]
        lines += ["", f"the same change, hotsync watch: {shape.files:,} files {base:.2f} s, "
                  f"{large.files:,} files ({large.total_mib} MiB) {scaled:.2f} s: {scaled / base:.2f}x"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.continuous", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7, help="1 %% change cycles per tool")
    parser.add_argument("--no-scale", action="store_true", help="leave out the tree ten times larger")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    shape = TreeShape(files=options.files, total_mib=options.mib)
    large = TreeShape(files=options.files * 10, total_mib=options.mib * 10)
    work = Path(options.keep or tempfile.mkdtemp(prefix="hotsync-continuous-"))
    script = install_hotsync(work)
    try:
        hosts = pushed_pair(work / "base", script, shape)
        try:
            results = measure_base(hosts, shape, options)
        finally:
            hosts.stop()
        if not options.keep:
            shutil.rmtree(work / "base", ignore_errors=True)  # room for the larger tree
        scaled = None if options.no_scale else measure_scaled(work / "large", script, large, shape, options.repeats)
        print()
        print(format_results(results, shape, scaled, large))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
