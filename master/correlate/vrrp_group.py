"""One VRRP group's state machine (see correlator.py for what it derives), and the history that lets a
late transition be put in its place cheaply.

History: transitions are kept sorted by node time, with a snapshot of the group's state every
SNAPSHOT_EVERY transitions. A late one (older than the group's newest) is inserted in its place and the
group replays from the snapshot before it: at most SNAPSHOT_EVERY transitions plus those after the late
one, instead of the whole history. Transitions handed over together (one intake batch) are inserted
together and replayed once. What is replayed gives the incidents the whole history would; those before
the snapshot were derived when they arrived and are already stored.

History is bounded by node time, not count: `late_window_s` behind the group's newest transition
(trimmed a snapshot at a time). A transition older than that is too late to re-decide anything: it stays
in the store and the timeline, the group ignores it. Nothing else needs the old transitions: the flapping
count and the group's state at a snapshot are in the snapshot itself.
"""

import bisect
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import human_duration, human_span, to_datetime
from hamaster.master.correlate.dating import Bound, Dating, date_silent_death
from hamaster.master.correlate.settings import Settings

log = logging.getLogger("hamaster.correlator")
S = 1_000_000_000
SNAPSHOT_EVERY = 32  # transitions between snapshots: the most a late one replays before its own place
HEARTBEAT_NS = S // 2  # init's heartbeat interval, unless the correlator is told the site's


DEAD = "DEAD"  # not a VRRP state: the node's keepalived died (its minion saw the process go)


@dataclass(frozen=True, order=True, slots=True)
class Transition:
    """One member's change, in corrected (master) time. Besides keepalived's states, two that the node
    did not say: None, the node went silent (seq 0, dated when it was last heard), and DEAD, its keepalived
    died (the minion's beacon event): either way its instances are gone and it vouches for no MASTER."""

    node_ns: int
    minion: str
    seq: int  # 0: synthetic (the node went silent)
    state: str | None  # None: silent, state unknown; DEAD: keepalived died
    priority: int | None = None
    instance: str = ""
    vrrp_child: bool = False  # DEAD: only keepalived's VRRP process died (its parent respawns it)

    @property
    def key(self) -> str:
        return f"{self.minion}:{self.seq}" if self.seq else f"{self.minion}:silent@{self.node_ns}"

    @property
    def said(self) -> bool:
        """keepalived's own word, not an inference from silence or a death."""
        return self.state is not None and self.state != DEAD

    def cause(self) -> str:
        if self.state is None:
            return f"{self.minion} silent (last heard {to_datetime(self.node_ns):%H:%M:%S} UTC)"
        if self.state == DEAD and self.vrrp_child:
            return f"keepalived's VRRP process on {self.minion} died (killed or crashed)"
        if self.state == DEAD:
            return f"keepalived on {self.minion} died without a STOP (killed or crashed)"
        prio = f" (priority {self.priority})" if self.priority is not None else ""
        return f"{self.minion} {self.state}{prio}"


@dataclass(frozen=True, slots=True)
class Close:
    dedup_key: str
    ended_ns: int
    data: dict[str, Any]


Op = Incident | Close


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The group's state before the transition at absolute position `at` of its history."""

    at: int
    members: dict[str, Transition]
    holder: str | None
    lost: Transition | None
    split: Transition | None
    flaps: tuple[Transition, ...]
    flapping: str | None
    flap_total: int


class Group:
    """One VRRP group's state machine. Pure: returns the incidents to store; `known` asks the store."""

    def __init__(self, name: str, vip: str | None, s: Settings, known: Callable[[str], bool],
                 heartbeat_ns: int = HEARTBEAT_NS) -> None:
        self.name, self.vip, self.s, self.known = name, vip, s, known
        self.heartbeat_ns = heartbeat_ns  # bounds a silent holder's death (dating.py)
        # and what else does (the correlator's nodes: connection closes, probe outages):
        # (minion, the group's VIPs, silent since, new MASTER at) -> bounds
        self.witnesses: Callable[[str, Iterable[str], int, int], list[Bound]] = lambda *_: []
        self.advert_int: dict[str, float] = {}  # member -> its advert_int (s), from its keepalived.conf's facts
        self.vips: set[str] = {str(vip).split("/")[0]} if vip else set()  # and those its members' events name
        self.vrid: int | None = None  # virtual_router_id, as its members' events say
        self.history: list[Transition] = []  # sorted; history[0] is at absolute position `base`
        self.base = 0
        self.late_window = int(s.late_window_s * S)
        # the state: who is what, and the transitions that decide the next incident
        self.members: dict[str, Transition] = {}
        self.holder: str | None = None
        self.lost: Transition | None = None  # left the group without a MASTER
        self.split: Transition | None = None  # made a second MASTER
        self.flaps: deque[Transition] = deque()
        self.flapping: str | None = None  # dedup key of the open flapping incident
        self.flap_total = 0
        self.snapshots = [self._snapshot(0)]  # snapshots[0] is at `base`

    def masters(self) -> list[str]:
        return sorted(m for m, t in self.members.items() if t.state == "MASTER")

    def label(self) -> str:
        return f"VIP {self.vip}" if self.vip else self.name

    def learn(self, vips: Iterable[Any], vrid: Any) -> None:
        """What a member's event says of the group (its node's keepalived.conf, or a dump)."""
        if isinstance(vips, list | tuple):  # a peer's data is checked for size and depth, not for meaning
            self.vips.update(str(v) for v in vips if isinstance(v, str) and v)
        if type(vrid) is int:
            self.vrid = vrid
        if self.vip is None and self.vips:
            self.vip = min(self.vips)

    def data(self, **extra: Any) -> dict[str, Any]:
        """What every incident of this group says of it: its VIP(s) and VRID where known."""
        known: dict[str, Any] = {"vip": self.vip}
        if self.vips:
            known["vips"] = sorted(self.vips)
        if self.vrid is not None:
            known["vrid"] = self.vrid
        return {**known, **extra}

    def _incident(self, kind: str, tr: Transition, summary: str, nodes: Iterable[str], key: str = "",
                  **data: Any) -> Incident:
        return Incident(kind, self.name, tr.node_ns, summary, key or f"{kind}:{self.name}:{tr.key}",
                        nodes=sorted(set(nodes)), data=self.data(**data))

    # -- transitions ---------------------------------------------------------------------------------
    def apply(self, tr: Transition) -> list[Op]:
        ops: list[Op] = []
        prev = self.masters()
        old = self.members.get(tr.minion)
        self.members[tr.minion] = tr
        if self.flapping and tr.node_ns - self.flaps[-1].node_ns > self.s.flapping_window_s * S:
            ops += self._calm(self.flaps[-1].node_ns)
        if old is not None and old.said and tr.said and old.state != tr.state:
            ops += self._count_flap(tr)
        now = self.masters()
        if not now and prev:
            self.lost = tr
        elif len(now) == 1 and prev != now:
            if not self.flapping:
                ops += self._healed(tr, now[0]) if len(prev) >= 2 else self._taken(tr, now[0])
            self.lost = self.split = None
            self.holder = now[0]
        elif len(now) >= 2 and len(prev) < 2:
            self.split, self.lost = tr, None
        return ops

    def _count_flap(self, tr: Transition) -> list[Op]:
        self.flap_total += 1
        if self.flapping:  # only the newest flap matters until the group is calm: keep that one alone
            self.flaps.clear()
            self.flaps.append(tr)
            return []
        self.flaps.append(tr)
        while tr.node_ns - self.flaps[0].node_ns > self.s.flapping_window_s * S:
            self.flaps.popleft()
        if len(self.flaps) <= self.s.flapping_transitions:
            return []
        self.flapping, self.flap_total = f"flapping:{self.name}:{tr.key}", len(self.flaps)
        span = human_duration((tr.node_ns - self.flaps[0].node_ns) / S)
        return [self._incident("flapping", self.flaps[0], f"{self.label()} is flapping: {len(self.flaps)}"
                               f" transitions in {span}", (t.minion for t in self.flaps), self.flapping,
                               transitions=len(self.flaps))]

    def _calm(self, last_ns: int) -> list[Op]:
        key, self.flapping = self.flapping or "", None
        self.flaps.clear()
        masters = self.masters()
        ops: list[Op] = [Close(key, last_ns, {"transitions": self.flap_total, "holder": self.holder})]
        if len(masters) == 1:
            ops.append(Incident("recovered", self.name, last_ns, f"{self.label()} calm again after"
                                f" {self.flap_total} transitions; held by {masters[0]}", f"recovered:{key}",
                                nodes=masters, data=self.data(closes_key=key, holder=masters[0],
                                                         transitions=self.flap_total)))
        return ops

    def _taken(self, tr: Transition, new: str) -> list[Op]:
        """A MASTER after a time with none."""
        ops: list[Op] = []
        lost = self.lost
        dating = None
        if lost is not None and lost.state is None:  # it went silent: nobody saw it die, so bracket the death
            dating = date_silent_death(lost.node_ns, self.heartbeat_ns, tr.node_ns, tr.priority,
                                       self.advert_int.get(tr.minion),
                                       self.witnesses(lost.minion, self.vips, lost.node_ns, tr.node_ns))
        gap = max(0, tr.node_ns - (dating.at_ns if dating else lost.node_ns)) if lost else None
        if lost is not None:
            nm_key = f"no_master:{self.name}:{lost.key}"
            if self.known(nm_key):
                ops.append(Close(nm_key, tr.node_ns, {"gap_ns": gap}))
                ops.append(self._recovered(tr, new, nm_key, gap_ns=gap))
            elif lost.state is not None and gap is not None and gap > self.s.no_master_after_s * S:
                # learnt after the fact (late events): keep it for the timeline, do not wake anyone
                ops.append(Incident("no_master", self.name, lost.node_ns, f"{self.label()} had no MASTER for"
                                    f" {human_duration(gap / S)}", nm_key, nodes=[lost.minion], severity="info",
                                    ended_ns=tr.node_ns, data=self.data(gap_ns=gap, after_the_fact=True)))
        if self.holder is not None and new != self.holder:
            ops.append(self._failover(tr, new, lost, gap, dating))
        return ops

    def _healed(self, tr: Transition, new: str) -> list[Op]:
        """Back to one MASTER from two or more: `tr` is the transition of the one that left."""
        ops: list[Op] = []
        split = self.split
        if split is not None:
            key = f"split_brain:{self.name}:{split.key}"
            duration = tr.node_ns - split.node_ns
            if self.known(key):
                ops.append(Close(key, tr.node_ns, {"duration_ns": duration}))
                ops.append(self._recovered(tr, new, key, duration_ns=duration))
            elif tr.said and duration > 0:
                long = duration >= self.s.split_brain_after_s * S
                ops.append(Incident("split_brain", self.name, split.node_ns, f"{self.label()}: two MASTERs"
                                    f" ({', '.join(sorted({tr.minion, split.minion}))}) for"
                                    f" {human_duration(duration / S)}", key, nodes=[tr.minion, split.minion],
                                    severity="critical" if long else "info", ended_ns=tr.node_ns,
                                    data=self.data(duration_ns=duration)))
                if long:
                    ops.append(self._recovered(tr, new, key, duration_ns=duration))
        if self.holder is not None and new != self.holder:
            # the old holder went away while the new one was already MASTER: no gap (for a silent node we
            # only know it was heard last before the other took over)
            gap = max(0, split.node_ns - tr.node_ns) if split and not tr.said else 0
            ops.append(self._failover(tr, new, tr, gap))
        return ops

    def _failover(self, tr: Transition, new: str, cause: Transition | None, gap: int | None,
                  dating: Dating | None = None) -> Incident:
        old = self.holder or "?"
        new_tr = self.members[new]
        why = cause.cause() if cause else "unknown"
        if cause and cause.state == "BACKUP" and cause.priority is not None and new_tr.priority is not None:
            why = f"{cause.minion} BACKUP (priority {cause.priority} vs {new_tr.priority})"
        took = f" in {human_duration(gap / S)}" if gap else ""
        more: dict[str, Any] = {}
        if dating is not None:  # a range, not a false point: the death is known only within its bounds
            span = (max(0, tr.node_ns - dating.hi_ns), max(0, tr.node_ns - dating.lo_ns))
            took = f" in {human_span(span[0] / S, span[1] / S)} (death dated by the {dating.by})"
            more = {"gap_range_ns": list(span), "death_dated_by": dating.by}
        return self._incident(
            "failover", tr, f"{self.label()} moved {old} -> {new}{took}; {why}", [old, new],
            f"failover:{self.name}:{new_tr.key}", old_holder=old, new_holder=new, gap_ns=gap, cause=why,
            cause_state=cause.state if cause else None, old_priority=cause.priority if cause else None,
            new_priority=new_tr.priority, instance=new_tr.instance, **more,
        )

    def _recovered(self, tr: Transition, holder: str, closes: str, **data: Any) -> Incident:
        return self._incident("recovered", tr, f"{self.label()} back to one MASTER: {holder}", [holder],
                              f"recovered:{closes}", closes_key=closes, holder=holder, **data)

    # -- time ----------------------------------------------------------------------------------------
    def on_time(self, now: int, last_seen: dict[str, int]) -> list[Op]:
        if self.flapping:
            quiet_since = self.flaps[-1].node_ns
            return self._calm(quiet_since) if now - quiet_since > self.s.flapping_window_s * S else []
        masters = self.masters()
        lost, split = self.lost, self.split
        if lost is not None and not masters and now - lost.node_ns > self.s.no_master_after_s * S:
            key = f"no_master:{self.name}:{lost.key}"
            if not self.known(key):
                return [self._incident("no_master", lost, f"{self.label()} has no MASTER since"
                                       f" {to_datetime(lost.node_ns):%H:%M:%S} UTC; {lost.cause()}",
                                       self.members, key, cause=lost.cause())]
        if split is not None and len(masters) >= 2 and now - split.node_ns > self.s.split_brain_after_s * S:
            key = f"split_brain:{self.name}:{split.key}"
            # a MASTER not heard since the split began may be dead, not split: silence will settle it
            if all(last_seen.get(m, now) >= split.node_ns for m in masters) and not self.known(key):
                return [self._incident("split_brain", split, f"{self.label()}: {len(masters)} MASTERs at once"
                                       f" ({', '.join(masters)})", masters, key, masters=masters)]
        return []

    # -- history -------------------------------------------------------------------------------------
    def add(self, trs: list[Transition]) -> list[Op]:
        """Take transitions sorted by node time; those older than the group's newest go in their place."""
        h = self.history
        n_late = bisect.bisect_left(trs, h[-1]) if h else 0
        ops = self._insert(trs[:n_late]) if n_late else []
        for tr in trs[n_late:]:
            if h and tr == h[-1]:
                continue
            if self._snapshot_due(self.base + len(h)):
                self._trim()
            h.append(tr)
            ops += self.apply(tr)
        return ops

    def retime(self, old: Transition, new: Transition) -> list[Op]:
        """`old` was dated too late (its twin report came earlier): put `new` in its place and replay."""
        h = self.history
        i = bisect.bisect_left(h, old)
        if i == len(h) or h[i] != old or new.node_ns < h[-1].node_ns - self.late_window:
            return []  # trimmed already, or it would be too late to re-decide: leave it as it was
        del h[i]
        # snapshots after its place include what it did: gone; the one at base always stays
        del self.snapshots[bisect.bisect_right(self.snapshots, self.base + i, key=lambda snap: snap.at):]
        if not h:
            self._restore(self.snapshots[0])
            h.append(new)
            return self.apply(new)
        return self._insert([new])

    def _insert(self, late: list[Transition]) -> list[Op]:
        h = self.history
        too_old = h[-1].node_ns - self.late_window
        first: int | None = None
        for tr in late:
            i = bisect.bisect_left(h, tr)
            if i < len(h) and h[i] == tr:
                continue
            if tr.node_ns < too_old:
                log.info("%s: %s is %s older than the group's newest transition: not re-decided", self.name,
                         tr.key, human_duration((h[-1].node_ns - tr.node_ns) / S))
                continue
            h.insert(i, tr)
            first = i if first is None else min(first, i)
        if first is None:
            return []
        k = bisect.bisect_right(self.snapshots, self.base + first, key=lambda snap: snap.at) - 1
        snap = self.snapshots[k]
        del self.snapshots[k + 1:]
        self._restore(snap)
        ops: list[Op] = []
        for at in range(snap.at, self.base + len(h)):
            self._snapshot_due(at)
            ops += self.apply(h[at - self.base])
        return ops

    def _snapshot_due(self, at: int) -> bool:
        """Take a snapshot before position `at` if the last one is SNAPSHOT_EVERY behind."""
        if at - self.snapshots[-1].at < SNAPSHOT_EVERY:
            return False
        self.snapshots.append(self._snapshot(at))
        return True

    def _trim(self) -> None:
        """Forget transitions older than the late window, up to the newest snapshot that allows it."""
        h, snaps = self.history, self.snapshots
        cutoff = h[-1].node_ns - self.late_window
        k = 0
        while k + 1 < len(snaps) and h[snaps[k + 1].at - self.base - 1].node_ns < cutoff:
            k += 1
        if k:
            del h[:snaps[k].at - self.base]
            self.base = snaps[k].at
            del snaps[:k]

    def _snapshot(self, at: int) -> Snapshot:
        return Snapshot(at, dict(self.members), self.holder, self.lost, self.split, tuple(self.flaps),
                        self.flapping, self.flap_total)

    def _restore(self, snap: Snapshot) -> None:
        self.members, self.flaps = dict(snap.members), deque(snap.flaps)
        self.holder, self.lost, self.split = snap.holder, snap.lost, snap.split
        self.flapping, self.flap_total = snap.flapping, snap.flap_total
