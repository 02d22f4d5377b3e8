"""Group fidelity: does hamaster tell what keepalived really did? Real keepalived drills on a lab of three nodes
(one instance; node1 MASTER, node2 and node3 BACKUP), node2's minion and keepalived on a clock 5 s fast
(faketime), checked against the truth from outside hamaster (tests/truth/labtruth.py: a notify wrapper logging
each transition in its first statement before it execs the hook; `ip -ts monitor address` in each node; the
bench's own kill times).

Each round: three crashes of node1, each followed by node1 back (it preempts): kill -9 of its keepalived (its
minion alive: its pidfd sees the death), kill -9 of its keepalived and its minion together (the master reads the
connection's close), power-off (cable dark, every process killed: the master's own VIP probe sees it); then a
split: node2 stops hearing VRRP (nft in the node) and claims the VIP beside node1, and hears it again. Expected
per round: a failover for each move of the VIP that the truth lines show (node2's and node3's master-down
intervals differ by 4 ms, so either may take over, and node2 then preempts node3), the moves back, one stale_vip
(the VIP left on node1 by the keepalived crash), two node_silent, one split_brain; and one clock_offset for node2.

    fidelity_false_incidents      warning/critical incidents derived that the truth does not have
    fidelity_missed_incidents     expected incidents not derived
    fidelity_gap_error_p99_ms     |derived gap - truth gap| of every crash failover, p99
    fidelity_gap_error_{keepalived,connection,power}_p99_ms   the same per crash kind (pidfd, close, probe)
    fidelity_{connection,power}_gap_in_range   share of those whose truth gap is inside the range shown
    fidelity_{connection,power}_range_p99_ms   width of that range, p99 (its half is the worst-case error)
    fidelity_silent_gap_error_principle_500ms_p99_ms (and _200ms, _100ms)  the error with the heartbeat and
                                  advert bounds alone, on principle: kills at random phases, ideal timers,
                                  heartbeat 0.5 (0.2, 0.1) s, advert_int 1 (what a death without witness gets)
    fidelity_split_error_p99_ms   |derived split brain duration - node2's BACKUP line - its MASTER line|, p99
    fidelity_alerts_per_incident  chat messages per move of the VIP (a crash) or per split, max (stale VIP and
                                  silence fold in; the "[resolved]" of a split is its end, not counted)
    hook_time_error_p99_ms        |hook's node time (corrected) - the wrapper's line|, p99
    hook_time_late_p99_ms         the same, counting only a hook later than the line (before it: the line's lag)
    fifo_time_error_p99_ms        the same for keepalived's FIFO lines (and fifo_time_late_p99_ms)
    hook_earlier_than_fifo        share of the transitions both reported where the hook's time is the earlier
    truth_line_after_kernel_median_ms / _p99_ms   the wrapper's line - the kernel's address event that precedes
                                  it (the VIP added before a MASTER line, deleted before a BACKUP/FAULT/STOP
                                  line), address changes the bench made itself ignored
    hook_time_vs_kernel_p99_ms    |hook's node time - that kernel event|, p99
    clock_offset_error_ms         |estimated offset of node2 - 5000 ms|

`--quick` (or HAMASTER_BENCH_QUICK=1): a keepalived crash, node1 back, a power-off, on a pair (about a minute).
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

from labtruth import AddressMonitor, first_after, notify_lines, wrap_hooks

from hamaster.lab.site import HAMINION, LabSite, wait_until
from hamaster.master.cli.demo import missing_requirements
from hamaster.master.correlate.dating import date_silent_death, master_down_ns

S = 10**9
ROUNDS = int(os.environ.get("HAMASTER_FIDELITY_ROUNDS", "3"))  # the drill N times (the issue: N=3)
AHEAD_S = 5.0
GROUP_WAIT_S = 5.0  # notify.group_wait_s (the lab keeps the default): stale_vip and node_silent wait this long
KINDS = ("keepalived", "connection", "power")  # what dates the death: the pidfd, the close, the probe
BRACKETED = ("connection", "power")  # nobody on the node saw it: the failover shows a range


class Drill:
    def __init__(self, site: LabSite, log: Path, monitors: dict[str, AddressMonitor]) -> None:
        self.site, self.log, self.monitors = site, log, monitors
        self.expected: list[tuple[str, tuple[str, ...]]] = [("clock_offset", ("node2",))]
        self.gap_errors_ms: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.in_range: dict[str, list[bool]] = {kind: [] for kind in BRACKETED}
        self.ranges_ms: dict[str, list[float]] = {kind: [] for kind in BRACKETED}
        self.split_errors_ms: list[float] = []
        self.alerts: list[float] = []
        self.holder = "node1"
        self.own_changes: list[tuple[str, int, int]] = []  # (node, from, to): addresses the bench changed itself

    def _incidents(self, since: int, kind: str) -> list[dict]:
        return [i for i in self.site.incidents(kind) if i["started_ns"] >= since]

    def _alerts_since(self, start: int) -> int:
        return len([m for m in self.site.chat.received() if m.at_ns >= start and not m.title.startswith("[resolved]")])

    def _masters_after(self, start: int) -> list[tuple[int, str]]:
        """(ns, node) of the MASTER lines after `start`, the truth of who took over (with three nodes, the
        BACKUP whose master-down interval ends first: node2's and node3's differ by 4 ms, so either may)."""
        return [(ns, node) for ns, node, state in notify_lines(self.log) if ns >= start and state == "MASTER"]

    def crash(self, kind: str) -> None:
        site = self.site
        # settle() ends a whole number of seconds after node1's takeover, so a kill right after it would fall in
        # the first 200 ms of an advert interval every time: a random phase instead, as a crash has
        time.sleep(random.uniform(0, 1))
        start = time.time_ns()
        if kind == "power":
            site.power_off("node1")  # the cable goes dark first, then every process dies
            killed = start
            self.own_changes.append(("node1", start, time.time_ns()))
        else:
            if kind == "connection":
                site.minion_procs.pop("node1").send_signal(signal.SIGKILL)
            killed = time.time_ns()  # (killpg follows at once: the pid file's read)
            site.lab.kill_keepalived("node1")
        [(truth, first)] = wait_until(lambda: self._masters_after(start)[:1], 20, "a MASTER line")
        wait_until(lambda: site.lab.holds_vip(first), 20, f"{first} to take the VIP")
        [moved] = wait_until(lambda: [i for i in self._incidents(start - S, "failover")
                                      if i["data"].get("new_holder") == first], 20, "the failover")
        if kind == "power":  # the kernel's moment the cable went dark, not the moment `ip` was started
            killed = next((round(t * S) for t in self.monitors["node1"].link_downs() if t * S >= start), killed)
        derived = moved["data"].get("gap_ns") or 0
        self.gap_errors_ms[kind].append(abs(derived - (truth - killed)) / 1e6)
        if kind in BRACKETED:
            lo, hi = moved["data"].get("gap_range_ns") or (derived, derived)
            self.in_range[kind].append(lo <= truth - killed <= hi)
            self.ranges_ms[kind].append((hi - lo) / 1e6)
            print(f"bench fidelity: {kind} crash: truth {(truth - killed) / 1e6:.0f} ms, derived"
                  f" {derived / 1e6:.0f} ms in [{lo / 1e6:.0f}, {hi / 1e6:.0f}] (dated by the"
                  f" {moved['data'].get('death_dated_by')})", file=sys.stderr)
        self.expected.append(("node_silent", ("node1",)) if kind in BRACKETED else ("stale_vip", ("node1",)))
        time.sleep(GROUP_WAIT_S + 1.0)  # what folds into the failover would be sent by now; a preemption done
        holders = ["node1"] + [node for _, node in self._masters_after(start)]
        moves = [tuple(sorted(pair)) for pair in itertools.pairwise(holders) if pair[0] != pair[1]]
        self.expected += [("failover", move) for move in moves]
        self.holder = holders[-1]
        self.alerts.append(self._alerts_since(start) / max(1, len(moves)))  # one message per move of the VIP

    def restore(self, kind: str) -> None:
        """node1 back: the VIP removed as a reboot would, keepalived (and the minion) started; it preempts."""
        site = self.site
        began = time.time_ns()
        if kind == "power":
            site.boot("node1")  # (power_on flushes its addresses, then the minion and keepalived start)
            self.own_changes.append(("node1", began, time.time_ns()))
        else:
            site.lab.run("node1", ["ip", "addr", "del", f"{site.lab.vip}/{site.lab.prefixlen}", "dev", "eth0"])
            self.own_changes.append(("node1", began, time.time_ns()))
            if kind == "connection":
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


def source_errors_ms(site: LabSite, log: Path, since: int) -> tuple[dict[str, list[float]], list[tuple[int, str, int]]]:
    """corrected node time - the truth line (ms, negative: before it) of every hook and FIFO event that has a
    truth line, per source; and "hook-fifo": hook minus FIFO for the transitions both reported. Also (truth
    line, node, hook's time) of each hook event matched to its line."""
    out: dict[str, list[float]] = {"hook": [], "fifo": [], "hook-fifo": []}
    hooks: list[tuple[int, str, int]] = []
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
            line = min(near, key=lambda ns: abs(at - ns))
            out[source].append((at - line) / 1e6)
            if source == "hook":
                hooks.append((line, minion, at))
    for source, errors in out.items():
        if errors:
            say(f"{source} vs truth", errors)
    return out, hooks


def say(what: str, errors: list[float]) -> None:
    ordered = sorted(errors)
    print(f"bench fidelity: {what}: p1 {percentile(ordered, 1):.1f} ms, median {percentile(ordered, 50):.1f} ms,"
          f" p99 {percentile(ordered, 99):.1f} ms ({len(errors)} transitions)", file=sys.stderr)


KERNEL_BEFORE_NS = 500_000_000  # a kernel address event this long before a notify line may be its own
KERNEL_AFTER_NS = 50_000_000  # and this long after it (the line stamped first, the event read later)


def kernel_lags(monitors: dict[str, AddressMonitor], vip: str, log: Path, since: int,
                own: list[tuple[str, int, int]], hooks: list[tuple[int, str, int]]) -> tuple[list[float], list[float]]:
    """(wrapper line - the kernel's VIP event it follows, hook's time - that event), ms: the VIP added before a
    MASTER line, deleted before a BACKUP, FAULT or STOP line; events during an address change the bench made
    itself (a restore's `ip addr del`, a power-on's flush) are not keepalived's and are ignored."""
    hook_of = {(line, node): at for line, node, at in hooks}
    kernel = {node: [(round(t * S), what) for t, what in m.events(vip)] for node, m in monitors.items()}
    lines: list[float] = []
    hook_lags: list[float] = []
    for ns, node, state in notify_lines(log):
        if ns < since or state not in ("MASTER", "BACKUP", "FAULT", "STOP"):
            continue
        want = "added" if state == "MASTER" else "deleted"
        near = [t for t, what in kernel.get(node, []) if what == want and ns - KERNEL_BEFORE_NS <= t
                <= ns + KERNEL_AFTER_NS and not any(n == node and a - KERNEL_AFTER_NS <= t <= b + KERNEL_AFTER_NS
                                                     for n, a, b in own)]
        if not near:
            continue
        t = max(near)
        lines.append((ns - t) / 1e6)
        if (ns, node) in hook_of:
            hook_lags.append((hook_of[(ns, node)] - t) / 1e6)
    if lines:
        say("the wrapper's line after the kernel's address event", lines)
    if hook_lags:
        say("the hook's time after the kernel's address event", hook_lags)
    return lines, hook_lags


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
        monitors = {n: AddressMonitor(site, n, Path(tmp) / f"addr-{n}.log") for n in nodes}
        try:
            site.lab.stop(site.minion_procs.pop("node2"))
            site.minion_procs["node2"] = site.lab.spawn(
                "node2", ["faketime", "-f", f"+{AHEAD_S:g}s", HAMINION, "run", "-c",
                          str(site.minion_config("node2"))], Path(tmp) / "minion-node2.log")
            since = time.time_ns()
            [clock] = wait_until(lambda: site.incidents("clock_offset"), 20, "node2's clock offset")
            site.apply()
            site.settle()
            drill = Drill(site, log, monitors)
            plan = ["keepalived", "power"] if quick else [*KINDS] * ROUNDS
            for i, kind in enumerate(plan):
                drill.crash(kind)
                if quick and i == len(plan) - 1:
                    break
                drill.restore(kind)
                if not quick and kind == KINDS[-1]:
                    drill.split()
            false, missed = score(site, since, drill.expected)
            [clock] = site.incidents("clock_offset")
            sources, hooks = source_errors_ms(site, log, since)
            lines, hook_lags = kernel_lags(monitors, site.lab.vip, log, since, drill.own_changes, hooks)
        finally:
            for m in monitors.values():
                m.stop()
    every = [e for kind in KINDS for e in drill.gap_errors_ms[kind]]
    emit("fidelity_false_incidents", false, "incidents")
    emit("fidelity_missed_incidents", missed, "incidents")
    emit("fidelity_gap_error_p99_ms", percentile(every, 99), "ms")
    for kind in KINDS:
        if drill.gap_errors_ms[kind]:
            emit(f"fidelity_gap_error_{kind}_p99_ms", percentile(drill.gap_errors_ms[kind], 99), "ms")
    for kind in BRACKETED:
        if drill.in_range[kind]:
            emit(f"fidelity_{kind}_gap_in_range", sum(drill.in_range[kind]) / len(drill.in_range[kind]), "share")
            emit(f"fidelity_{kind}_range_p99_ms", percentile(drill.ranges_ms[kind], 99), "ms")
    for beat in (0.5, 0.2, 0.1):  # init's heartbeat, and two a site could choose
        emit(f"fidelity_silent_gap_error_principle_{round(beat * 1000)}ms_p99_ms", principle_p99_ms(beat), "ms")
    if drill.split_errors_ms:
        emit("fidelity_split_error_p99_ms", percentile(drill.split_errors_ms, 99), "ms")
    emit("fidelity_alerts_per_incident", max(drill.alerts), "alerts")
    for source in ("hook", "fifo"):
        if sources[source]:
            emit(f"{source}_time_error_p99_ms", percentile([abs(e) for e in sources[source]], 99), "ms")
            # how late it is against the line alone (a time before the line is the line's own lag, see below)
            emit(f"{source}_time_late_p99_ms", percentile([max(0.0, e) for e in sources[source]], 99), "ms")
    if sources["hook-fifo"]:
        emit("hook_earlier_than_fifo", sum(d < 0 for d in sources["hook-fifo"]) / len(sources["hook-fifo"]), "share")
    if lines:
        emit("truth_line_after_kernel_median_ms", percentile(lines, 50), "ms")
        emit("truth_line_after_kernel_p99_ms", percentile(lines, 99), "ms")
    if hook_lags:
        emit("hook_time_vs_kernel_p99_ms", percentile([abs(e) for e in hook_lags], 99), "ms")
    emit("clock_offset_error_ms", abs(clock["data"]["offset_ns"] - AHEAD_S * S) / 1e6, "ms")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:] or os.environ.get("HAMASTER_BENCH_QUICK") == "1")
