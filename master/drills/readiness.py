"""Is a pair ready to lose its MASTER? Findings about the peer that would take over, each with what to do.

`drain` and `drill` refuse when a finding about the peer is an error; `check` reports them all (and more).
"""

from dataclasses import asdict, dataclass
from typing import Any

from hamaster.master.drills.snapshot import Snapshot, serves_page


@dataclass(frozen=True)
class Finding:
    severity: str  # error (a failover would not work) | warning (it would, not as meant) | info
    instance: str | None
    node: str | None
    problem: str
    todo: str  # what to do about it

    def line(self) -> str:
        where = "/".join(x for x in (self.instance, self.node) if x)
        return f"{self.severity}: {where + ': ' if where else ''}{self.problem} -> {self.todo}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def peer_findings(snap: Snapshot, instance: str, peer: str, *, ask_page: bool = True) -> list[Finding]:
    """What would keep `peer` from taking `instance` over now."""
    out = []
    if snap.online and not snap.online.get(peer):
        out.append(Finding("error", instance, peer, f"{peer}'s minion is not connected to the master",
                           f"start haminion on {peer} (`haminion doctor` says what is wrong)"))
    state = snap.state(peer, instance)
    if state == "FAULT":
        out.append(Finding("error", instance, peer, f"{peer} is in FAULT",
                           f"fix what keepalived tracks on {peer} (its check script, interfaces): "
                           f"`hamaster timeline --since 1h` shows when it went FAULT"))
    elif state in (None, "STOP"):
        out.append(Finding("error", instance, peer, f"keepalived on {peer} does not run {instance}"
                           + (" (stopped)" if state else ""), f"start keepalived on {peer}"))
    if snap.is_drained(peer):
        out.append(Finding("error", instance, peer, f"{peer} is drained", f"`hamaster undrain {peer}` first"))
    if ask_page:
        page = serves_page(snap, peer)
        if page is False:
            out.append(Finding("error", instance, peer, f"nginx on {peer} does not answer its page on "
                               f"{', '.join(snap.addresses(peer))} (its check script fails)",
                               f"start or repair nginx on {peer} (`nginx -t`, its error log)"))
    return out


def peers(snap: Snapshot, instance: str, holder: str) -> list[str]:
    return [m for m in snap.members(instance) if m != holder]


def takeover_findings(snap: Snapshot, holder: str, *, ask_page: bool = True) -> dict[str, list[Finding]]:
    """For each instance `holder` is MASTER of, what keeps every peer from taking over (an empty list for an
    instance that has a ready peer)."""
    out = {}
    for instance in snap.held_by(holder):
        candidates = peers(snap, instance, holder)
        if not candidates:
            out[instance] = [Finding("error", instance, holder, f"{holder} has no peer for {instance}",
                                     "a pair needs two nodes with the same vrrp_instance")]
            continue
        found = [peer_findings(snap, instance, p, ask_page=ask_page) for p in candidates]
        out[instance] = [] if any(not f for f in found) else [f for fs in found for f in fs]
    return out
