"""Is a pair ready to lose its MASTER? Findings about the peer that would take over, each with what to do.

`drain` and `drill` refuse when a finding about the peer is an error; `check` reports them all (and more).
"""

from dataclasses import asdict, dataclass
from typing import Any

from hamaster.master.correlate.grouping import VrrpGroup
from hamaster.master.drills.snapshot import Snapshot, serves_page


@dataclass(frozen=True)
class Finding:
    severity: str  # error (a failover would not work) | warning (it would, not as meant) | info
    instance: str | None
    node: str | None
    problem: str
    todo: str  # what to do about it
    group: str | None = None  # the VRRP group's label (grouping.py): its instance name when that is unique

    @classmethod
    def of(cls, severity: str, group: VrrpGroup, node: str | None, problem: str, todo: str) -> "Finding":
        """A finding about `group` (on `node`): its instance as `node` names it."""
        return cls(severity, (group.instance_of(node) if node else None) or group.instance, node, problem, todo,
                   group.label)

    def line(self) -> str:
        where = "/".join(x for x in (self.group or self.instance, self.node) if x)
        return f"{self.severity}: {where + ': ' if where else ''}{self.problem} -> {self.todo}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def peer_findings(snap: Snapshot, group: VrrpGroup | str, peer: str, *, ask_page: bool = True) -> list[Finding]:
    """What would keep `peer` from taking `group` (or the instance of that name) over now."""
    g = snap.group(group)
    out = []
    if snap.online and not snap.online.get(peer):
        out.append(Finding.of("error", g, peer, f"{peer}'s minion is not connected to the master",
                              f"start haminion on {peer} (`haminion doctor` says what is wrong)"))
    state = snap.state_in(peer, g)
    if state == "FAULT":
        out.append(Finding.of("error", g, peer, f"{peer} is in FAULT",
                              f"fix what keepalived tracks on {peer} (its check script, interfaces): "
                              f"`hamaster timeline --since 1h` shows when it went FAULT"))
    elif state in (None, "STOP"):
        out.append(Finding.of("error", g, peer, f"keepalived on {peer} does not run {g.label}"
                              + (" (stopped)" if state else ""), f"start keepalived on {peer}"))
    if snap.is_drained(peer):
        out.append(Finding.of("error", g, peer, f"{peer} is drained", f"`hamaster undrain {peer}` first"))
    if ask_page:
        page = serves_page(snap, peer)
        if page is False:
            out.append(Finding.of("error", g, peer, f"nginx on {peer} does not answer its page on "
                                  f"{', '.join(snap.addresses(peer))} (its check script fails)",
                                  f"start or repair nginx on {peer} (`nginx -t`, its error log)"))
    return out


def peers(snap: Snapshot, group: VrrpGroup | str, holder: str) -> list[str]:
    """The other nodes of the holder's group: never a node of another pair that names its instance alike."""
    return [m for m in snap.members(group) if m != holder]


def takeover_findings(snap: Snapshot, holder: str, *, ask_page: bool = True) -> dict[str, list[Finding]]:
    """For each group `holder` is MASTER of (by its label), what keeps every peer from taking over (an empty
    list for a group that has a ready peer)."""
    out = {}
    for instance in snap.held_by(holder):
        g = snap.group_of(holder, instance)
        candidates = peers(snap, g, holder)
        if not candidates:
            out[g.label] = [Finding.of("error", g, holder, f"{holder} has no peer for {g.label}",
                                       "a pair needs two nodes with the same vrrp_instance")]
            continue
        found = [peer_findings(snap, g, p, ask_page=ask_page) for p in candidates]
        out[g.label] = [] if any(not f for f in found) else [f for fs in found for f in fs]
    return out
