"""Pair lint for the topologies beyond the seed's (pairlint.py runs it): unicast, address families, sync
groups, the fast profile. Findings are (severity, instance, message), over each minion's parsed config.

Errors (keepalived would not work as meant):
- unicast peers not symmetric: a node lists a peer that does not list it back (by its unicast_src_ip or
  its address), or one side is unicast while the other sends multicast;
- unicast_src_ip not an address of the node (from its grains): keepalived cannot send from it;
- v4 and v6 VIPs in one instance: keepalived drops the addresses of the other family ("address family must
  match VRRP instance - ignoring"): put the v6 ones in an instance of their own, in a vrrp_sync_group;
- a sync group whose members differ between nodes, or whose members' virtual_router_ids do.
Warnings: a profile too tight for the scheduling jitter measured under load (bench/run lab,
`sched_jitter_ms_max`): a backup takes over after 3 adverts without one, so when 3 x advert_int is within
JITTER_MARGIN times that jitter, a busy master's late adverts are a failover (a false flap).
"""

from collections.abc import Iterable, Mapping

from hamaster.core.keepalived_conf import KeepalivedConf, VrrpInstance

MEASURED_JITTER_MS = 135.0  # sched_jitter_ms_max, bench/run lab, 2026-12-02 (docs/benchmarks.md)
JITTER_MARGIN = 3

Finding = tuple[str, str, str]


def check(confs: dict[str, KeepalivedConf], addresses: Mapping[str, Iterable[str]] | None = None,
          jitter_ms: float = MEASURED_JITTER_MS) -> list[Finding]:
    """`confs`: minion -> its parsed keepalived.conf; `addresses`: minion -> its addresses (grains), when known."""
    out: list[Finding] = []
    by_name: dict[str, dict[str, VrrpInstance]] = {}
    for minion, conf in sorted(confs.items()):
        for inst in conf.instances.values():
            by_name.setdefault(inst.name, {})[minion] = inst
            out += _alone(minion, inst, set(addresses[minion]) if addresses and minion in addresses else None,
                          jitter_ms)
    for name, sides in by_name.items():
        if len(sides) > 1:
            out += _unicast(name, sides)
    out += _sync_groups(confs)
    return out


def _alone(minion: str, inst: VrrpInstance, addresses: set[str] | None, jitter_ms: float) -> list[Finding]:
    out: list[Finding] = []
    families = {"inet6" if ":" in v else "inet" for v in inst.vips}
    if len(families) > 1:
        out.append(("error", inst.name, f"{minion}: v4 and v6 VIPs in one instance"
                    f" ({', '.join(inst.vips)}): keepalived keeps only those of the first one's family; give the"
                    " others an instance of their own, tied to this one by a vrrp_sync_group"))
    if inst.unicast_src_ip and addresses is not None and inst.unicast_src_ip not in addresses:
        out.append(("error", inst.name, f"{minion}: unicast_src_ip {inst.unicast_src_ip} is not an address of"
                    f" the node (it has {', '.join(sorted(addresses)) or 'none'})"))
    takeover_ms = 3 * inst.advert_int * 1000
    if takeover_ms < JITTER_MARGIN * jitter_ms:
        out.append(("warning", inst.name, f"{minion}: advert_int {inst.advert_int:g} s is too tight: a backup"
                    f" takes over after {takeover_ms:.0f} ms without an advert, within {JITTER_MARGIN}x the"
                    f" scheduling jitter measured under load ({jitter_ms:.0f} ms): a busy master would lose"
                    " the VIP (use advert_int of at least"
                    f" {JITTER_MARGIN * jitter_ms / 3000:.2f} s)"))
    return out


def _unicast(name: str, sides: dict[str, VrrpInstance]) -> list[Finding]:
    unicast = {m for m, i in sides.items() if i.unicast_peers}
    if not unicast:
        return []
    if unicast != set(sides):
        multicast = sorted(set(sides) - unicast)
        return [("error", name, f"unicast on {', '.join(sorted(unicast))} but multicast on {', '.join(multicast)}:"
                 " they do not hear each other")]
    out: list[Finding] = []
    for a, ia in sorted(sides.items()):
        for b, ib in sorted(sides.items()):
            if a != b and ia.unicast_src_ip and ia.unicast_src_ip not in ib.unicast_peers:
                out.append(("error", name, f"unicast peers not symmetric: {a} sends from {ia.unicast_src_ip},"
                            f" which {b}'s unicast_peer ({', '.join(ib.unicast_peers)}) does not list"))
    return out


def _sync_groups(confs: dict[str, KeepalivedConf]) -> list[Finding]:
    out: list[Finding] = []
    names = sorted({g for conf in confs.values() for g in conf.sync_groups})
    for group in names:
        have = {m: c for m, c in sorted(confs.items()) if group in c.sync_groups}
        if len(have) < 2:
            continue
        members = {m: c.sync_groups[group].members for m, c in have.items()}
        if len({tuple(sorted(v)) for v in members.values()}) > 1:
            shown = "; ".join(f"{m}: {', '.join(v)}" for m, v in members.items())
            out.append(("error", group, f"sync group members differ: {shown}"))
            continue
        vrids = {m: tuple(str(c.instances[i].vrid) if i in c.instances else "?" for i in sorted(members[m]))
                 for m, c in have.items()}
        if len(set(vrids.values())) > 1:
            order = ", ".join(sorted(next(iter(members.values()))))
            shown = "; ".join(f"{m}: {', '.join(v)}" for m, v in vrids.items())
            out.append(("error", group, f"sync group's virtual_router_ids differ ({order}): {shown}"))
    return out
