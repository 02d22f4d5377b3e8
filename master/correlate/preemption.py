"""nopreempt and preempt_delay: when "who should hold the VIP" and "who holds it" differ on purpose.

For one instance, from each node's config facts (priority, nopreempt, preempt_delay, advert_int: the
minion's `minion/keepalived/config` event), the nodes' states and live priorities (the FIFO's
`beacon/priority/<instance>/<n>` when newer than the transition) and the holder (the one MASTER its node
vouches for), `assess` says one of:

    held_by_choice  a node of higher priority is BACKUP under nopreempt: keepalived leaves the VIP where it
                    is; not a failover pending, not a fault
    pending         its preempt_delay runs: it takes over at `until_ns`
    overdue         it should have taken over by now (its delay and the master-down interval are over, and
                    a grace for the news to arrive): a finding of `hamaster check`

None: the holder has the highest priority, the preferred node uses neither nopreempt nor preempt_delay
(plain preemption: see `assess`), or nothing is known enough to say.

When keepalived preempts (keepalived.conf(5), preempt_delay): a BACKUP of higher priority ignores the
lower MASTER's adverts, so it takes over when its master-down timer runs out (3 x advert_int + skew, under
one advert_int), preempt_delay later than that, counted from when it became BACKUP at its start, or from when
its priority rose above the holder's (a tracked script recovered).
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from hamaster.core.keepalived_conf import instance_facts
from hamaster.core.timeutil import to_datetime
from hamaster.master.correlate import grouping

S = 1_000_000_000
GRACE_S = 3.0  # beyond keepalived's own moment: the transition's way to the master, a loaded node
KINDS = ("held_by_choice", "pending", "overdue")


@dataclass(frozen=True, slots=True)
class Member:
    node: str
    state: str | None
    priority: int | None  # effective, as the node last said it (transition or priority beacon)
    since_ns: int  # when it entered `state`, or its priority last changed: what starts keepalived's delay
    believed: bool = True  # heard, keepalived alive (DESIGN "The truth model")


@dataclass(frozen=True, slots=True)
class Preemption:
    instance: str
    kind: str  # one of KINDS
    holder: str
    preferred: str  # the BACKUP of highest priority, above the holder's
    holder_priority: int
    preferred_priority: int
    until_ns: int | None  # pending: when it takes over; overdue: when it should have
    summary: str
    group: str | None = None  # the VRRP group's label (grouping.py): its instance name when that is unique

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clock(ns: int) -> str:
    return to_datetime(ns).strftime("%H:%M:%S")


def _number(facts: dict[str, Any], key: str, default: float) -> float:
    value = facts.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def assess(instance: str, members: Iterable[Member], facts: dict[str, dict[str, Any]],
           now_ns: int) -> Preemption | None:
    """`facts`: node -> the instance's config facts on that node."""
    believed = [m for m in members if m.believed]
    masters = [m for m in believed if m.state == "MASTER"]
    if len(masters) != 1:
        return None  # no MASTER or two: the correlator's incidents say that
    holder = masters[0]

    def priority(m: Member) -> int | None:
        if m.priority is not None:
            return m.priority
        configured = facts.get(m.node, {}).get("priority")
        return configured if isinstance(configured, int) else None

    held = priority(holder)
    ranked = sorted(((p, m.node, m) for m in believed if m.state == "BACKUP" and (p := priority(m)) is not None
                     and held is not None and p > held), key=lambda t: (-t[0], t[1]))
    if held is None or not ranked:
        return None
    prio, _, preferred = ranked[0]
    own = facts.get(preferred.node, {})
    who = f"{preferred.node} (priority {prio})"
    if own.get("nopreempt") is True:
        return Preemption(instance, "held_by_choice", holder.node, preferred.node, held, prio, None,
                          f"{instance} held by {holder.node} (priority {held}) by choice: {who} is BACKUP under"
                          " nopreempt, not a failover pending")
    delay, advert = _number(own, "preempt_delay", 0.0), _number(own, "advert_int", 1.0)
    if delay <= 0:
        # plain preemption: keepalived's own business within moments. Said nothing of, because the priorities
        # known without vrrp_notify_priority_changes (the tree renders it only with nopreempt or preempt_delay)
        # are those of the last transitions, and a tracked script moves them silently: stale, they would make
        # false "overdue" warnings
        return None
    due = preferred.since_ns + round((delay + 4 * advert) * S)  # master-down: 3 adverts + skew (< 1 advert)
    if now_ns < due:
        return Preemption(instance, "pending", holder.node, preferred.node, held, prio, due,
                          f"{instance}: {who} takes over from {holder.node} (priority {held}) at {_clock(due)}"
                          f" (preempt_delay {delay:g} s)")
    if now_ns < due + round(GRACE_S * S):
        return None  # within keepalived's own moment: nothing to say yet
    return Preemption(instance, "overdue", holder.node, preferred.node, held, prio, due,
                      f"{instance}: {who} is BACKUP, yet {holder.node} (priority {held}) still holds it: it should"
                      f" have taken over by {_clock(due)}")


def site(vrrp: dict[str, dict[str, tuple[str, int | None, int]]], priorities: dict[tuple[str, str], tuple[int, int]],
         configs: dict[str, dict[str, Any]], believed: dict[str, bool], now_ns: int,
         settings: Any = None) -> list[Preemption]:
    """Every VRRP group of a site (grouping.py, by `settings`: master.yaml's `correlator:`), from what the
    store says: `vrrp` minion -> instance -> (state, priority, node_ns); `priorities` (minion, instance) ->
    (live priority, node_ns); `configs` minion -> its config event's data; `believed` minion -> whether its
    word counts now (missing: it does)."""

    out = []
    said = {(m, i): instance_facts(configs.get(m), i) for m, insts in vrrp.items() for i in insts}
    for group in grouping.site_groups(said, settings):
        members, facts = [], {}
        for node, instance in group.members:
            state, prio, since = vrrp[node][instance]
            live = priorities.get((node, instance))
            if live is not None and live[1] >= since:
                prio, since = live
            members.append(Member(node, state, prio, since, believed.get(node, True)))
            if said[(node, instance)]:
                facts[node] = said[(node, instance)]
        found = assess(group.label, members, facts, now_ns)
        if found is not None:
            out.append(replace(found, instance=group.instance_of(found.holder) or group.instance, group=group.label))
    return out
