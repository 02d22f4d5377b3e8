"""Group drill: `hamaster drill` on the real lab pair with the states' defaults (track_file weight 50,
advert_int 1) and init's settings, the figure operators quote.

    drill_outage_ms   what users saw while the holder was drained: the VIP probe's unanswered time (median;
                      `_max_ms` the worst drill: one lost probe request reads as the probe's 100 ms timeout)
    drill_takeover_s  drain job -> the probe sees the peer answer (the peer's master-down timer)
    drill_total_s     the whole `hamaster drill`: readiness, takeover, the page checked, failback (median)
    check_s           wall time of `hamaster check` on the pair, the whole CLI process, with the nodes' live
                      probe (its default: three advert intervals between two dumps, so ~3 s of it is waiting)
    check_no_live_s   the same with --no-live: the store only (median)

Needs root, keepalived, nginx, ip and nft; prints a note and no figures without them.
"""

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import QUICK, emit, sized

from hamaster.lab.site import LabSite
from hamaster.master.cli.demo import missing_requirements

ROUNDS = sized(5, 1)


def main() -> None:
    missing = missing_requirements()
    if missing:
        print(f"bench drill: skipped, needs {'; '.join(missing)}", file=sys.stderr)
        if QUICK and os.environ.get("CI") == "true":  # CI installs all of them (scripts/setup): a skip is a fault
            raise SystemExit(1)
        return
    outages, totals, takeovers = [], [], []
    checks: dict[str, list[float]] = {"check_s": [], "check_no_live_s": []}
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-drill-") as tmp, LabSite.create(Path(tmp)) as site:
        site.apply()
        site.settle()
        for _ in range(ROUNDS):  # a healthy pair: exit 0 (only info findings), else the figure is of a fault
            for name, args in (("check_s", ()), ("check_no_live_s", ("--no-live",))):
                t0 = time.perf_counter()
                done = site.cli("check", *args, check=False)
                checks[name].append(time.perf_counter() - t0)
                if done.returncode != 0:
                    raise SystemExit(f"bench drill: check found a fault on the healthy pair:\n{done.stdout}")
        for _ in range(ROUNDS):
            [d] = json.loads(site.cli("drill", "--json").stdout)
            outages.append(d["figures"]["outage_ms"])
            totals.append(d["figures"]["total_s"])
            takeovers.append(d["figures"]["takeover_s"])
    emit("drill_outage_ms", statistics.median(outages), "ms")
    emit("drill_outage_max_ms", max(outages), "ms")
    emit("drill_takeover_s", statistics.median(takeovers), "s")
    emit("drill_total_s", statistics.median(totals), "s")
    for name, values in checks.items():
        emit(name, statistics.median(values), "s")


if __name__ == "__main__":
    main()
