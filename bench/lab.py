"""Group lab: the real pair (keepalived + nginx in network namespaces), as `hamaster demo` builds it.

    failover_gap_ms          probe-observed outage of the VIP when node1 is switched off (median of the rounds),
                             seed profile (advert_int 1)
    failover_gap_ms_fast     the same on the state tree's fast profile (VRRPv3, advert_int 0.2)
    fast_profile_false_flaps_per_h   VRRP transitions on the settled fast pair while the bench itself loads
                             every core (busy processes, LOAD_S seconds; nothing else changes), per hour
    sched_jitter_ms_max      under that load, the worst lateness of a 10 ms sleep in a process of the bench (the
                             pair lint's FAST_JITTER_MS is this figure: a profile whose 3 adverts fit in less warns)
    transition_to_alert_ms   node time of the new holder's MASTER transition -> the chat receiver has the
                             failover alert (p50 and p99 over both failovers of every round)

Needs root, keepalived, nginx, ip and nft; prints a note and no figures without them.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import QUICK, emit, percentile, sized

from hamaster.core.timeutil import now_ns
from hamaster.lab.drill import failovers
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.cli.demo import missing_requirements

ROUNDS = sized(3, 1)
LOAD_S = sized(120, 5)  # how long the bench loads the CPU (bounded: its busy processes end by themselves)
BUSY = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end: pass\n"


def alert_delays_ms(site: LabSite, since_ns: int) -> list[float]:
    delays = []
    for f in failovers(site, since_ns):
        [(went_master,)] = site.query("SELECT MAX(node_ns) FROM events WHERE kind = 'vrrp' AND minion = ? AND"
                                      " state = 'MASTER' AND node_ns <= ?", f.new, f.started_ns)
        title = f" moved {f.old} -> {f.new}"  # the failover's title
        got = wait_until(lambda t=title: [m for m in site.chat.received() if t in m.title and m.at_ns >= since_ns],
                         10, f"the chat alert '{title}'")
        delays.append((got[0].at_ns - went_master) / 1e6)
    return delays


def main() -> None:
    missing = missing_requirements()
    if missing:
        print(f"bench lab: skipped, needs {'; '.join(missing)}", file=sys.stderr)
        if QUICK and os.environ.get("CI") == "true":  # CI installs all of them (scripts/setup): a skip is a fault
            raise SystemExit(1)
        return
    delays: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-lab-") as tmp, LabSite.create(Path(tmp)) as site:
        site.apply()
        site.settle()
        gaps = power_off_gaps(site, delays)
    emit("failover_gap_ms", statistics.median(gaps), "ms")
    emit("transition_to_alert_ms_p50", percentile(delays, 50), "ms")
    emit("transition_to_alert_ms_p99", percentile(delays, 99), "ms")
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-lab-") as tmp, \
            LabSite.create(Path(tmp), topology="fast") as site:
        site.apply()
        site.settle()
        emit("failover_gap_ms_fast", statistics.median(power_off_gaps(site, [])), "ms")
        flaps, jitter_ms = flaps_under_load(site)
    emit("fast_profile_false_flaps_per_h", flaps * 3600 / LOAD_S, "1/h")
    emit("sched_jitter_ms_max", jitter_ms, "ms")


def power_off_gaps(site: LabSite, delays: list[float]) -> list[float]:
    """Rounds of node1 switched off and booted again: the probe's gaps (ms); alert delays into `delays`."""
    gaps = []
    for _ in range(ROUNDS):
        start = now_ns()
        site.power_off("node1")
        site.wait_probe("node2", timeout=20)
        site.boot("node1")
        site.settle()
        moved = failovers(site, start)
        gaps += [f.probe_gap_ns / 1e6 for f in moved if f.old == "node1" and f.probe_gap_ns is not None]
        delays += alert_delays_ms(site, start)
    return gaps


def flaps_under_load(site: LabSite) -> tuple[int, float]:
    """Every core busy for LOAD_S s (twice as many spinning processes as cores) while nothing else happens:
    the pair's VRRP transitions in that window (each one is a false flap) and the worst lateness of a 10 ms
    sleep meanwhile."""
    cores = os.cpu_count() or 1
    start = now_ns()
    busy = [subprocess.Popen([sys.executable, "-c", BUSY.format(s=LOAD_S)]) for _ in range(2 * cores)]
    worst = 0.0
    try:
        end = time.monotonic() + LOAD_S
        while time.monotonic() < end:
            t = time.monotonic()
            time.sleep(0.01)
            worst = max(worst, time.monotonic() - t - 0.01)
    finally:
        for proc in busy:  # they end by themselves at LOAD_S; this only covers an exception
            proc.kill()
            proc.wait()
    [(flaps,)] = site.query("SELECT COUNT(*) FROM events WHERE kind = 'vrrp' AND node_ns >= ? AND data NOT LIKE ?",
                            start, "%duplicate_of%")
    return int(flaps), worst * 1000


if __name__ == "__main__":
    main()
