"""The correlator: VRRP transitions from all minions -> incidents (see incidents.py for the kinds).

Each VRRP group (what is one group on the wire: address family, the interface's network or else the VIPs,
and virtual_router_id, from the event's data, else the same instance name on every node; or the same
instance, VIP or virtual_router_id, as `correlator: {group_by: wire|instance|vip|router_id}` says) is a small
state machine over *transitions* in node
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

Sync groups (sync_groups.py): keepalived's GROUP transitions make a group of their own; its failover is one
incident naming its members, whose own incidents it folds in; members held by different nodes are a
`sync_split`.

Time: every node time is corrected by that minion's clock offset (clocks.py) before groups see it, and
never taken as later than the master's own receipt of the event.
"""

import dataclasses
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
from hamaster.master.correlate.grouping import key_of, one_overlapping, vrid_of, wire_key
from hamaster.master.correlate.settings import Settings
from hamaster.master.correlate.sync_groups import SyncGroups
from hamaster.master.correlate.vrrp_group import DEAD, HEARTBEAT_NS, Close, Group, Op, S, Transition
from hamaster.master.store import incidents, jobs
from hamaster.master.store import minions as stored_minions

log = logging.getLogger("hamaster.correlator")
TWIN_MEMORY = 64  # transitions per minion remembered for their second report (hook and FIFO come within 2 s)
CONFIG_TAG = "minion/keepalived/config"  # the minion's facts of its keepalived.conf (sync groups, advert_int)


class Correlator:
    """The daemon's contract: replay() at start, feed() after each intake commit, tick() every 0.5 s."""

    def __init__(self, conn: store.Connection, settings: dict[str, Any], silent_after_s: float,
                 where: str = "master.yaml", heartbeat_s: float = HEARTBEAT_NS / S) -> None:
        self.conn, self.s, self.silent_after = conn, Settings.load(settings or {}, where), silent_after_s
        self.heartbeat_ns = round(heartbeat_s * S)
        self.advert_int: dict[tuple[str, str], float] = {}  # (minion, instance) -> advert_int, from its config
        self.groups: dict[str, Group] = {}
        self.silent: dict[str, int] = {}  # minion -> last heard (ns) when declared silent
        self._known: set[str] = set()
        self._quiet_before: int | None = None  # replay: incidents older than this are stored as routed
        self.clocks = Clocks()
        self._listening_since: int | None = None  # first tick or live event: since then we could hear every node
        self.nodes = nodes.Nodes(self.s.stale_vip_after_s)
        self.member_of: dict[str, dict[Group, str]] = {}  # minion -> {group it is in: its instance there}
        self._said: dict[str, dict[int, tuple[Group, Transition]]] = {}  # minion -> seq -> its transition (recent)
        self.sync = SyncGroups(self.s.split_brain_after_s)
        self.sync_groups: set[Group] = set()  # the groups fed by keepalived's GROUP transitions
        self._wire: dict[tuple[str, str], str] = {}  # (minion, instance) -> the wire key of its group
        self._alias: dict[str, str] = {}  # a wire key by network -> the key by VIPs its group had before
        self._by_vrid: dict[str, list[str]] = {}  # "family/vridN" -> the wire keys of groups made (same_wire's few)

    def known(self, key: str) -> bool:
        if key in self._known:
            return True
        if incidents.id_of(self.conn, key) is not None:
            self._known.add(key)
            return True
        return False

    def _group_of(self, minion: str, instance: str, data: dict[str, Any]) -> Group:
        if data.get("type") == "GROUP":  # a vrrp_sync_group's own transition
            key = f"sync:{instance}"
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = self._new_group(instance, None)
                self.sync_groups.add(group)
            return group
        conf = self.s.instances.get(instance, {})
        vip = conf.get("vip") or data.get("vip")
        key, decided = key_of(self.s, instance, data)  # the site's one rule (grouping.py)
        if self.s.group_by == "wire":
            # an event that does not say (a dump's, one before the minion read its config) goes where the
            # node's last one of this instance went
            said, before = key if decided else None, self._wire.get((minion, instance))
            key = said or before or instance
            if (said and before and said != before and said not in self.groups
                    and before == wire_key({**data, "network": None})):
                # this node's minion was upgraded: it says its network now, its earlier rows were keyed by
                # the VIPs; both keys stay one group (its other node may still be on the old minion)
                self._alias.setdefault(said, self._alias.get(before, before))
            elif said and said not in self.groups and said not in self._alias:
                # a node that reads its network otherwise than its peer (another netmask; the VIP its only
                # address there): the group it overlaps on the wire
                seen = one_overlapping(said, self._by_vrid.get(vrid_of(said), ()))
                if seen is not None:
                    self._alias[said] = self._alias.get(seen, seen)
            self._wire[(minion, instance)] = key
            key = self._alias.get(key, key)
        group = self.groups.get(key)
        if group is None:
            name = key if self.s.group_by in ("vip", "router_id") else instance
            group = self.groups[key] = self._new_group(name, vip)
            self._by_vrid.setdefault(vrid_of(key), []).append(key)
        return group

    def _new_group(self, name: str, vip: str | None) -> Group:
        group = Group(name, vip, self.s, self.known, self.heartbeat_ns)
        group.witnesses = self.nodes.witnesses  # what else dates a silent holder's death (nodes.py)
        return group

    def connection_closed(self, minion: str, at_ns: int) -> None:
        """The master read EOF on `minion`'s connection at `at_ns` (master time): a witness of its death."""
        self.nodes.closed(minion, at_ns)

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
        if self._listening_since is None and self._quiet_before is None and events:  # (not a replay's)
            self._listening_since = min(se.master_ns for se in events)
        per_group: dict[Group, list[Transition]] = {}
        ops: list[Op] = []
        timed = [(self.at(se), se.minion, se.event.seq, i, se) for i, se in enumerate(events)]
        # a transition reported twice (hook and FIFO) is dated by the earlier report: each source is late in
        # its own way (the FIFO line when the minion read it, the hook when keepalived forked it)
        twins = {(se.minion, se.event.data["duplicate_of"]): at for at, _, _, _, se in timed
                 if se.event.kind == "vrrp" and type(se.event.data.get("duplicate_of")) is int}
        if twins:
            ops += self._retime_twins(twins, {(m, seq) for _, m, seq, _, _ in timed})
            timed = [(min(at, twins.get((m, seq), at)), m, seq, i, se) for at, m, seq, i, se in timed]
        # as plain tuples, compared in C: (corrected time, minion, seq) is the order groups keep
        for at, _, _, _, se in sorted(timed):
            e = se.event
            if e.kind == "beacon":
                if self.nodes.beacon(se.minion, at, e) == "died":
                    before = self._died_before(at, e.node_ns, e.data)
                    for group, instance in self.member_of.get(se.minion, {}).items():
                        member = group.members.get(se.minion)
                        if before is None or (member is not None and member.node_ns < before):
                            per_group.setdefault(group, []).append(Transition(
                                at, se.minion, e.seq, DEAD, None, instance, e.data.get("vrrp_child") is True))
                continue
            if e.kind == "minion" and e.tag == CONFIG_TAG:
                self.sync.config(se.minion, e.data)
                self._config(se.minion, e.data)
                continue
            if e.kind != "vrrp" or not e.instance or e.data.get("duplicate_of"):
                continue
            self.nodes.vrrp(se.minion, e.state)
            # interned: a group holds thousands of transitions naming the same few nodes and states
            tr = Transition(at, sys.intern(se.minion), e.seq, e.state and sys.intern(e.state),
                            None if e.data.get("type") == "GROUP" else e.priority, sys.intern(e.instance))
            group = self._group_of(tr.minion, e.instance, e.data)
            group.learn(e.data.get("vips") or (), e.data.get("vrid"))
            advert = self.advert_int.get((tr.minion, tr.instance))
            if advert is not None:
                group.advert_int[tr.minion] = advert
            per_group.setdefault(group, []).append(tr)
            self.member_of.setdefault(tr.minion, {})[group] = tr.instance
            said = self._said.setdefault(tr.minion, {})
            said[tr.seq] = (group, tr)
            if len(said) > TWIN_MEMORY:
                del said[next(iter(said))]
        # a group takes its share of the batch at once: late ones in it cost one replay, not one each
        for group, trs in per_group.items():
            ops += group.add(trs)  # in order already: built from the events sorted by corrected time
        ops += self.nodes.stale_vips(self._groups_with, None, {se.minion for se in events})
        ops += self.sync.check(self.groups, None)
        return self._commit(self._annotate(ops))

    def _annotate(self, ops: list[Op]) -> list[Op]:
        ops = self.sync.fold(ops, self.groups)
        if not ops:  # (most batches: the groups by name are built only when an incident needs them)
            return ops
        by_name = {g.name: g for g in self.groups.values() if g not in self.sync_groups}
        if len(by_name) == len(self.groups) - len(self.sync_groups):
            return self.nodes.annotate(ops, by_name, self.clocks)
        for op in ops:  # a name several groups share (two pairs both VI_1): each incident its own nodes' group
            own = next((g for g in self.groups.values() if isinstance(op, Incident) and g.name == op.instance
                        and g not in self.sync_groups and set(op.nodes) & set(g.members)), None)
            self.nodes.annotate([op], {**by_name, **({own.name: own} if own else {})}, self.clocks)
        return ops

    def _retime_twins(self, twins: dict[tuple[str, int], int], in_batch: set[tuple[str, int]]) -> list[Op]:
        """Second reports of transitions fed before: an earlier one moves its original back to its time."""
        ops: list[Op] = []
        for (minion, seq), at in twins.items():
            group, tr = self._said.get(minion, {}).get(seq, (None, None))
            if group is None or tr is None or (minion, seq) in in_batch or at >= tr.node_ns:
                continue
            earlier = dataclasses.replace(tr, node_ns=at)
            ops += group.retime(tr, earlier)
            self._said[minion][seq] = (group, earlier)
        return ops

    def _config(self, minion: str, data: dict[str, Any]) -> None:
        """The facts of the node's keepalived.conf: each instance's advert_int (it dates a silent death)."""
        instances = data.get("instances")
        for name, facts in (instances if isinstance(instances, dict) else {}).items():
            advert = facts.get("advert_int") if isinstance(facts, dict) else None
            if isinstance(advert, int | float) and not isinstance(advert, bool) and 0 < advert <= 255:
                self.advert_int[(minion, str(name))] = float(advert)
                for group, instance in self.member_of.get(minion, {}).items():
                    if instance == name:
                        group.advert_int[minion] = float(advert)

    @staticmethod
    def _died_before(at: int, node_ns: int, data: dict[str, Any]) -> int | None:
        """For a minion's first look that found no keepalived: its start (corrected). What the node said
        before that is undone by the death; what it said since came from a keepalived alive after the
        minion started (a hook runs even while the minion starts), so that one look does not undo it."""
        started = data.get("minion_started_ns") if data.get("initial") else None
        return at - (node_ns - started) if type(started) is int else None

    def _groups_with(self, minion: str) -> list[Group]:
        """The instances' groups `minion` is in (a sync group holds no VIP of its own)."""
        return sorted((g for g in self.member_of.get(minion, ()) if g not in self.sync_groups), key=lambda g: g.name)

    def tick(self, now: int, last_seen_ns: dict[str, int]) -> list[int]:
        ops: list[Op] = []
        if self._listening_since is None:
            self._listening_since = now
        for minion, seen in last_seen_ns.items():
            # a node can only be found silent after we listened for silent_after: a master that was down
            # for longer must not take its own deafness for every node's silence (dated before it went down)
            if now - max(seen, self._listening_since) > self.silent_after * S and minion not in self.silent:
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
                ops.append(Close(f"node_silent:{minion}:{since}", seen, {}))  # over: not "ongoing" any more
        for group in self.groups.values():
            ops += group.on_time(now, last_seen_ns)
        ops += self.nodes.stale_vips(self._groups_with, now, heard=last_seen_ns)
        ops += nodes.clock_incidents(self.clocks, now)
        if self.clocks.unsaved:
            stored_minions.save_clocks(self.conn, [(m, self.clocks.clocks[m].offset_ns, self.clocks.clocks[m].delay_ns
                                                    or 0, now) for m in self.clocks.unsaved])
            self.clocks.unsaved.clear()
        ops += self.sync.check(self.groups, now)
        return self._commit(self._annotate(ops))

    def replay(self, since_ns: int) -> None:
        """Rebuild the groups from stored events; what this finds that is older than replay_quiet_s is
        stored as already routed (no alerts for old news); newer ones are left for notify's start-up sweep."""
        self._quiet_before = now_ns() - int(self.s.replay_quiet_s * S)
        self.clocks.restore(stored_minions.clocks(self.conn))
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
    return store.query_events(conn, since_ns=since_ns, kinds=["vrrp", "beacon", "minion"])
