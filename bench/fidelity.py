"""Group fidelity: does hamaster tell what keepalived really did? Real keepalived drills on the lab pair, with
node2's minion and keepalived on a clock 5 s fast (faketime), checked against the truth from outside
hamaster (tests/truth/labtruth.py: a notify wrapper logging each transition before the hook, in real time).

Each round: kill -9 of node1's keepalived (its minion alive), node2 takes over, node1 comes back and
preempts; then node1's keepalived and minion killed together, and back again. Expected per round: two
failovers node1 -> node2 (gap = node2's MASTER line - the kill), two failovers back, one stale_vip (the VIP
left on dead node1), one node_silent and its node_back; and one clock_offset for node2 per site.

    fidelity_false_incidents      warning/critical incidents derived that the truth does not have
    fidelity_missed_incidents     expected incidents not derived
    fidelity_gap_error_p99_ms     |derived gap - truth gap| of the crash failovers, p99
    fidelity_alerts_per_incident  chat messages per crash, max (the stale VIP and the silence fold in)
    clock_offset_error_ms         |estimated offset of node2 - 5000 ms|

`--quick` (or HAMASTER_BENCH_QUICK=1): one crash with the minion alive, nothing else (well under a minute).
Needs root, keepalived, nginx, ip, nft and faketime; prints a note and no figures without them.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from common import emit, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "truth"))

from labtruth import first_after, wrap_hooks

from hamaster.lab.site import HAMINION, LabSite, wait_until
from hamaster.master.cli.demo import missing_requirements

S = 10**9
ROUNDS = 3
AHEAD_S = 5.0
GROUP_WAIT_S = 5.0  # notify.group_wait_s (the lab keeps the default): stale_vip and node_silent wait this long


class Drill:
    def __init__(self, site: LabSite, log: Path) -> None:
        self.site, self.log = site, log
        self.expected: list[tuple[str, tuple[str, ...]]] = [("clock_offset", ("node2",))]
        self.gap_errors_ms: list[float] = []
        self.alerts_per_crash: list[int] = []

    def _incidents(self, since: int, kind: str) -> list[dict]:
        return [i for i in self.site.incidents(kind) if i["started_ns"] >= since]

    def crash(self, with_minion: bool) -> None:
        site = self.site
        start = time.time_ns()
        if with_minion:
            site.minion_procs.pop("node1").send_signal(signal.SIGKILL)
        site.lab.kill_keepalived("node1")
        killed = time.time_ns()
        wait_until(lambda: site.lab.holds_vip("node2"), 20, "node2 to take the VIP")
        moved = wait_until(lambda: [i for i in self._incidents(start, "failover")
                                    if i["data"].get("new_holder") == "node2"], 20, "the failover")
        truth = wait_until(lambda: first_after(self.log, "node2", "MASTER", start), 10, "node2's MASTER line")
        self.gap_errors_ms.append(abs((moved[0]["data"].get("gap_ns") or 0) - (truth - killed)) / 1e6)
        self.expected.append(("failover", ("node1", "node2")))
        self.expected.append(("node_silent", ("node1",)) if with_minion else ("stale_vip", ("node1",)))
        time.sleep(GROUP_WAIT_S + 1.0)  # what folds into the failover would be sent by now
        self.alerts_per_crash.append(len([m for m in site.chat.received() if m.at_ns >= start]))

    def restore(self, with_minion: bool) -> None:
        """node1 back: the VIP removed as a reboot would, keepalived (and the minion) started; it preempts."""
        site = self.site
        site.lab.run("node1", ["ip", "addr", "del", f"{site.lab.vip}/{site.lab.prefixlen}", "dev", "eth0"])
        if with_minion:
            site.start_minion("node1")  # (its node_back is info: not scored)
        site.lab.start_keepalived("node1")
        self.expected.append(("failover", ("node1", "node2")))  # the preemption back
        site.settle("node1")


def score(site: LabSite, since: int, expected: list[tuple[str, tuple[str, ...]]]) -> tuple[int, int]:
    """(false, missed): warning and critical incidents since `since` (not those an apply job caused: they are
    not alerted) matched one for one against `expected`."""
    missing = list(expected)
    false = 0
    serious = ("SELECT kind, nodes, summary FROM incidents WHERE started_ns >= ? AND planned = 0"
               " AND severity IN ('warning', 'critical') ORDER BY id")
    for kind, nodes, summary in site.query(serious, since - 2 * S):
        item = (kind, tuple(sorted(json.loads(nodes or "[]"))))
        if item in missing:
            missing.remove(item)
        else:
            false += 1
            print(f"bench fidelity: false incident: {summary}", file=sys.stderr)
    for kind, nodes in missing:
        print(f"bench fidelity: missed: {kind} of {', '.join(nodes)}", file=sys.stderr)
    return false, len(missing)


def main(quick: bool) -> None:
    missing = missing_requirements() + ([] if shutil.which("faketime") else ["faketime (apt-get install faketime)"])
    if missing:
        print(f"bench fidelity: skipped, needs {'; '.join(missing)}", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-fidelity-") as tmp, LabSite.create(Path(tmp)) as site:
        log = Path(tmp) / "notify.log"
        wrap_hooks(site, log)
        site.lab.stop(site.minion_procs.pop("node2"))
        site.minion_procs["node2"] = site.lab.spawn(
            "node2", ["faketime", "-f", f"+{AHEAD_S:g}s", HAMINION, "run", "-c", str(site.minion_config("node2"))],
            Path(tmp) / "minion-node2.log")
        since = time.time_ns()
        [clock] = wait_until(lambda: site.incidents("clock_offset"), 20, "node2's clock offset")
        site.apply()
        site.settle()
        drill = Drill(site, log)
        for _ in range(1 if quick else ROUNDS):
            drill.crash(with_minion=False)
            if quick:
                break
            drill.restore(with_minion=False)
            drill.crash(with_minion=True)
            drill.restore(with_minion=True)
        false, missed = score(site, since, drill.expected)
        [clock] = site.incidents("clock_offset")
    emit("fidelity_false_incidents", false, "incidents")
    emit("fidelity_missed_incidents", missed, "incidents")
    emit("fidelity_gap_error_p99_ms", percentile(drill.gap_errors_ms, 99), "ms")
    emit("fidelity_alerts_per_incident", max(drill.alerts_per_crash), "alerts")
    emit("clock_offset_error_ms", abs(clock["data"]["offset_ns"] - AHEAD_S * S) / 1e6, "ms")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:] or os.environ.get("HAMASTER_BENCH_QUICK") == "1")
