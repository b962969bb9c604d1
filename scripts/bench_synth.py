"""Benchmark: wall time of `make synth` (median of N runs), with the machine it ran on.

A benchmark, not a test: this machine is shared and noisy, so targets are read from here,
never asserted in pytest.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

TARGET_SECONDS = 40.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--env", default="dev")
    args = parser.parse_args()
    console = Console()

    timings = []
    for run in range(1, args.runs + 1):
        start = time.perf_counter()
        result = subprocess.run(
            ["make", "--no-print-directory", "synth", f"ENV={args.env}"], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            console.print(f"[red]make synth failed on run {run}[/red]\n{result.stdout}{result.stderr}")
            return 1
        timings.append(elapsed)
        console.print(f"run {run}: {elapsed:.1f} s")

    median = statistics.median(timings)
    table = Table(title=f"make synth ENV={args.env}")
    for column in ("median", "min", "max", "runs", "target", "machine"):
        table.add_column(column)
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    table.add_row(
        f"{median:.1f} s",
        f"{min(timings):.1f} s",
        f"{max(timings):.1f} s",
        str(args.runs),
        f"< {TARGET_SECONDS:.0f} s",
        machine,
    )
    console.print(table)
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
