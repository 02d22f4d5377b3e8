"""Helpers shared by the benchmarks: a throw-away site, process timing, percentiles, output lines."""

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from sitelib import HAMASTER, HAMINION, HOOK, Site, free_port, wait_for  # noqa: F401

# a group stopped with SIGTERM (CI's timeout, or kill PID) still runs its `finally`: the site it started goes too
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

# `bench/run --quick`: every group at small sizes, so CI proves each still runs (its figures mean nothing)
QUICK = os.environ.get("HAMASTER_BENCH_QUICK") == "1"


def sized(full: int, quick: int) -> int:
    """A size of the benchmark: `full` when measuring, `quick` under `bench/run --quick`."""
    return quick if QUICK else full


def emit(name: str, value: float, unit: str) -> None:
    """One figure, as `NAME VALUE UNIT` (the format bench/run promises)."""
    print(f"{name} {value:.6g} {unit}", flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median_wall_ms(argv: list[str], runs: int) -> float:
    """Median wall time of a whole process, in ms (after two warm-up runs)."""
    times = []
    for i in range(runs + 2):
        t0 = time.perf_counter()
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
