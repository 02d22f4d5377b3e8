"""The correlator: VRRP transitions from all minions -> incidents (see incidents.py for the kinds).

Each VRRP group (the same instance on every node that runs it; or the same VIP or virtual_router_id, as
`correlator: {group_by: instance|vip|router_id}` says) is a small state machine over *transitions* in node
time: the last state of each member, the holder (the last sole MASTER), the transition that left it with no
MASTER, the one that made a second MASTER, and recent changes for flapping. Heartbeats add one synthetic
transition: "node went silent" at the time it was last heard, so a dead holder reads like any other leaver.

Identity: an incident's dedup_key is built from its deciding transition ((minion, seq) of the event), so
the same history always derives the same keys. That is what makes late events safe: a transition older
than the group's newest one is inserted in its place and the group replays from there (vrrp_group.py);
incidents already stored are found by key (no second row, no second alert), only really new ones come back.

Split brain heal: keepalived fires no notify on the node that stays MASTER; the other node's BACKUP (or its
silence) is what closes it. Overlaps shorter than `split_brain_after_s` (normal during a failover or at
start) are recorded as an info-level split_brain, never alerted as critical.

A node vouches for its MASTER (nodes.py): a MASTER counts only while its node is heard and its keepalived
lives. The minion's beacon `keepalived/down` becomes a DEAD transition of that node in each of its groups,
dated by the node (corrected), so a new MASTER elsewhere is a failover whose gap starts at the death, never
a split brain. What nodes.py also watches: a VIP still on a node that does not own it (stale_vip).

Time: every node time is corrected by that minion's clock offset (clocks.py) before groups see it, and
never taken as later than the master's own receipt of the event.
"""

import json
import logging
import sys
from collections.abc import Iterable
from typing import Any

from hamaster.core.events import StoredEvent
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import human_duration, now_ns
from hamaster.master import store
from hamaster.master.correlate import nodes
from hamaster.master.correlate.clocks import Clocks
from hamaster.master.correlate.settings import Settings
from hamaster.master.correlate.vrrp_group import DEAD, Close, Group, Op, S, Transition
from hamaster.master.store import incidents, jobs

log = logging.getLogger("hamaster.correlator")


class Correlator:
    """The daemon's contract: replay() at start, feed() after each intake commit, tick() every 0.5 s."""

    def __init__(self, conn: store.Connection, settings: dict[str, Any], silent_after_s: float,
                 where: str = "master.yaml") -> None:
        self.conn, self.s, self.silent_after = conn, Settings.load(settings or {}, where), silent_after_s
        self.groups: dict[str, Group] = {}
        self.silent: dict[str, int] = {}  # minion -> last heard (ns) when declared silent
        self._known: set[str] = set()
        self._quiet_before: int | None = None  # replay: incidents older than this are stored as routed
        self.clocks = Clocks()
        self.nodes = nodes.Nodes(self.s.stale_vip_after_s)
        self.member_of: dict[str, dict[Group, str]] = {}  # minion -> {group it is in: its instance there}

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

    def at(self, se: StoredEvent) -> int:
        """An event's time for comparing nodes: node time corrected by the node's clock offset, and never
        later than the master received it."""
        e = se.event
        offset = e.data.get("clock_offset_ns") if e.data else None  # stored with it when the clock was off
        if type(offset) is not int:
            offset = self.clocks.offset(se.minion)
        at = e.node_ns - offset
        return at if at < se.master_ns else se.master_ns

    def feed(self, events: list[StoredEvent]) -> list[int]:
        per_group: dict[Group, list[Transition]] = {}
        # as plain tuples, compared in C: (corrected time, minion, seq) is the order groups keep
        for at, _, _, _, se in sorted([(self.at(se), se.minion, se.event.seq, i, se) for i, se in enumerate(events)]):
            e = se.event
            if e.kind == "beacon":
                if self.nodes.beacon(se.minion, at, e) == "died":
                    before = self._died_before(at, e.node_ns, e.data)
                    for group, instance in self.member_of.get(se.minion, {}).items():
                        member = group.members.get(se.minion)
                        if before is None or (member is not None and member.node_ns < before):
                            per_group.setdefault(group, []).append(
                                Transition(at, se.minion, e.seq, DEAD, None, instance))
                continue
            if e.kind != "vrrp" or not e.instance or e.data.get("duplicate_of"):
                continue
            self.nodes.vrrp(se.minion, e.state)
            # interned: a group holds thousands of transitions naming the same few nodes and states
            tr = Transition(at, sys.intern(se.minion), e.seq, e.state and sys.intern(e.state), e.priority,
                            sys.intern(e.instance))
            group = self._group_of(e.instance, e.data)
            group.learn(e.data.get("vips") or (), e.data.get("vrid"))
            per_group.setdefault(group, []).append(tr)
            self.member_of.setdefault(tr.minion, {})[group] = tr.instance
        # a group takes its share of the batch at once: late ones in it cost one replay, not one each
        ops: list[Op] = []
        for group, trs in per_group.items():
            ops += group.add(trs)  # in order already: built from the events sorted by corrected time
        ops += self.nodes.stale_vips(self._groups_with, None, {se.minion for se in events})
        return self._commit(self.nodes.annotate(ops, self.groups, self.clocks))

    @staticmethod
    def _died_before(at: int, node_ns: int, data: dict[str, Any]) -> int | None:
        """For a minion's first look that found no keepalived: its start (corrected). What the node said
        before that is undone by the death; what it said since came from a keepalived alive after the
        minion started (a hook runs even while the minion starts), so that one look does not undo it."""
        started = data.get("minion_started_ns") if data.get("initial") else None
        return at - (node_ns - started) if type(started) is int else None

    def _groups_with(self, minion: str) -> list[Group]:
        return sorted(self.member_of.get(minion, ()), key=lambda g: g.name)

    def tick(self, now: int, last_seen_ns: dict[str, int]) -> list[int]:
        ops: list[Op] = []
        for minion, seen in last_seen_ns.items():
            if now - seen > self.silent_after * S and minion not in self.silent:
                self.silent[minion] = seen
                ops.append(Incident("node_silent", None, seen, f"{minion} silent: no heartbeat for"
                                    f" {human_duration((now - seen) / S)}", f"node_silent:{minion}:{seen}",
                                    nodes=[minion], data={"last_seen_ns": seen}))
                for group in [g for g in self.groups.values() if minion in g.members]:
                    ops += group.add([Transition(seen, minion, 0, None, None, group.members[minion].instance)])
            elif now - seen <= self.silent_after * S and minion in self.silent:
                since = self.silent.pop(minion)
                self.nodes.back(minion, seen)
                ops.append(Incident("node_back", None, seen, f"{minion} is back after"
                                    f" {human_duration((seen - since) / S)} of silence",
                                    f"node_back:{minion}:{since}", nodes=[minion],
                                    data={"silent_since_ns": since, "closes_key": f"node_silent:{minion}:{since}"}))
        for group in self.groups.values():
            ops += group.on_time(now, last_seen_ns)
        ops += self.nodes.stale_vips(self._groups_with, now, heard=last_seen_ns)
        ops += nodes.clock_incidents(self.clocks, now)
        return self._commit(self.nodes.annotate(ops, self.groups, self.clocks))

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
        for jid, targets in jobs.running_at(self.conn, at_ns, grace):
            if set(nodes) & set(_json_list(targets)):
                return str(jid)
        return None


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _stored_vrrp(conn: store.Connection, since_ns: int) -> Iterable[StoredEvent]:
    return store.query_events(conn, since_ns=since_ns, kinds=["vrrp", "beacon"])
