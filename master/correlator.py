"""The correlator: VRRP transitions from all minions -> incidents (see incidents.py for the kinds).

Each VRRP group (the same instance on every node that runs it; or the same VIP or virtual_router_id, as
`correlator: {group_by: instance|vip|router_id}` says) is a small state machine over *transitions* in node
time: the last state of each member, the holder (the last sole MASTER), the transition that left it with no
MASTER, the one that made a second MASTER, and recent changes for flapping. Heartbeats add one synthetic
transition: "node went silent" at the time it was last heard, so a dead holder reads like any other leaver.

Identity: an incident's dedup_key is built from its deciding transition ((minion, seq) of the event), so
the same history always derives the same keys. That is what makes late events safe: a transition older
than the group's newest one is inserted in its place and the group is rebuilt from its history; incidents
already stored are found by key (no second row, no second alert), only really new ones come back.

Split brain heal: keepalived fires no notify on the node that stays MASTER; the other node's BACKUP (or its
silence) is what closes it. Overlaps shorter than `split_brain_after_s` (normal during a failover or at
start) are recorded as an info-level split_brain, never alerted as critical.
"""

import bisect
import json
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hamaster.errors import ConfigError
from hamaster.events import StoredEvent
from hamaster.master import incidents, store
from hamaster.master.incidents import Incident
from hamaster.timeutil import human_duration, now_ns, to_datetime

log = logging.getLogger("hamaster.correlator")
S = 1_000_000_000
HISTORY = 2000  # transitions kept per group for re-evaluation of late events


@dataclass(frozen=True)
class Settings:
    group_by: str = "instance"
    no_master_after_s: float = 2.0
    split_brain_after_s: float = 1.0
    flapping_transitions: int = 6  # more than this many state changes ...
    flapping_window_s: float = 10.0  # ... within this window is flapping
    planned_grace_s: float = 15.0  # transitions this long after an apply job ended still count as planned
    replay_quiet_s: float = 300.0  # incidents older than this found on replay are not alerted
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)  # VI_1: {vip: .., router_id: ..}

    @classmethod
    def load(cls, raw: dict[str, Any], where: str = "master.yaml") -> "Settings":
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in cls.__dataclass_fields__:
                raise ConfigError(f"{where}: correlator.{name}: unknown field")
            default = cls.__dataclass_fields__[name].default
            want = dict if name == "instances" else type(default)
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, want) or isinstance(value, bool):
                raise ConfigError(f"{where}: correlator.{name}: expected {want.__name__}, got {value!r}")
            out[name] = value
        if out.get("group_by", "instance") not in ("instance", "vip", "router_id"):
            raise ConfigError(f"{where}: correlator.group_by: expected instance, vip or router_id")
        return cls(**out)


@dataclass(frozen=True, order=True)
class Transition:
    node_ns: int
    minion: str
    seq: int  # 0: synthetic (the node went silent)
    state: str | None  # None: silent, state unknown
    priority: int | None = None
    instance: str = ""

    @property
    def key(self) -> str:
        return f"{self.minion}:{self.seq}" if self.seq else f"{self.minion}:silent@{self.node_ns}"

    def cause(self) -> str:
        if self.state is None:
            return f"{self.minion} silent (last heard {to_datetime(self.node_ns):%H:%M:%S} UTC)"
        prio = f" (priority {self.priority})" if self.priority is not None else ""
        return f"{self.minion} {self.state}{prio}"


@dataclass(frozen=True)
class Close:
    dedup_key: str
    ended_ns: int
    data: dict[str, Any]


Op = Incident | Close


class Group:
    """One VRRP group's state machine. Pure: returns the incidents to store; `known` asks the store."""

    def __init__(self, name: str, vip: str | None, s: Settings, known: Callable[[str], bool]) -> None:
        self.name, self.vip, self.s, self.known = name, vip, s, known
        self.history: list[Transition] = []
        self.reset()

    def reset(self) -> None:
        self.members: dict[str, Transition] = {}
        self.holder: str | None = None
        self.lost: Transition | None = None  # left the group without a MASTER
        self.split: Transition | None = None  # made a second MASTER
        self.flaps: deque[Transition] = deque()
        self.flapping: str | None = None  # dedup key of the open flapping incident
        self.flap_total = 0

    def masters(self) -> list[str]:
        return sorted(m for m, t in self.members.items() if t.state == "MASTER")

    def label(self) -> str:
        return f"VIP {self.vip}" if self.vip else self.name

    def _incident(self, kind: str, tr: Transition, summary: str, nodes: Iterable[str], key: str = "",
                  **data: Any) -> Incident:
        return Incident(kind, self.name, tr.node_ns, summary, key or f"{kind}:{self.name}:{tr.key}",
                        nodes=sorted(set(nodes)), data={"vip": self.vip, **data})

    # -- transitions ---------------------------------------------------------------------------------
    def apply(self, tr: Transition) -> list[Op]:
        ops: list[Op] = []
        prev = self.masters()
        old = self.members.get(tr.minion)
        self.members[tr.minion] = tr
        if self.flapping and tr.node_ns - self.flaps[-1].node_ns > self.s.flapping_window_s * S:
            ops += self._calm(self.flaps[-1].node_ns)
        if old is not None and old.state is not None and tr.state is not None and old.state != tr.state:
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
        self.flaps.append(tr)
        self.flap_total += 1
        while tr.node_ns - self.flaps[0].node_ns > self.s.flapping_window_s * S:
            self.flaps.popleft()
        if self.flapping or len(self.flaps) <= self.s.flapping_transitions:
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
                                nodes=masters, data={"vip": self.vip, "closes_key": key, "holder": masters[0],
                                                     "transitions": self.flap_total}))
        return ops

    def _taken(self, tr: Transition, new: str) -> list[Op]:
        """A MASTER after a time with none."""
        ops: list[Op] = []
        lost = self.lost
        gap = tr.node_ns - lost.node_ns if lost else None
        if lost is not None:
            nm_key = f"no_master:{self.name}:{lost.key}"
            if self.known(nm_key):
                ops.append(Close(nm_key, tr.node_ns, {"gap_ns": gap}))
                ops.append(self._recovered(tr, new, nm_key, gap_ns=gap))
            elif lost.state is not None and gap is not None and gap > self.s.no_master_after_s * S:
                # learnt after the fact (late events): keep it for the timeline, do not wake anyone
                ops.append(Incident("no_master", self.name, lost.node_ns, f"{self.label()} had no MASTER for"
                                    f" {human_duration(gap / S)}", nm_key, nodes=[lost.minion], severity="info",
                                    ended_ns=tr.node_ns, data={"vip": self.vip, "gap_ns": gap,
                                                               "after_the_fact": True}))
        if self.holder is not None and new != self.holder:
            ops.append(self._failover(tr, new, lost, gap))
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
            elif tr.state is not None and duration > 0:
                long = duration >= self.s.split_brain_after_s * S
                ops.append(Incident("split_brain", self.name, split.node_ns, f"{self.label()}: two MASTERs"
                                    f" ({', '.join(sorted({tr.minion, split.minion}))}) for"
                                    f" {human_duration(duration / S)}", key, nodes=[tr.minion, split.minion],
                                    severity="critical" if long else "info", ended_ns=tr.node_ns,
                                    data={"vip": self.vip, "duration_ns": duration}))
                if long:
                    ops.append(self._recovered(tr, new, key, duration_ns=duration))
        if self.holder is not None and new != self.holder:
            # the old holder went away while the new one was already MASTER: no gap (for a silent node we
            # only know it was heard last before the other took over)
            gap = max(0, split.node_ns - tr.node_ns) if split and tr.state is None else 0
            ops.append(self._failover(tr, new, tr, gap))
        return ops

    def _failover(self, tr: Transition, new: str, cause: Transition | None, gap: int | None) -> Incident:
        old = self.holder or "?"
        new_tr = self.members[new]
        why = cause.cause() if cause else "unknown"
        if cause and cause.state == "BACKUP" and cause.priority is not None and new_tr.priority is not None:
            why = f"{cause.minion} BACKUP (priority {cause.priority} vs {new_tr.priority})"
        took = f" in {human_duration(gap / S)}" if gap else ""
        return self._incident(
            "failover", tr, f"{self.label()} moved {old} -> {new}{took}; {why}", [old, new],
            f"failover:{self.name}:{new_tr.key}", old_holder=old, new_holder=new, gap_ns=gap, cause=why,
            cause_state=cause.state if cause else None, old_priority=cause.priority if cause else None,
            new_priority=new_tr.priority, instance=new_tr.instance,
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
    def add(self, tr: Transition) -> list[Op]:
        """Take a transition in node-time order; a late one rebuilds the group from its history."""
        if not self.history or tr >= self.history[-1]:
            self.history.append(tr)
            del self.history[:-HISTORY]
            return self.apply(tr)
        if tr in self.history:
            return []
        bisect.insort(self.history, tr)
        self.reset()
        return [op for t in self.history for op in self.apply(t)]


class Correlator:
    """The daemon's contract: replay() at start, feed() after each intake commit, tick() every 0.5 s."""

    def __init__(self, conn: sqlite3.Connection, settings: dict[str, Any], silent_after_s: float,
                 where: str = "master.yaml") -> None:
        self.conn, self.s, self.silent_after = conn, Settings.load(settings or {}, where), silent_after_s
        self.groups: dict[str, Group] = {}
        self.silent: dict[str, int] = {}  # minion -> last heard (ns) when declared silent
        self._known: set[str] = set()
        self._quiet_before: int | None = None  # replay: incidents older than this are stored as routed

    def known(self, key: str) -> bool:
        if key in self._known:
            return True
        if incidents.id_of(self.conn, key) is not None:
            self._known.add(key)
            return True
        return False

    def _group_of(self, instance: str, data: dict[str, Any]) -> Group:
        conf = self.s.instances.get(instance, {})
        vip = conf.get("vip") or data.get("vip")
        name = instance
        if self.s.group_by == "vip" and vip:
            name = str(vip)
        elif self.s.group_by == "router_id" and (conf.get("router_id") or data.get("router_id")):
            name = f"vrid-{conf.get('router_id') or data.get('router_id')}"
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, vip, self.s, self.known)
        return group

    def feed(self, events: list[StoredEvent]) -> list[int]:
        ops: list[Op] = []
        for se in sorted(events, key=lambda se: (se.event.node_ns, se.minion, se.event.seq)):
            e = se.event
            if e.kind != "vrrp" or not e.instance or e.data.get("duplicate_of"):
                continue
            tr = Transition(e.node_ns, se.minion, e.seq, e.state, e.priority, e.instance)
            ops += self._group_of(e.instance, e.data).add(tr)
        return self._commit(ops)

    def tick(self, now: int, last_seen_ns: dict[str, int]) -> list[int]:
        ops: list[Op] = []
        for minion, seen in last_seen_ns.items():
            if now - seen > self.silent_after * S and minion not in self.silent:
                self.silent[minion] = seen
                ops.append(Incident("node_silent", None, seen, f"{minion} silent: no heartbeat for"
                                    f" {human_duration((now - seen) / S)}", f"node_silent:{minion}:{seen}",
                                    nodes=[minion], data={"last_seen_ns": seen}))
                for group in [g for g in self.groups.values() if minion in g.members]:
                    ops += group.add(Transition(seen, minion, 0, None, None, group.members[minion].instance))
            elif now - seen <= self.silent_after * S and minion in self.silent:
                since = self.silent.pop(minion)
                ops.append(Incident("node_back", None, seen, f"{minion} is back after"
                                    f" {human_duration((seen - since) / S)} of silence",
                                    f"node_back:{minion}:{since}", nodes=[minion],
                                    data={"silent_since_ns": since, "closes_key": f"node_silent:{minion}:{since}"}))
        for group in self.groups.values():
            ops += group.on_time(now, last_seen_ns)
        return self._commit(ops)

    def replay(self, since_ns: int) -> None:
        """Rebuild the groups from stored events; what this finds that is older than replay_quiet_s is
        stored as already routed (no alerts for old news); newer ones are left for notify's start-up sweep."""
        self._quiet_before = now_ns() - int(self.s.replay_quiet_s * S)
        try:
            batch: list[StoredEvent] = []
            for se in _stored_vrrp(self.conn, since_ns):
                batch.append(se)
                if len(batch) >= 5000:
                    self.feed(batch)
                    batch = []
            self.feed(batch)
        finally:
            self._quiet_before = None

    # -- store ---------------------------------------------------------------------------------------
    def _commit(self, ops: list[Op]) -> list[int]:
        new: list[int] = []
        for op in ops:
            if isinstance(op, Close):
                incidents.close(self.conn, op.dedup_key, op.ended_ns, **op.data)
                continue
            if op.dedup_key in self._known:
                continue
            if "closes_key" in op.data:
                closed = incidents.severity_of(self.conn, op.data["closes_key"])
                if op.kind == "recovered" and (closed is None or closed[1] == "info"):
                    continue  # a recovered closes what was alerted, and nothing else
                op.data["closes"] = closed[0] if closed else None
            op.job_id = self._job_at(op.nodes, op.started_ns) if op.kind != "node_back" else None
            op.planned = op.job_id is not None
            if self._quiet_before is not None and op.started_ns < self._quiet_before:
                op.routed_ns = now_ns()
            self._known.add(op.dedup_key)
            incident_id = incidents.insert(self.conn, op)
            if incident_id is not None:
                new.append(incident_id)
                log.info("incident %d %s: %s", incident_id, op.kind, op.summary)
        if ops:
            self.conn.commit()
        return new

    def _job_at(self, nodes: list[str], at_ns: int) -> str | None:
        """The `hamaster apply` job (not --test) running on one of `nodes` at `at_ns`, if any."""
        grace = int(self.s.planned_grace_s * S)
        for jid, targets in self.conn.execute(
            "SELECT jid, targets FROM jobs WHERE test = 0 AND started_ns <= ?"
            " AND (finished_ns IS NULL OR finished_ns + ? >= ?) ORDER BY started_ns DESC", (at_ns, grace, at_ns)
        ):
            if set(nodes) & set(_json_list(targets)):
                return str(jid)
        return None


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _stored_vrrp(conn: sqlite3.Connection, since_ns: int) -> Iterable[StoredEvent]:
    return store.query_events(conn, since_ns=since_ns, kinds=["vrrp"])
