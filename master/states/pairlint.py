"""Pair lint: compare the rendered keepalived.conf of minions that share a vrrp_instance, before any change.

Errors (the pair would not work as one): virtual_router_id, authentication or VIPs differ; the drain track
file (`hamaster drain`) whose weight cannot move the VIPs away (not larger than the priority gap, or any
weight but 0 when the peers run nopreempt: see `_stuck_under_nopreempt`).
Warnings (it works, not as meant): priorities tie; a tracked script or process whose weight cannot flip
mastership (|weight| not larger than the priority gap); auth_pass longer than the 8 characters keepalived
keeps. Messages never show auth_pass itself. Then topolint.py's checks: unicast, address families, sync
groups, a profile too tight.
"""

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from hamaster.core import keepalived_conf
from hamaster.core.keepalived_conf import VrrpInstance
from hamaster.master.states import topolint

AUTH_PASS_MAX = 8
DRAIN_TRACK = "hamaster_drain"  # the track_file `hamaster drain` writes (states/files/keepalived.conf.j2)


@dataclass(frozen=True)
class Lint:
    severity: str  # error | warning
    instance: str
    message: str


@dataclass(frozen=True)
class Member:
    """One minion's side of an instance."""

    minion: str
    conf: VrrpInstance

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conf, name)


# -- the lint ------------------------------------------------------------------------------------------------
def lint(configs: dict[str, str], addresses: dict[str, list[str]] | None = None) -> list[Lint]:
    """`configs`: minion id -> its rendered keepalived.conf. Lints for every instance shared by 2+ minions;
    then the topology checks (topolint.py), `addresses`: minion -> its addresses (grains) when known."""
    by_name: dict[str, list[Member]] = {}
    parsed = {minion: keepalived_conf.parse(text) for minion, text in sorted(configs.items())}
    for minion, conf in parsed.items():
        for inst in conf.instances.values():
            by_name.setdefault(inst.name, []).append(Member(minion, inst))
    out: list[Lint] = []
    for name, group in (pair for name, members in by_name.items() for pair in _pairs(name, members)):
        for member in group:
            for entry in member.auth:
                key, _, value = entry.partition(" ")
                if key == "auth_pass" and len(value) > AUTH_PASS_MAX:
                    out.append(Lint("warning", name, f"{member.minion}: auth_pass is {len(value)} characters; "
                                    f"keepalived uses only the first {AUTH_PASS_MAX}"))
        if len(group) < 2:
            continue
        for label, attr in (("virtual_router_id", "vrid"), ("VIPs", "vips")):
            values = {m.minion: getattr(m, attr) for m in group}
            if len(set(values.values())) > 1:
                shown = ", ".join(f"{k}={' '.join(v) if isinstance(v, tuple) else v}" for k, v in values.items())
                out.append(Lint("error", name, f"{label} differ: {shown}"))
        if len({m.auth for m in group}) > 1:  # never print the secret itself
            out.append(Lint("error", name, f"authentication differs between {', '.join(m.minion for m in group)}"))
        stuck = _stuck_under_nopreempt(name, group)
        out += stuck
        ranked = sorted(group, key=lambda m: -m.priority)
        for hi, lo in pairwise(ranked if not stuck else []):  # (what stuck says comes first)
            if hi.priority == lo.priority:
                out.append(Lint("warning", name, f"priorities tie: {hi.minion} and {lo.minion} both {hi.priority}"))
                continue
            gap = hi.priority - lo.priority
            for track, weight in hi.tracked.items():
                if track == DRAIN_TRACK and weight and abs(weight) <= gap:  # (weight 0: FAULT, moves them)
                    out.append(Lint("error", name, f"{track} weight {weight} cannot move the VIPs away on "
                                    f"`hamaster drain`: {hi.minion} {hi.priority} vs {lo.minion} {lo.priority} "
                                    f"(gap {gap}); raise pillar drain.weight above {gap}"))
                elif weight and abs(weight) <= gap:
                    out.append(Lint("warning", name, f"{track} weight {weight} cannot flip mastership: "
                                    f"{hi.minion} {hi.priority} vs {lo.minion} {lo.priority} (gap {gap})"))
    return out + [Lint(*found) for found in topolint.check(parsed, addresses)]


def _pairs(name: str, members: list[Member]) -> list[tuple[str, list[Member]]]:
    """The pairs that share an instance name: keepalived's sample calls it VI_1 and most sites keep that on
    every pair, told apart by VRID and VIPs. Members that agree on those, two or more, are a pair of their own
    (named by the VRID); the lone ones left are one pair whose configs disagree, which the lint is for; a
    single lone one belongs to nobody known, so then the name stays one group (as before)."""
    split: dict[tuple[int, tuple[str, ...]], list[Member]] = {}
    for m in members:
        split.setdefault((m.vrid, m.vips), []).append(m)
    pairs = [(f"{name} (VRID {vrid})", ms) for (vrid, _), ms in sorted(split.items()) if len(ms) > 1]
    lone = [ms[0] for ms in split.values() if len(ms) == 1]
    if len(split) < 2 or not pairs or len(lone) == 1:
        return [(name, members)]
    return pairs + ([(name, lone)] if lone else [])


def _stuck_under_nopreempt(name: str, group: list[Member]) -> list[Lint]:
    """A BACKUP under nopreempt accepts a live MASTER's adverts whatever their priority (keepalived), so a
    weight on the MASTER moves nothing: its failed check leaves the VIP where nginx is down, its drain times
    out. Only weight 0 (the node goes FAULT on failure) gives the VIP away."""
    out = []
    for m in group:
        peers = [o.minion for o in group if o is not m]
        if not all(o.nopreempt for o in group if o is not m):
            continue
        who = f"{', '.join(peers)} {'runs' if len(peers) == 1 else 'run'} nopreempt"
        out += [Lint("error" if track == DRAIN_TRACK else "warning", name,
                     f"{m.minion}: {track} weight {weight} cannot move the VIP away: {who} and never take over"
                     f" from a live MASTER for its priority; give it weight 0 (a failure makes {m.minion} FAULT)")
                for track, weight in m.tracked.items() if weight]
    return out
