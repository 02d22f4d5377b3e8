"""`hamaster check`: the readiness of every pair, as findings with what to do.

Covered here: a minion not connected; an instance with no MASTER or two; a BACKUP that could not take over
(FAULT, not running the instance, drained, its nginx not answering: readiness.py); a drained node; and, from
the minions' `minion/keepalived/config` facts, VRID and VIP mismatches between the pair's live configs and
a tracked weight that cannot flip mastership against the priority gap; preemption (a node of higher
priority held BACKUP by nopreempt, waiting its preempt_delay, or overdue: preemption_findings); the
correlator's open stale_vip (a VIP on a node whose keepalived is dead, BACKUP or FAULT) and clock_offset
incidents; no drill in DRILL_STALE_DAYS (info when there was never one).
"""

import hashlib
from itertools import pairwise
from typing import Any

from hamaster.core.timeutil import now_ns
from hamaster.master.correlate import preemption
from hamaster.master.correlate.grouping import VrrpGroup
from hamaster.master.drills.readiness import Finding, peer_findings
from hamaster.master.drills.snapshot import Snapshot

DRILL_STALE_DAYS = 30


def findings(snap: Snapshot, last_drill_ns: int | None) -> list[Finding]:
    out: list[Finding] = []
    live = snap.status.get("minions", {})
    for m in snap.minions():
        if snap.online and not snap.online.get(m):
            out.append(Finding("error", None, m, f"{m}'s minion is not connected to the master",
                               f"start haminion on {m}; `haminion doctor` on {m} says what is wrong"))
        elif snap.is_drained(m):
            out.append(Finding("warning", None, m, f"{m} is drained: it will not take over",
                               f"`hamaster undrain {m}` when its maintenance is over"))
        spool, skipped = live.get(m, {}).get("spool", "ok"), live.get(m, {}).get("reconcile_skipped", 0)
        if spool != "ok":
            out.append(Finding("error", None, m, f"{m}'s spool: {spool} (its events wait on the node)",
                               f"free space where {m}'s spool_dir is; `haminion doctor` on {m}"))
        if skipped:
            out.append(Finding("warning", None, m, f"{m} skipped {skipped} of keepalived's state dumps: missed "
                               "transitions cannot be recovered", "give keepalived its own TMPDIR (README: "
                               "PrivateTmp=yes); `haminion doctor` on " + m + " checks it"))
    for g in snap.groups():  # the VRRP groups on the wire (grouping.py), not the instance names
        members, inst = g.nodes, g.label
        masters = [m for m in members if snap.state_in(m, g) == "MASTER"]
        if not masters:
            out.append(Finding.of("error", g, None, f"{inst} has no MASTER: nobody serves its VIPs",
                                  "`hamaster timeline --since 1h` shows why; check keepalived and the check script"))
        elif len(masters) > 1:
            out.append(Finding.of("error", g, None, f"{inst} has two MASTERs ({', '.join(masters)}): split brain",
                                  "check that the nodes hear each other's VRRP (firewall: IP protocol 112)"))
        for m in members:
            if m in masters:
                continue
            said = {f.problem for f in out}  # a minion not connected or drained is said once, above
            out += [f for f in peer_findings(snap, g, m) if f.problem not in said and "drained" not in f.problem]
        out += config_findings(snap, g, members)
    out += preemption_findings(snap, now_ns())
    for inc in snap.standing:
        node = inc.nodes[0] if inc.nodes else None
        if inc.kind == "stale_vip":
            out.append(Finding("error", inc.instance, node, inc.summary,
                               f"start keepalived on {node} or remove the address there (`ip addr del`): "
                               "users may reach a node that does not serve"))
        else:
            out.append(Finding("warning", inc.instance, node, inc.summary,
                               f"sync {node}'s clock (chrony or systemd-timesyncd): events are ordered by node time"))
    if last_drill_ns is None or now_ns() - last_drill_ns > DRILL_STALE_DAYS * 86400 * 10**9:
        out.append(Finding("warning" if last_drill_ns else "info", None, None, "no drill " + (
            "yet" if last_drill_ns is None else f"in {DRILL_STALE_DAYS} days") + ": failover is not proven here",
            "`hamaster drill` (a planned, measured, reversible move of the VIP)"))
    return out


def preemption_findings(snap: Snapshot, now: int) -> list[Finding]:
    """nopreempt / preempt_delay (master/correlate/preemption.py): a node of higher priority held BACKUP by
    choice or waiting its delay is said (info); one that should have taken over by now is a warning."""
    believed = {m: online for m, online in snap.online.items()}
    out = []
    for p in preemption.site(snap.vrrp, snap.priorities, snap.configs, believed, now, snap.correlator):
        if p.kind == "overdue":
            todo = (f"`hamaster timeline --since 1h` on {p.preferred}: does it hear {p.holder}'s adverts? "
                    "its priority (a tracked script's weight) may be lower than its config says")
        else:
            todo = ("nothing, unless you want the VIP back now: `hamaster drill` moves it, measured"
                    if p.kind == "held_by_choice" else "nothing: keepalived takes it back then")
        out.append(Finding("warning" if p.kind == "overdue" else "info", p.instance, p.preferred, p.summary, todo,
                           p.group))
    return out


def config_findings(snap: Snapshot, group: VrrpGroup | str, members: list[str]) -> list[Finding]:
    """From the live configs' facts (minion/keepalived/config): what keeps the pair from working as one."""
    g = snap.group(group)
    facts: dict[str, dict[str, Any]] = {m: f for m in members if (f := snap.facts(m, g.instance_of(m) or g.instance))}
    out: list[Finding] = []
    if len(facts) < 2:
        return out
    for label, key in (("virtual_router_id", "vrid"), ("VIPs", "vips")):
        values = {m: f.get(key) for m, f in facts.items()}
        if len({str(v) for v in values.values()}) > 1:
            shown = ", ".join(f"{m}={v}" for m, v in values.items())
            out.append(Finding.of("error", g, None, f"{label} differ between the live configs: {shown}",
                               "`hamaster apply states/` writes the same to both (a hand edit?)"))
    if len({f.get("auth_digest") for f in facts.values()}) > 1:  # a digest only: never the secret
        out.append(Finding.of("error", g, None, f"authentication differs between the live configs of "
                           f"{', '.join(facts)}: they drop each other's adverts",
                           "`hamaster apply states/` writes the pillar's auth_pass to both (a hand edit?)"))
    ranked = sorted(facts.items(), key=lambda kv: -int(kv[1].get("priority", 100)))
    for (hi, hf), (lo, lf) in pairwise(ranked):
        gap = int(hf.get("priority", 100)) - int(lf.get("priority", 100))
        for track, weight in (hf.get("tracked") or {}).items():
            if weight and abs(int(weight)) <= gap:
                out.append(Finding.of("warning", g, hi, f"{track} weight {weight} cannot flip mastership: "
                                   f"{hi} {hf.get('priority')} vs {lo} {lf.get('priority')} (gap {gap})",
                                   "raise the weight above the priority gap (pillar) and `hamaster apply`"))
    return out


def drift_findings(snap: Snapshot, rendered: dict[str, str | None], apply_hint: str) -> list[Finding]:
    """A live keepalived.conf (its sha256, from the minion's config event) that differs from what `apply`
    would write now (`rendered`: minion -> the state tree's keepalived.conf for it): a hand edit, or an apply
    not run since the tree changed."""
    out = []
    for m, text in sorted(rendered.items()):
        live = snap.configs.get(m, {}).get("sha256")
        if text is None or not live:
            continue
        if hashlib.sha256(text.encode()).hexdigest() != live:
            path = snap.configs[m].get("path") or "keepalived.conf"
            out.append(Finding("warning", None, m, f"{path} on {m} differs from what `hamaster apply` would write "
                               "(drift: a hand edit, or the tree changed since the last apply)",
                               f"`{apply_hint} -t {m} --test` shows the diff; apply it, or move the edit into the "
                               "state tree"))
    return out
