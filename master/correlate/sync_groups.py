"""vrrp_sync_group: instances that must move together, correlated as a group of groups.

keepalived tells a sync group's transitions on their own (notify `GROUP VG_1 MASTER`, FIFO `GROUP "VG_1"
MASTER`): the minion marks them data.type "GROUP", and the correlator runs them through a Group of their own
(named for the sync group) like any instance. Which instances are members comes from each node's keepalived
config (the minion's `minion/keepalived/config` event, data.sync_groups). With that known:

- a failover of the sync group is one incident (the sync group's own, naming its members and all their
  VIPs); the members' own failover, no MASTER, flapping and their recovered are folded into it (not
  stored): one alert per failover, not one per member. A member's split brain is not folded: it can be
  its own (that member's VRRP traffic alone is lost, say the v6 one) while the sync group is whole;
- members held by different nodes (one left behind) for longer than `split_brain_after_s` is a `sync_split`
  incident, closed when they are together again. Its key comes from the MASTER transition that parted
  them, so the same history always gives the same key.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hamaster.core.incidents import Incident
from hamaster.master.correlate.vrrp_group import Close, Group, Op, Transition

S = 1_000_000_000
FOLDED = ("failover", "no_master", "flapping", "recovered")


@dataclass(slots=True)
class Split:
    key: str
    since_ns: int
    holders: dict[str, str]  # member instance -> its MASTER
    reported: bool = False


@dataclass(slots=True)
class SyncGroups:
    split_after_s: float
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sync group -> member instances
    nodes: dict[str, set[str]] = field(default_factory=dict)  # sync group -> the minions whose config has it
    splits: dict[str, Split] = field(default_factory=dict)

    def config(self, minion: str, data: dict[str, Any]) -> None:
        """A node's keepalived config facts (data.sync_groups: {name: [members]})."""
        groups = data.get("sync_groups")
        if not isinstance(groups, dict):
            return
        for nodes in self.nodes.values():
            nodes.discard(minion)
        for name, members in groups.items():
            if isinstance(members, list | tuple):
                self.members[str(name)] = tuple(sorted({str(m) for m in members}))
                self.nodes.setdefault(str(name), set()).add(minion)

    def sync_group_of(self, instance: str | None, nodes: Iterable[str]) -> str | None:
        """The sync group `instance` is a member of on any of `nodes`."""
        nodes = set(nodes)
        return next((name for name, members in sorted(self.members.items())
                     if instance in members and nodes & self.nodes.get(name, set())), None)

    def fold(self, ops: list[Op], groups: dict[str, Group]) -> list[Op]:
        """Drop the members' own incidents; name the members (and their VIPs) in the sync group's."""
        out: list[Op] = []
        for op in ops:
            if isinstance(op, Incident) and op.kind in FOLDED:
                members = self.members.get(op.instance or "")
                if members:  # the sync group's own
                    vips = sorted({v for g in groups.values() if g.name in members for v in g.vips})
                    op.data.update(members=list(members), vips=vips, sync_group=True)
                    if op.kind == "failover":
                        op.summary = op.summary.replace(f"{op.instance} moved",
                                                        f"{op.instance} ({', '.join(members)}) moved", 1)
                elif self.sync_group_of(op.instance, op.nodes) and not str(
                        op.data.get("closes_key", "")).startswith("split_brain:"):
                    continue  # a member's: its sync group's incident says it
            out.append(op)
        return out

    def check(self, groups: dict[str, Group], now: int | None) -> list[Op]:
        """Open a sync_split for members held by different nodes (for `split_after_s`, `now` None: no
        waiting, only closing), close it when they are together again."""
        ops: list[Op] = []
        if not self.members:
            return ops
        wanted = {m for members in self.members.values() for m in members}
        by_name: dict[str, list[Group]] = {}
        for g in groups.values():
            if g.name in wanted:
                by_name.setdefault(g.name, []).append(g)
        for name, members in sorted(self.members.items()):
            nodes = self.nodes.get(name, set())
            holders: dict[str, str] = {}
            deciding: list[Transition] = []
            latest = 0  # the newest transition of any member: what brought them together again
            for member in members:
                mine = [g for g in by_name.get(member, ()) if nodes & set(g.members)]
                latest = max([latest, *(t.node_ns for g in mine for t in g.members.values())])
                masters = [m for g in mine for m in g.masters()]
                if len(masters) == 1:
                    holders[member] = masters[0]
                    deciding.append(next(g.members[masters[0]] for g in mine if masters[0] in g.members))
            split = self.splits.get(name)
            apart = len(holders) == len(members) > 1 and len(set(holders.values())) > 1
            if apart and split is None:
                last = max(deciding)  # the MASTER transition that parted them
                self.splits[name] = split = Split(f"sync_split:{name}:{last.key}", last.node_ns, holders)
            elif not apart and split is not None:
                del self.splits[name]
                if split.reported:
                    ops.append(Close(split.key, latest, {"holders": holders}))
                continue
            if split is None or split.reported or now is None or now - split.since_ns < self.split_after_s * S:
                continue
            split.reported = True
            where = ", ".join(f"{m} on {n}" for m, n in sorted(holders.items()))
            vips = sorted({v for m in members for g in by_name.get(m, ()) for v in g.vips})
            ops.append(Incident("sync_split", name, split.since_ns, f"sync group {name} is split: {where}"
                                " (its members must move together)", split.key, nodes=sorted(set(holders.values())),
                                data={"members": list(members), "holders": holders, "vips": vips}))
        return ops
