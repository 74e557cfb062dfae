"""Benchmark: ``hotsync sync`` against raw rsync over the same tunnel, on a deterministic tree.

Usage (as root, from the source tree)::

    python -m bench.run                      # 50,000 files, 1 GiB (the README figures)
    python -m bench.run --files 5000 --mib 100 --keep /tmp/bench

Three columns, each measured in the same run on the same data:
  hotsync   ``hotsync --root MASTER sync`` (the whole run: lists, configuration backup, push, marker, status)
  rsync     the fastest equivalent raw command: ``rsync -r -a -H -A --delete-delay --files-from ...``
  original  the original's flags: ``rsync -z -r -a -H -A --delete --files-from ... --exclude-from ...``
and three cases: a first sync into an empty slave, a 1 % change, a no-change cycle. The tools
take turns in each round and the table shows medians over the rounds.
hotsync runs from a fresh virtualenv with a regular (non-editable) install of this source
tree, as on a real host: an editable install adds an import hook that costs every run
about 15 ms of start-up, which no installed copy pays.
Database dumps are off (no dump rule is active); the configuration backup is counted.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from bench.tree import TreeShape, apply_change, generate_tree, undo_change

PASSWORD = "benchmark-password-1"
DATA = "/srv/bench"


def installed_environment() -> Dict[str, str]:
    """The environment hotsync runs in on a real host: Python may keep its compiled bytecode.

    Some shells (this workplace's among them) set PYTHONDONTWRITEBYTECODE, which makes every
    run recompile hotsync's modules: a cost an installed package (compiled by pip) never pays.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def install_hotsync(work: Path) -> Path:
    """A virtualenv in ``work`` with this source tree installed as a host installs it; its ``hotsync``."""
    environment, source = work / "venv", Path(__file__).resolve().parent.parent
    print("installing hotsync into a virtualenv ...", flush=True)
    if not (environment / "bin/pip").exists():
        subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
        subprocess.run([str(environment / "bin/pip"), "install", "-q", str(source)], check=True)
    else:  # a kept work folder: this source tree's code, the dependencies already there
        subprocess.run([str(environment / "bin/pip"), "install", "-q", "--no-deps", "--force-reinstall", str(source)],
                       check=True)
    return environment / "bin/hotsync"


def hotsync(script: Path, *arguments) -> None:
    subprocess.run([str(script), *map(str, arguments)], check=True, stdout=subprocess.DEVNULL,
                   env=installed_environment())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def configure(script: Path, root: Path, role: str, tunnel_port: int, rsync_port: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    hotsync(script, "--root", root, "install")
    peer = "MasterHost" if role == "slave" else "SlaveHost"
    hotsync(script, "--root", root, "config", "setprop", "hotsync", "role", role, peer, "127.0.0.1", "SlavePort", tunnel_port)
    hotsync(script, "--root", root, "config", "setprop", "rsyncd", "password", PASSWORD, "TCPPort", rsync_port)
    hotsync(script, "--root", root, "compile")


class BenchHosts:
    """A master and a slave in ``work``, configured with the admin's commands, the master's
    includes naming ``DATA`` (its tree is the caller's to write); ``stop`` ends their daemons."""

    def __init__(self, work: Path, script: Path):
        self.work, self.script = work, script
        self.master, self.slave, self.stash = work / "master", work / "slave", work / "stash"
        self.master_port = 0  # the master's tunnel client: where a raw rsync connects

    def configure(self) -> None:
        tunnel_port, self.master_port = free_port(), free_port()
        configure(self.script, self.slave, "slave", tunnel_port, free_port())
        configure(self.script, self.master, "master", tunnel_port, self.master_port)
        listing = self.master / "etc/backup-data.d/bench.include"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text(f"{DATA}\n")

    @property
    def data(self) -> Path:
        return self.master / DATA.lstrip("/")

    @property
    def slave_data(self) -> Path:
        return self.slave / DATA.lstrip("/")

    def generate(self, shape: TreeShape) -> int:
        """The bench tree on the master; the bytes written."""
        print(f"generating {shape.files:,} files, {shape.total_mib} MiB ...", flush=True)
        return generate_tree(self.data, shape)

    def start(self) -> None:
        """The slave's daemons and the master's tunnel."""
        hotsync(self.script, "--root", self.slave, "services", "start")
        hotsync(self.script, "--root", self.master, "services", "start", "stunnel")

    def sync(self) -> None:
        hotsync(self.script, "--root", self.master, "sync")

    def stop(self) -> None:
        for host in (self.master, self.slave):
            subprocess.run([str(self.script), "--root", str(host), "services", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def bench_hosts(keep: Optional[str], prefix: str) -> Iterator[BenchHosts]:
    """A configured ``BenchHosts`` in ``keep`` (kept) or in a temp folder (removed), with
    hotsync installed there; its daemons stopped at the end, whatever happened."""
    work = Path(keep or tempfile.mkdtemp(prefix=prefix))
    hosts = BenchHosts(work, install_hotsync(work))
    try:
        hosts.configure()
        yield hosts
    finally:
        hosts.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def raw_command(master: Path, work: Path, rsync_port: int, original: bool) -> List[str]:
    files_from, exclude_from = work / "raw.include", work / "raw.exclude"
    files_from.write_text(f"{DATA}\n")
    exclude_from.write_text("")
    flags = ["-z", "-r", "-a", "-H", "-A", "--delete"] if original else ["-r", "-a", "-H", "-A", "--delete-delay"]
    return ["rsync", *flags, f"--files-from={files_from}", f"--exclude-from={exclude_from}",
            f"--password-file={master}/etc/hotsync/rsync.password", *([] if original else ["--sockopts=TCP_NODELAY"]),
            f"{master}/", f"rsync://hotsyncuser@127.0.0.1:{rsync_port}/hotsync/"]


def timed(action: Callable[[], None]) -> float:
    os.sync()  # earlier writes must not be flushed on the clock of the next measurement
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


CASES = ("first sync", "1 % change", "no change")


Samples = Dict[str, Dict[str, List[float]]]  # tool -> case -> seconds, in round order


def measure(tools: Dict[str, Callable[[], None]], master: Path, slave: Path, stash: Path,
            shape: TreeShape, rounds: int, repeats: int) -> Samples:
    """Every measurement per tool and case. The tools take turns at every single measurement, and who
    goes first rotates, so neither a busy moment of the shared machine nor the disk's state
    after a big deletion lands on one tool only; the short cycles (under two seconds, where
    that noise matters most) are measured ``repeats`` times each."""
    samples = {name: {case: [] for case in CASES} for name in tools}
    data = master / DATA.lstrip("/")
    for number in range(rounds):
        for name in rotated(list(tools), number):
            shutil.rmtree(slave / DATA.lstrip("/"), ignore_errors=True)
            seconds = timed(tools[name])
            samples[name]["first sync"].append(seconds)
            print(f"  round {number + 1} {name}: first sync {seconds:.2f} s", flush=True)
    for number in range(repeats):
        for name in rotated(list(tools), number):
            push = tools[name]
            apply_change(data, stash, shape)
            changed = timed(push)
            undo_change(data, stash, shape)
            push()  # back to equal trees
            unchanged = timed(push)
            samples[name]["1 % change"].append(changed)
            samples[name]["no change"].append(unchanged)
            print(f"  repeat {number + 1} {name}: 1 % change {changed:.2f} s, no change {unchanged:.2f} s", flush=True)
    return samples


def rotated(names: List[str], turn: int) -> List[str]:
    start = turn % len(names)
    return names[start:] + names[:start]


def format_table(samples: Samples, shape: TreeShape, size: int) -> str:
    """Medians per tool and case, and the median of the per-round ratios hotsync / rsync
    (both measured in the same round, so a slow moment of the machine cancels out)."""
    columns = {name: {case: statistics.median(values) for case, values in cases.items()}
               for name, cases in samples.items()}
    lines = [
        f"{shape.files:,} files, {size / 2**20:,.0f} MiB, loopback through stunnel (PSK)",
        "",
        "| case | hotsync | raw rsync (same flags) | hotsync / rsync | original flags (-z, --delete) |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        ours, raw, original = (columns[name][case] for name in ("hotsync", "rsync", "original"))
        lines.append(f"| {case} | {ours:.2f} s | {raw:.2f} s | {ours / raw:.2f}x | {original:.2f} s |")
    paired = {case: statistics.median(ours / raw for ours, raw in zip(samples["hotsync"][case], samples["rsync"][case]))
              for case in CASES}
    lines += ["", "median of the per-round ratios hotsync / rsync: "
              + ", ".join(f"{case} {ratio:.2f}x" for case, ratio in paired.items())]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="first syncs per tool (medians are shown)")
    parser.add_argument("--repeats", type=int, default=31, help="1 %% change and no-change cycles per tool")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    options = parser.parse_args(argv)
    shape = TreeShape(files=options.files, total_mib=options.mib)
    with bench_hosts(options.keep, "hotsync-bench-") as hosts:
        size = hosts.generate(shape)
        hosts.start()
        tools = {
            "hotsync": hosts.sync,
            "rsync": lambda: subprocess.run(raw_command(hosts.master, hosts.work, hosts.master_port, False), check=True),
            "original": lambda: subprocess.run(raw_command(hosts.master, hosts.work, hosts.master_port, True), check=True),
        }
        samples = measure(tools, hosts.master, hosts.slave, hosts.stash, shape, options.rounds, options.repeats)
        print()
        print(format_table(samples, shape, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
