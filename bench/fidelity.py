"""Group fidelity: does hamaster tell what keepalived really did? Real keepalived drills on a lab of three nodes
(one instance; node1 MASTER, node2 and node3 BACKUP), node2's minion and keepalived on a clock 5 s fast
(faketime), checked against the truth from outside hamaster (tests/truth/labtruth.py: a notify wrapper logging
each transition before the hook, in real time; the test's own kill times).

Each round: kill -9 of node1's keepalived (its minion alive), a BACKUP takes over, node1 comes back and
preempts; then node1's keepalived and minion killed together, and back again; then a split: node2 stops
hearing VRRP (nft in the node) and claims the VIP beside node1, and hears it again. Expected per round: a
failover for each move of the VIP that the truth lines show (node2's and node3's master-down intervals differ
by 4 ms, so either may take over, and node2 then preempts node3), the moves back, one stale_vip (the VIP left
on dead node1), one node_silent, one split_brain; and one clock_offset for node2 per site.

    fidelity_false_incidents      warning/critical incidents derived that the truth does not have
    fidelity_missed_incidents     expected incidents not derived
    fidelity_gap_error_p99_ms     |derived gap - truth gap| of the crash failovers, p99
    fidelity_seen_gap_error_p99_ms     the same for the crashes with the minion alive (its pidfd saw the death)
    fidelity_silent_gap_error_p99_ms   the same for the crashes that took the minion too (dated by bounds)
    fidelity_silent_gap_in_range  share of those whose truth gap is inside the range the failover shows
    fidelity_silent_range_p99_ms  width of that range, p99 (its half is the worst-case error of the point)
    fidelity_silent_gap_error_principle_500ms_p99_ms (and _200ms, _100ms)  the same error on principle: kills
                                  at random phases, ideal timers, heartbeat 0.5 (0.2, 0.1) s, advert_int 1
    fidelity_kill_after_last_advert_min_ms / _max_ms  where the kills fell in the advert interval (the truth's
                                  MASTER line - its master-down interval): inside [0, 1000] if the bound holds
    fidelity_split_error_p99_ms   |derived split brain duration - node2's BACKUP line - its MASTER line|, p99
    fidelity_alerts_per_incident  chat messages per move of the VIP (a crash) or per split, max (stale VIP and
                                  silence fold in; the "[resolved]" of a split is its end, not counted)
    hook_time_error_p99_ms        |hook's node time (corrected) - the truth line|, p99
    fifo_time_error_p99_ms        the same for keepalived's FIFO lines (which source is nearer the truth)
    hook_earlier_than_fifo        share of the transitions both reported where the hook's time is the earlier
    clock_offset_error_ms         |estimated offset of node2 - 5000 ms|

`--quick` (or HAMASTER_BENCH_QUICK=1): one crash with the minion alive, on a pair (well under a minute).
Needs root, keepalived, nginx, ip, nft and faketime; prints a note and no figures without them.
"""

import itertools
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from common import emit, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "truth"))

from labtruth import first_after, notify_lines, wrap_hooks

from hamaster.lab.site import HAMINION, LabSite, wait_until
from hamaster.master.cli.demo import missing_requirements
from hamaster.master.correlate.dating import date_silent_death, master_down_ns

S = 10**9
ROUNDS = int(os.environ.get("HAMASTER_FIDELITY_ROUNDS", "3"))  # the drill N times (the issue: N=3)
AHEAD_S = 5.0
GROUP_WAIT_S = 5.0  # notify.group_wait_s (the lab keeps the default): stale_vip and node_silent wait this long


class Drill:
    def __init__(self, site: LabSite, log: Path) -> None:
        self.site, self.log = site, log
        self.expected: list[tuple[str, tuple[str, ...]]] = [("clock_offset", ("node2",))]
        self.gap_errors_ms: list[float] = []
        self.silent_errors_ms: list[float] = []
        self.seen_errors_ms: list[float] = []
        self.silent_in_range: list[bool] = []
        self.silent_ranges_ms: list[float] = []
        self.split_errors_ms: list[float] = []
        self.alerts: list[float] = []
        self.holder = "node1"
        self.advert_phase_ms: list[float] = []

    def _incidents(self, since: int, kind: str) -> list[dict]:
        return [i for i in self.site.incidents(kind) if i["started_ns"] >= since]

    def _alerts_since(self, start: int) -> int:
        return len([m for m in self.site.chat.received() if m.at_ns >= start and not m.title.startswith("[resolved]")])

    def _masters_after(self, start: int) -> list[tuple[int, str]]:
        """(ns, node) of the MASTER lines after `start`, the truth of who took over (with three nodes, the
        BACKUP whose master-down interval ends first: node2's and node3's differ by 4 ms, so either may)."""
        return [(ns, node) for ns, node, state in notify_lines(self.log) if ns >= start and state == "MASTER"]

    def crash(self, with_minion: bool) -> None:
        site = self.site
        # settle() ends a whole number of seconds after node1's takeover, so a kill right after it would fall in
        # the first 200 ms of an advert interval every time: a random phase instead, as a crash has
        time.sleep(random.uniform(0, 1))
        start = time.time_ns()
        if with_minion:
            site.minion_procs.pop("node1").send_signal(signal.SIGKILL)
        killed = time.time_ns()  # (killpg follows at once: the pid file's read)
        site.lab.kill_keepalived("node1")
        [(truth, first)] = wait_until(lambda: self._masters_after(start)[:1], 20, "a MASTER line")
        wait_until(lambda: site.lab.holds_vip(first), 20, f"{first} to take the VIP")
        [moved] = wait_until(lambda: [i for i in self._incidents(start - S, "failover")
                                      if i["data"].get("new_holder") == first], 20, "the failover")
        derived = moved["data"].get("gap_ns") or 0
        self.gap_errors_ms.append(abs(derived - (truth - killed)) / 1e6)
        if not with_minion:
            self.seen_errors_ms.append(abs(derived - (truth - killed)) / 1e6)
        if with_minion:
            self.silent_errors_ms.append(abs(derived - (truth - killed)) / 1e6)
            lo, hi = moved["data"].get("gap_range_ns") or (derived, derived)
            self.silent_in_range.append(lo <= truth - killed <= hi)
            self.silent_ranges_ms.append((hi - lo) / 1e6)
            print(f"bench fidelity: silent crash: truth {(truth - killed) / 1e6:.0f} ms, derived {derived / 1e6:.0f}"
                  f" ms in [{lo / 1e6:.0f}, {hi / 1e6:.0f}] ({moved['data'].get('death_dated_by')})", file=sys.stderr)
            # what the advert bound says from the truth alone: the kill after the last advert heard
            heard = truth - master_down_ns(truth_priority(self.log, truth), 1.0)
            self.advert_phase_ms.append((killed - heard) / 1e6)
            print(f"bench fidelity: the kill came {(killed - heard) / 1e6:.0f} ms after the last advert heard"
                  f" (the truth's MASTER line - its master-down interval)", file=sys.stderr)
        self.expected.append(("node_silent", ("node1",)) if with_minion else ("stale_vip", ("node1",)))
        time.sleep(GROUP_WAIT_S + 1.0)  # what folds into the failover would be sent by now; a preemption done
        holders = ["node1"] + [node for _, node in self._masters_after(start)]
        moves = [tuple(sorted(pair)) for pair in itertools.pairwise(holders) if pair[0] != pair[1]]
        self.expected += [("failover", move) for move in moves]
        self.holder = holders[-1]
        self.alerts.append(self._alerts_since(start) / max(1, len(moves)))  # one message per move of the VIP

    def restore(self, with_minion: bool) -> None:
        """node1 back: the VIP removed as a reboot would, keepalived (and the minion) started; it preempts."""
        site = self.site
        site.lab.run("node1", ["ip", "addr", "del", f"{site.lab.vip}/{site.lab.prefixlen}", "dev", "eth0"])
        if with_minion:
            site.start_minion("node1")  # (its node_back is info: not scored)
        site.lab.start_keepalived("node1")
        self.expected.append(("failover", tuple(sorted(("node1", self.holder)))))  # the preemption back
        site.settle("node1")

    def split(self) -> None:
        """node2 stops hearing VRRP and claims the VIP beside node1; then hears node1 again and steps back."""
        site = self.site
        start = time.time_ns()
        site.lab.block_vrrp("node2")
        began = wait_until(lambda: first_after(self.log, "node2", "MASTER", start), 20, "node2's MASTER line")
        [split] = wait_until(lambda: [i for i in self._incidents(start - S, "split_brain")
                                      if i["severity"] == "critical"], 20, "the split brain")
        healed_at = time.time_ns()
        site.lab.unblock_vrrp("node2")
        ended = wait_until(lambda: first_after(self.log, "node2", "BACKUP", healed_at), 20, "node2's BACKUP line")
        closed = wait_until(lambda: [i for i in self.site.incidents("split_brain") if i["id"] == split["id"]
                                     and i["data"].get("duration_ns")], 20, "the split brain to close")
        self.split_errors_ms.append(abs(closed[0]["data"]["duration_ns"] - (ended - began)) / 1e6)
        self.expected.append(("split_brain", ("node1", "node2")))
        time.sleep(GROUP_WAIT_S + 1.0)
        self.alerts.append(self._alerts_since(start))
        site.settle("node1")


def principle_p99_ms(heartbeat_s: float, advert_int_s: float = 1.0, priority: int = 101, n: int = 20_000) -> float:
    """The silent-death error no estimate can beat: kills at random phases of the heartbeat and the advert
    interval, ideal timers, dated by dating.py; p99 of |estimate - kill| (ms)."""
    rng = random.Random(10)
    kill = 1_000 * S
    errors = []
    for _ in range(n):
        heard = kill - round(rng.uniform(0, heartbeat_s) * S)
        advert = kill - round(rng.uniform(0, advert_int_s) * S)
        dating = date_silent_death(heard, round(heartbeat_s * S), advert + master_down_ns(priority, advert_int_s),
                                   priority, advert_int_s)
        errors.append(abs(dating.at_ns - kill) / 1e6)
    return percentile(errors, 99)


def truth_priority(log: Path, ns: int) -> int:
    """The priority keepalived gave in the notify line logged at `ns`."""
    line = next(x for x in log.read_text().splitlines() if x.startswith(f"{ns} "))
    return int(line.split()[-1])


def source_errors_ms(site: LabSite, log: Path, since: int) -> dict[str, list[float]]:
    """corrected node time - the truth line (ms, negative: before it) of every hook and FIFO event that has a
    truth line, per source; and "hook-fifo": hook minus FIFO for the transitions both reported."""
    out: dict[str, list[float]] = {"hook": [], "fifo": [], "hook-fifo": []}
    rows = site.query("SELECT minion, seq, state, source, node_ns, data FROM events WHERE kind = 'vrrp'"
                      " AND master_ns >= ? ORDER BY minion, seq", since)
    truth = [(ns, node, state) for ns, node, state in notify_lines(log) if ns >= since]
    by_seq: dict[tuple[str, int], tuple[str, int]] = {}
    for minion, seq, state, source, node_ns, data in rows:
        if source not in out:
            continue
        d = json.loads(data) if data else {}
        at = node_ns - d.get("clock_offset_ns", 0)
        by_seq[(minion, seq)] = (source, at)
        twin = by_seq.get((minion, d["duplicate_of"])) if "duplicate_of" in d else None
        if twin is not None:
            hook, fifo = (at, twin[1]) if source == "hook" else (twin[1], at)
            out["hook-fifo"].append((hook - fifo) / 1e6)
        near = [ns for ns, node, s in truth if node == minion and s == state and abs(ns - at) < 2 * S]
        if near:
            out[source].append(min((at - ns for ns in near), key=abs) / 1e6)
    for source, errors in out.items():
        if errors:
            ordered = sorted(errors)
            print(f"bench fidelity: {source} vs truth: p1 {percentile(ordered, 1):.1f} ms, median"
                  f" {percentile(ordered, 50):.1f} ms, p99 {percentile(ordered, 99):.1f} ms"
                  f" ({len(errors)} transitions)", file=sys.stderr)
    return out


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
    nodes = ("node1", "node2") if quick else ("node1", "node2", "node3")
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-fidelity-") as tmp, \
            LabSite.create(Path(tmp), nodes=nodes) as site:
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
            drill.split()
        false, missed = score(site, since, drill.expected)
        [clock] = site.incidents("clock_offset")
        sources = source_errors_ms(site, log, since)
    emit("fidelity_false_incidents", false, "incidents")
    emit("fidelity_missed_incidents", missed, "incidents")
    emit("fidelity_gap_error_p99_ms", percentile(drill.gap_errors_ms, 99), "ms")
    emit("fidelity_seen_gap_error_p99_ms", percentile(drill.seen_errors_ms, 99), "ms")
    if drill.silent_errors_ms:
        emit("fidelity_silent_gap_error_p99_ms", percentile(drill.silent_errors_ms, 99), "ms")
        emit("fidelity_silent_gap_in_range", sum(drill.silent_in_range) / len(drill.silent_in_range), "share")
        emit("fidelity_silent_range_p99_ms", percentile(drill.silent_ranges_ms, 99), "ms")
    for beat in (0.5, 0.2, 0.1):  # init's heartbeat, and two a site could choose
        emit(f"fidelity_silent_gap_error_principle_{round(beat * 1000)}ms_p99_ms", principle_p99_ms(beat), "ms")
    if drill.advert_phase_ms:  # 0..advert_int when the advert bound holds (advert_int 1 in the lab)
        emit("fidelity_kill_after_last_advert_max_ms", max(drill.advert_phase_ms), "ms")
        emit("fidelity_kill_after_last_advert_min_ms", min(drill.advert_phase_ms), "ms")
    if drill.split_errors_ms:
        emit("fidelity_split_error_p99_ms", percentile(drill.split_errors_ms, 99), "ms")
    emit("fidelity_alerts_per_incident", max(drill.alerts), "alerts")
    for source in ("hook", "fifo"):
        if sources[source]:
            emit(f"{source}_time_error_p99_ms", percentile([abs(e) for e in sources[source]], 99), "ms")
    if sources["hook-fifo"]:
        emit("hook_earlier_than_fifo", sum(d < 0 for d in sources["hook-fifo"]) / len(sources["hook-fifo"]), "share")
    emit("clock_offset_error_ms", abs(clock["data"]["offset_ns"] - AHEAD_S * S) / 1e6, "ms")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:] or os.environ.get("HAMASTER_BENCH_QUICK") == "1")
