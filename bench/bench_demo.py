"""How long `vitalsign demo` takes at its default size (the README promises under a minute).

    .venv/bin/python bench/bench_demo.py                     # 300 accounts, 24 months, 3 runs
    .venv/bin/python bench/bench_demo.py --accounts 1000 --runs 1

Each run is a whole demo into a fresh SQLite store, without the report: generating the company
and loading the fakes, the three real connectors' sync through loopback HTTP and export files, and
the monthly health history. Printed per phase: the median wall time of the runs, and the process
CPU time of the whole run (wall time on a machine shared with other work is longer than CPU
time; the CPU figure is what an idle machine of the same speed would take, about). The machine
(cores, load average, Python) is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vitalsign.core.demo import run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    phases: dict[str, list[float]] = {}
    cpu: list[float] = []
    rows = ""
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            before = os.times()
            result = run_demo(
                workdir=Path(tmp),
                accounts=args.accounts,
                months=args.months,
                seed=args.seed,
                store_url=f"sqlite:///{tmp}/demo.db",
            )
            after = os.times()
        cpu.append((after.user - before.user) + (after.system - before.system))
        for name, seconds in result.seconds.items():
            phases.setdefault(name, []).append(seconds)
        rows = ", ".join(f"{n} {name}" for name, n in result.counts.items())
        if not result.ok:
            sys.exit("a demo sync failed")

    print(f"vitalsign demo --accounts {args.accounts} --months {args.months} (seed {args.seed}): {rows}")
    print(f"median of {args.runs} run(s):")
    for name, values in phases.items():
        print(f"  {name:<17} {statistics.median(values):6.1f} s wall")
    print(f"  {'cpu':<17} {statistics.median(cpu):6.1f} s (user + system, whole run)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {'peak memory':<17} {peak:6.0f} MB (max RSS of the process)")
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.1f}, "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
    )
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S')}")


if __name__ == "__main__":
    main()
