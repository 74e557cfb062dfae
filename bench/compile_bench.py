"""How long compiling takes, since every nethserver-hotsync-* event runs it.

Builds a sandbox host with the shipped rules (every package file) configured as a master,
then measures: the in-process pipeline (parse -> validate -> plan -> render -> compare),
`hotsync compile --check` as a process (what an event pays, Python start-up included), and
a process that only starts Python and imports nothing (the floor). Prints a table.

    python bench/compile_bench.py [--runs 20]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hotsync.cli import main as hotsync_main
from hotsync.commands.compile import host_commands
from hotsync.compiler import compile_root
from hotsync.compiler.apply import find_changes, plan_output
from hotsync.nethserver.esmith import database_path, read_database
from hotsync.root import Root
from hotsync.tool_versions import probe_tool_versions


def measure(action, runs: int) -> float:
    """Median seconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Root(Path(folder))
        for argv in (["install", "--quiet"],
                     ["config", "setprop", "hotsync", "role", "master", "SlaveHost", "192.168.1.2"],
                     ["config", "setprop", "rsyncd", "password", "benchmark-shared-secret"],
                     ["compile", "--quiet"]):
            assert hotsync_main(["--root", folder, *argv]) == 0

        tools = probe_tool_versions()  # once: the pipeline is what is measured here

        def in_process():
            compilation = compile_root(root, read_database(database_path(root)), host_commands(root), tools)
            find_changes(root, (plan_output(compilation.plan),) + compilation.outputs)

        scripts = Path(sys.executable).parent
        rows = [
            ("compile pipeline, in process", measure(in_process, options.runs)),
            ("hotsync compile --check (process)", measure(lambda: subprocess.run(
                [str(scripts / "hotsync"), "--root", folder, "compile", "--check", "--quiet"], check=True), options.runs)),
            ("python -c pass (process floor)", measure(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), options.runs)),
        ]
        rule_files = len(list(root.path("/etc/hotsync/rules.d").glob("*.hs"))) + 1
        print(f"compile benchmark: {rule_files} rule files, master role, median of {options.runs} runs")
        print(f"{'what':<38} {'median':>10}")
        for label, seconds in rows:
            print(f"{label:<38} {seconds * 1000:>8.1f} ms")


if __name__ == "__main__":
    main()
