"""What each node vouches for, from its minion's beacons: is its keepalived alive, which VIPs it holds.

- `keepalived/down` (the minion holds a pidfd on keepalived and reports its death at once) makes the node's
  instances gone: the correlator turns it into a DEAD transition in each of the node's groups. So does the
  death of its VRRP process alone (data.vrrp_child), until the parent's respawned one says its states.
- A VIP held by a node that does not own it is **stale**: its keepalived died without a STOP (kill -9
  leaves the address on the interface), or it is BACKUP, FAULT or STOP (or stopped, then exited) in the
  groups of that VIP for longer than `stale_vip_after_s` (keepalived drops its VIPs as it leaves MASTER or
  stops; the beacon sees that a look later).
  Two hosts then answer ARP for the VIP: a critical `stale_vip`, closed when the address is gone or the node
  owns it again. A failover away from a node with a stale VIP says so in its own text (`annotate`), and the
  outbox folds the stale_vip alert into it: one message per crash.
- `clock_incidents`: a node whose clock is off the master's by more than a second (clocks.py).
- Witnesses of a silent death (dating.py): the last CLOSES_KEPT closes of each minion's connection that the
  master's guard read (its process died, its kernel alive), and the last OUTAGES_KEPT outages of each VIP
  that the master's probe saw ("nobody answers", with who answered last and when). The probe's node names
  must be minion ids for its outages to bound a minion's death (the lab's are: `probes: [{nodes: [node1..]}]`);
  an outage naming another node bounds nothing.
"""

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from hamaster.core.events import Event
from hamaster.core.incidents import Incident
from hamaster.master.correlate.clocks import OFFSET_BOUND_NS, Clocks, describe
from hamaster.master.correlate.dating import Bound, connection_bound, probe_bound
from hamaster.master.correlate.vrrp_group import DEAD, Close, Group, Op

S = 1_000_000_000
CLOCK_SHOWN_NS = 10_000_000  # offsets smaller than this are not worth a word in an incident
CLOSES_KEPT = 16  # connection closes kept per minion
OUTAGES_KEPT = 16  # probe outages kept per VIP


@dataclass(slots=True)
class Node:
    dead_ns: int | None = None  # keepalived dead since (corrected time), None while it lives
    child_only: bool = False  # only its VRRP process died: the respawned one drops the VIPs as it starts
    stopped: bool = False  # it said STOP first (a graceful stop: keepalived removes its VIPs itself)
    vips: dict[str, tuple[str, int]] = field(default_factory=dict)  # held: vip -> (interface, since)
    lost: dict[str, int] = field(default_factory=dict)  # vip -> when it left the interface
    vip_instance: dict[str, str] = field(default_factory=dict)  # vip -> its instance (the minion read the dump)
    back_ns: int = 0  # heard again after a silence: what it held before needs a fresh look to count


class Nodes:
    def __init__(self, stale_after_s: float) -> None:
        self.stale_after = int(stale_after_s * S)
        self.nodes: dict[str, Node] = {}
        self.stale: dict[tuple[str, str], tuple[str, str | None]] = {}  # (node, vip) -> (dedup key, group)
        self.holding: set[str] = set()  # nodes that hold a VIP: the only ones a tick has to look at
        self.closes: dict[str, deque[int]] = {}  # minion -> when its connection was closed by its peer (master ns)
        self.outages: dict[str, deque[tuple[str, int, int, int]]] = {}  # vip -> (last answer, T1, took, T2)

    def closed(self, minion: str, at_ns: int) -> None:
        """The master's guard read EOF on `minion`'s connection at `at_ns`: its process is gone."""
        self.closes.setdefault(minion, deque(maxlen=CLOSES_KEPT)).append(at_ns)

    def _probe(self, parts: list[str], at: int, e: Event) -> None:
        """The master's probe of a VIP: "nobody answers" after `last_answer` answered at `last_answer_ns`."""
        d = e.data or {}
        node, t1, took = d.get("last_answer"), d.get("last_answer_ns"), d.get("answer_took_ns")
        if parts[3] == "nobody" and isinstance(node, str) and type(t1) is int and type(took) is int and t1 <= at:
            self.outages.setdefault(parts[2], deque(maxlen=OUTAGES_KEPT)).append((node, t1, took, at))

    def witnesses(self, minion: str, vips: Iterable[str], since_ns: int, until_ns: int) -> list[Bound]:
        """What bounds the death of `minion`, silent since `since_ns` (the last thing it said), before
        `until_ns` (the new MASTER): its connection's first close after it last spoke, and the probe outages
        of `vips` that `minion` answered last before."""
        found: list[Bound] = []
        close = next((c for c in self.closes.get(minion, ()) if since_ns <= c <= until_ns), None)
        if close is not None:
            found.append(connection_bound(close))
        for vip in vips:
            for node, t1, took, t2 in self.outages.get(vip, ()):
                if node == minion and t2 >= since_ns and t1 - took <= until_ns:
                    found.append(probe_bound(t1, took, t2))
        return found

    def beacon(self, minion: str, at: int, e: Event) -> str | None:
        """Take one beacon event; -> "died" when the node's keepalived just died."""
        parts = e.tag.split("/")
        if len(parts) == 4 and parts[1] == "probe":  # the master's own probe (the pseudo-minion @probe)
            self._probe(parts, at, e)
            return None
        node = self.nodes.setdefault(minion, Node())
        if parts[1:] == ["keepalived", "down"]:
            child = e.data.get("vrrp_child") is True
            node.child_only = child if node.dead_ns is None else node.child_only and child
            node.dead_ns = at if node.dead_ns is None else min(node.dead_ns, at)
            return "died"
        if parts[1:] == ["keepalived", "up"]:
            node.dead_ns, node.stopped, node.child_only = None, False, False
        elif len(parts) == 4 and parts[1] == "vip" and parts[3] == "held":
            node.vips[parts[2]] = (str(e.data.get("interface") or "?"), at)
            node.lost.pop(parts[2], None)
            if isinstance(e.data.get("instance"), str):
                node.vip_instance[parts[2]] = e.data["instance"]
            self.holding.add(minion)
        elif len(parts) == 4 and parts[1] == "vip" and parts[3] == "lost" and parts[2] in node.vips:
            del node.vips[parts[2]]
            node.lost[parts[2]] = at
            if not node.vips:
                self.holding.discard(minion)
        return None

    def back(self, minion: str, at: int) -> None:
        """`minion` is heard again after a silence (a boot, a partition healed)."""
        self.nodes.setdefault(minion, Node()).back_ns = at

    def vrrp(self, minion: str, state: str | None) -> None:
        node = self.nodes.get(minion)
        if node is None:  # (called for every transition: no Node made for nothing)
            if state != "STOP":
                return
            node = self.nodes[minion] = Node()
        node.stopped = state == "STOP" or (node.stopped and node.dead_ns is not None)

    # -- stale VIPs ---------------------------------------------------------------------------------------
    def stale_vips(self, groups_of: Callable[[str], Iterable[Group]], now: int | None,
                   minions: Iterable[str] | None = None, heard: Mapping[str, int] | None = None) -> list[Op]:
        """Open and close stale_vip incidents, looking at `minions` (default: every node holding a VIP);
        `now` None (on intake) decides only what needs no waiting. `groups_of(minion)`: its groups;
        `heard`: when each minion was last heard (what needs waiting needs the node alive after the wait)."""
        ops: list[Op] = []
        for (minion, vip), (key, _) in list(self.stale.items()):
            node = self.nodes[minion]
            if vip not in node.vips:
                ops.append(Close(key, node.lost.get(vip, now or 0), {"closed_by": "the address is gone"}))
                del self.stale[(minion, vip)]
            elif self._owner(minion, vip, list(groups_of(minion))):
                ops.append(Close(key, now or node.vips[vip][1], {"closed_by": f"{minion} is MASTER again"}))
                del self.stale[(minion, vip)]
        for minion in sorted(self.holding if minions is None else self.holding.intersection(minions)):
            node = self.nodes[minion]
            groups = list(groups_of(minion))
            for vip, (interface, since) in node.vips.items():
                if (minion, vip) in self.stale:
                    continue
                why = self._why_stale(minion, node, vip, since, groups, now, (heard or {}).get(minion))
                if why is None:
                    continue
                reason, at, group = why
                key = f"stale_vip:{minion}:{vip}:{at}"
                self.stale[(minion, vip)] = (key, group)
                ops.append(Incident(
                    "stale_vip", group, at, f"{minion} still holds VIP {vip} on {interface} while {reason}:"
                    " two hosts may answer ARP for it", key, nodes=[minion],
                    data={"vip": vip, "interface": interface, "node": minion, "reason": reason}))
        return ops

    def _groups_of(self, minion: str, vip: str, groups: list[Group]) -> list[Group]:
        """The groups of `minion` that `vip` belongs to: by the instance the node's dump gives it, by the VIPs
        the config gives a group, else every group of the node that names no VIP."""
        mine = [g for g in groups if minion in g.members]  # (groups_of gives only the node's own, so: all)
        instance = self.nodes[minion].vip_instance.get(vip)
        by_instance = [g for g in mine if g.members[minion].instance == instance] if instance else []
        return by_instance or [g for g in mine if vip in g.vips] or [g for g in mine if not g.vips]

    def _owner(self, minion: str, vip: str, groups: list[Group]) -> bool:
        return self.nodes[minion].dead_ns is None and any(
            g.members[minion].state == "MASTER" for g in self._groups_of(minion, vip, groups))

    def _why_stale(self, minion: str, node: Node, vip: str, since: int, groups: list[Group],
                   now: int | None, heard: int | None = None) -> tuple[str, int, str | None] | None:
        mine = self._groups_of(minion, vip, groups)
        group = mine[0].name if len(mine) == 1 else None
        if node.dead_ns is not None:
            at = max(since, node.dead_ns)
            if (node.stopped or node.child_only) and (now is None or now - at < self.stale_after):
                # stopped gracefully, or its VRRP process respawns (and starts by removing them): its VIPs
                # are being removed, the beacon will see them go
                return None
            return f"keepalived on {minion} is dead", at, group
        if now is None or not mine:
            return None
        states = [g.members[minion] for g in mine]
        if any(t.state in ("MASTER", None, DEAD) for t in states):
            return None  # owned, or not known (a silent node's facts are old news)
        at = max(since, *(t.node_ns for t in states))
        if now - at < self.stale_after:
            return None
        if heard is None or heard < max(at, node.back_ns) + self.stale_after:
            # not heard since the grace began: a node switched off in FAULT keeps its VIP on a dead interface
            # of a dead host (no ARP answered); what it is, is a silence, not two hosts with the VIP. Back
            # from a silence, it is heard a grace long first: a booted node's new minion looks at its VIPs
            # afresh (the boot removed them), a partitioned one's says nothing new and what it held stands
            return None
        return f"{minion} is {'/'.join(sorted({str(t.state) for t in states}))}", at, group

    def stale_of(self, minion: str, group: Group) -> tuple[str, str] | None:
        """(vip, interface) that `minion` holds though its keepalived died: for the failover's text."""
        node = self.nodes.get(minion)
        if node is None or node.dead_ns is None or node.stopped:
            return None
        for vip, (interface, _) in sorted(node.vips.items()):
            instance = node.vip_instance.get(vip)
            if (group.members.get(minion) and instance == group.members[minion].instance) or (
                    instance is None and (not group.vips or vip in group.vips)):
                return vip, interface
        return None

    # -- what incidents say about nodes -------------------------------------------------------------------
    def annotate(self, ops: list[Op], groups: dict[str, Group], clocks: Clocks) -> list[Op]:
        """A failover names a stale VIP left on the old holder; incidents comparing nodes show their offsets."""
        for op in ops:
            if not isinstance(op, Incident) or op.kind not in ("failover", "split_brain", "no_master"):
                continue
            offsets = {n: clocks.offset(n) for n in op.nodes if abs(clocks.offset(n)) >= CLOCK_SHOWN_NS}
            if offsets:
                op.data["clock_offsets_ns"] = offsets
            group = groups.get(op.instance or "")
            old = op.data.get("old_holder")
            stale = self.stale_of(old, group) if op.kind == "failover" and group is not None and old else None
            if stale is not None:
                vip, interface = stale
                op.data["stale_vip"] = {"node": old, "vip": vip, "interface": interface}
                op.summary += f"; {old} still holds {vip} on {interface} (stale VIP)"
                op.severity = "critical"  # two hosts answer ARP for the VIP: the stale_vip's own severity
        return ops


def clock_incidents(clocks: Clocks, now: int) -> list[Op]:
    """A clock_offset incident for a node whose offset (from a full exchange) passed the bound; closed when
    it is back under half of it."""
    ops: list[Op] = []
    for minion in sorted(clocks.changed):
        clock = clocks.clocks[minion]
        off = clock.offset_ns
        trusted = clock.delay_ns is not None and clock.delay_ns < OFFSET_BOUND_NS
        if trusted and abs(off) > OFFSET_BOUND_NS and clock.reported is None:
            clock.reported = f"clock_offset:{minion}:{off / S:+.0f}s"
            ops.append(Incident("clock_offset", None, now, describe(minion, off), clock.reported, nodes=[minion],
                                data={"offset_ns": off, "delay_ns": clock.delay_ns}))
        elif clock.reported is not None and abs(off) < OFFSET_BOUND_NS // 2:
            ops.append(Close(clock.reported, now, {"offset_ns": off}))
            clock.reported = None
    clocks.changed.clear()
    return ops
