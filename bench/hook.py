"""Group `hook`: the keepalived hook's whole-process cost, beside a bare Python start, and hook -> stored latency.

    hook_wall_ms          median wall time of `haminion-hook ...` (what keepalived.conf names; daemon up)
    hook_subcommand_ms    the same through `haminion hook ...` (pip's console-script wrapper imports `re`)
    python_startup_ms     median wall time of `python3 -c pass`, same interpreter, same run
    hook_vs_python        their ratio (target: at most 1.5)
    hook_to_stored_p50_ms / _p99_ms   from spawning the hook to the event committed in the master's store
"""

import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HAMINION, HOOK, Site, emit, median_wall_ms, percentile, sized, wait_for

RUNS, LATENCY_ROUNDS = sized(200, 3), sized(100, 5)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-") as tmp:
        site = Site(Path(tmp) / "site", minions=("node1",))
        try:
            site.start_master()
            site.start_minion("node1")
            cfg = site.minion_config("node1")
            wait_for(lambda: site.count("SELECT COUNT(*) FROM minions") == 1, 20, "the minion's hello")
            python = median_wall_ms([sys.executable, "-c", "pass"], RUNS)
            hook = median_wall_ms([HOOK, "-c", cfg, "INSTANCE", "VI_1", "BACKUP", "100"], RUNS)
            subcommand = median_wall_ms([HAMINION, "hook", "-c", cfg, "INSTANCE", "VI_1", "BACKUP", "100"], RUNS)
            emit("python_startup_ms", python, "ms")
            emit("hook_wall_ms", hook, "ms")
            emit("hook_vs_python", hook / python, "ratio")
            emit("hook_subcommand_ms", subcommand, "ms")

            db = sqlite3.connect(f"file:{site.root / 'store.db'}?mode=ro", uri=True)
            latencies = []
            for i in range(LATENCY_ROUNDS):
                t0 = time.perf_counter()
                subprocess.run([HOOK, "-c", cfg, "INSTANCE", f"LAT_{i}", "MASTER", "100"], check=True)
                while not db.execute("SELECT 1 FROM events WHERE instance = ?", (f"LAT_{i}",)).fetchone():
                    if time.perf_counter() - t0 > 10:
                        raise SystemExit(f"hook {i}: not stored within 10 s")
                    time.sleep(0.0005)
                latencies.append((time.perf_counter() - t0) * 1000)
            db.close()
            emit("hook_to_stored_p50_ms", percentile(latencies, 50), "ms")
            emit("hook_to_stored_p99_ms", percentile(latencies, 99), "ms")
        finally:
            site.close()


if __name__ == "__main__":
    main()
