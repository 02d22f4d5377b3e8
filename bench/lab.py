"""Group lab: the real pair (keepalived + nginx in network namespaces), as `hamaster demo` builds it.

    failover_gap_ms          probe-observed outage of the VIP when node1 is switched off (median of the rounds)
    transition_to_alert_ms   node time of the new holder's MASTER transition -> the chat receiver has the
                             failover alert (p50 and p99 over both failovers of every round)

Needs root, keepalived, nginx, ip and nft; prints a note and no figures without them.
"""

import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import QUICK, emit, percentile, sized

from hamaster.core.timeutil import now_ns
from hamaster.lab.drill import failovers
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.cli.demo import missing_requirements

ROUNDS = sized(3, 1)


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
    gaps, delays = [], []
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-lab-") as tmp, LabSite.create(Path(tmp)) as site:
        site.apply()
        site.settle()
        for _ in range(ROUNDS):
            start = now_ns()
            site.power_off("node1")
            site.wait_probe("node2", timeout=20)
            site.boot("node1")
            site.settle()
            moved = failovers(site, start)
            gaps += [f.probe_gap_ns / 1e6 for f in moved if f.old == "node1" and f.probe_gap_ns is not None]
            delays += alert_delays_ms(site, start)
    emit("failover_gap_ms", statistics.median(gaps), "ms")
    emit("transition_to_alert_ms_p50", percentile(delays, 50), "ms")
    emit("transition_to_alert_ms_p99", percentile(delays, 99), "ms")


if __name__ == "__main__":
    main()
