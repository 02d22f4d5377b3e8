"""The dashboard's document: who holds which VIP now, each node's word, open incidents (`/api/status`).

Shaped like `hamaster status --json` (master, counters, refused, store, minions: the same keys), plus

    groups     one per VRRP group (master/correlate/grouping.py: the correlator's rule; its name is the
               instance name when no other group has it, else e.g. `VI_1 (VRID 52, 10.1.2.0/24)`):
               instance, vrid, vips, holder (the MASTERs the dashboard believes), state (ok | no_master |
               split_brain | unknown), nodes (state, priority, since, online, keepalived,
               nginx, vips held, clock offset), what the master's VIP probe sees answering, and preemption
               (nopreempt / preempt_delay: held_by_choice | pending | overdue, master/correlate/preemption.py)
    incidents  open: still going (a split brain, a silent node, a stale VIP ...); recent: the last hour's

A MASTER is believed as the correlator believes it (DESIGN "The truth model"): only while its node is heard
and its keepalived is not reported dead. A silent node's last word is shown as such, never as its state now.
"""

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hamaster.core.config import MasterConfig
from hamaster.core.incidents import Incident
from hamaster.core.keepalived_conf import instance_facts
from hamaster.core.timeutil import to_datetime
from hamaster.master.correlate import grouping, preemption
from hamaster.master.web.state import SiteState, Word

# incidents that last until closed; a failover, recovered or node_back is a moment
MOMENTS = ("failover", "recovered", "node_back")
OPEN_KINDS = ("split_brain", "no_master", "flapping", "node_silent", "stale_vip", "clock_offset", "sync_split")
PROBE_MINION = "@probe"
CONFIG_TAG = "minion/keepalived/config"


@dataclass(frozen=True)
class Live:
    """What the running master said on its control socket (None fields: it did not answer)."""

    up: bool
    minions: dict[str, dict[str, Any]]
    counters: dict[str, Any]
    refused: dict[str, Any]
    store: dict[str, Any]


def _sort_vips(vips: Iterable[str]) -> list[str]:
    return sorted({str(v).split("/")[0] for v in vips if v}, key=_vip_order)


@functools.lru_cache(maxsize=65536)
def _vip_order(v: str) -> tuple[int, int, str]:
    """IPv4 before IPv6, by number; what is not an address after, by name."""
    try:
        addr = ipaddress.ip_address(v)
        return (addr.version, int(addr), "")
    except ValueError:
        return (9, 0, v)


def _iso(ns: int | None) -> str | None:
    return to_datetime(ns).isoformat() if ns else None


def build(site: SiteState, cfg: MasterConfig, live: Live, last_seen: dict[str, int | None],
          incidents: list[Incident], now_ns: int) -> dict[str, Any]:
    silent_ns = int(cfg.silent_after * 1e9)
    flush_ns = 2 * 10**9  # the master writes last_seen every 2 s (master/intake/timers.py)
    names = sorted({m for m, _ in site.vrrp} | {m for m, _ in site.beacons} | set(last_seen) | set(live.minions))
    names = [m for m in names if not m.startswith("@")]
    silent_nodes = {n for i in incidents if i.kind == "node_silent" and i.ended_ns is None for n in i.nodes}
    instances: dict[str, dict[str, dict[str, Any]]] = {}
    for (node, inst), w in sorted(site.vrrp.items()):
        instances.setdefault(node, {})[inst] = {"state": w.value, "priority": w.priority}
    held_by: dict[str, list[str]] = {}
    for (node, fam), w in site.beacons.items():
        if fam.startswith("vip/") and w.value == "held":
            held_by.setdefault(node, []).append(fam[len("vip/"):])
    minions: dict[str, dict[str, Any]] = {}
    for m in names:
        info = live.minions.get(m, {})
        seen = info.get("last_seen_ns") or last_seen.get(m)
        if live.up and m in live.minions:
            online = bool(info.get("online"))
        else:  # from the store, which lags up to 2 s
            online = bool(seen) and now_ns - int(seen or 0) < silent_ns + flush_ns and m not in silent_nodes
        offset = site.clock_offset_ns(m)
        minions[m] = {
            "online": online,
            "last_seen": _iso(seen),
            "last_seen_ns": seen,
            "dropped": info.get("dropped", 0),
            "reconcile_skipped": info.get("reconcile_skipped", 0),
            "spool": info.get("spool", "ok"),
            "instances": instances.get(m, {}),
            "vips": _sort_vips(held_by.get(m, ())),
            "keepalived": _beacon(site, m, "keepalived"),
            "nginx": _beacon(site, m, "nginx"),
            "clock_offset_ms": None if offset is None else round(offset / 1e6, 1),
            "keepalived_conf": _conf(site, m),
        }
    return {
        "generated_ns": now_ns,
        "master": "up" if live.up else "down",
        "counters": live.counters,
        "refused": live.refused,
        "store": live.store,
        "minions": minions,
        "groups": _groups(site, cfg, minions, now_ns),
        "incidents": {
            "open": [_incident(i) for i in incidents if i.ended_ns is None and i.kind in OPEN_KINDS],
            "recent": [_incident(i) for i in incidents if not (i.ended_ns is None and i.kind in OPEN_KINDS)][:20],
        },
    }


def _beacon(site: SiteState, node: str, family: str) -> str | None:
    word = site.beacons.get((node, family))
    return word.value if word else None


def _conf(site: SiteState, node: str) -> dict[str, Any] | None:
    """Which keepalived.conf the node's minion read (path, sha256), or why it could not."""
    word = site.beacons.get((node, CONFIG_TAG))
    if word is None:
        return None
    return {k: word.data[k] for k in ("path", "sha256", "error") if isinstance(word.data.get(k), str)}


def _incident(i: Incident) -> dict[str, Any]:
    gap = i.data.get("gap_ns")
    return {"id": i.id, "kind": i.kind, "severity": i.severity, "instance": i.instance, "nodes": i.nodes,
            "summary": i.summary, "started_ns": i.started_ns, "ended_ns": i.ended_ns,
            "gap_ns": gap if isinstance(gap, int) else None, "planned": i.planned}


def _facts(site: SiteState, node: str, instance: str) -> dict[str, Any]:
    """The instance as the node's keepalived.conf says (the minion's minion/keepalived/config event)."""
    word = site.beacons.get((node, CONFIG_TAG))
    return instance_facts(word.data if word else None, instance)


def _setting(cfg: MasterConfig, name: str, default: Any) -> Any:
    """A `correlator:` setting: the schema's object once the daemon's loader built it, or a plain mapping."""
    section = cfg.correlator
    return section.get(name, default) if isinstance(section, dict) else getattr(section, name, default)


def _groups(site: SiteState, cfg: MasterConfig, minions: dict[str, dict[str, Any]],
            now_ns: int) -> list[dict[str, Any]]:
    hints = _setting(cfg, "instances", {}) or {}
    words = {mi: word for mi, word in site.vrrp.items() if not mi[0].startswith("@")}
    # the correlator's rule (grouping.py): the live config's facts, else what the transition said
    found = grouping.site_groups({(node, instance): {**word.data, **_facts(site, node, instance)}
                                  for (node, instance), word in words.items()}, cfg.correlator)
    label = {mi: g.label for g in found for mi in g.members}
    by_key: dict[str, dict[str, Any]] = {}
    for (node, instance), word in sorted(words.items()):
        facts = _facts(site, node, instance)
        vips = [*(word.data.get("vips") or ()), *(facts.get("vips") or ())]
        hint = hints.get(instance) or {}
        if hint.get("vip"):
            vips.append(str(hint["vip"]))
        vrid = next((v for v in (word.data.get("vrid"), facts.get("vrid"), hint.get("router_id"))
                     if isinstance(v, int)), None)
        key = label[(node, instance)]
        group = by_key.setdefault(key, {"name": key, "instances": set(), "vrid": None, "vips": set(), "nodes": []})
        group["instances"].add(instance)
        group["vips"].update(_sort_vips(vips))
        group["vrid"] = group["vrid"] if group["vrid"] is not None else vrid
        group["nodes"].append(_member(node, instance, word, minions.get(node, {})))
    out = []
    for key in sorted(by_key):
        g = by_key[key]
        nodes = g["nodes"]
        for n in nodes:  # VIPs a member holds name the group's VIPs too (the vip beacon), until facts come
            if n["state"] == "MASTER":
                g["vips"].update(minions.get(n["node"], {}).get("vips", ()))
        holders = [n["node"] for n in nodes if n["believed"] and n["state"] == "MASTER"]
        unknown = [n for n in nodes if not n["believed"]]
        state = "split_brain" if len(holders) > 1 else "ok" if holders else "unknown" if unknown else "no_master"
        vips = _sort_vips(g["vips"])
        out.append({"name": key, "instances": sorted(g["instances"]), "vrid": g["vrid"], "vips": vips,
                    "holder": holders, "state": state, "nodes": nodes,
                    "probe": _probes(site, cfg, vips, [n["node"] for n in nodes]),
                    "preemption": _preemption(site, key, nodes, now_ns)})
    return out


def _preemption(site: SiteState, name: str, nodes: list[dict[str, Any]], now_ns: int) -> dict[str, Any] | None:
    """nopreempt / preempt_delay (master/correlate/preemption.py): held by choice, pending until, overdue."""
    members, facts = [], {}
    for n in nodes:
        prio, since = n["priority"], n["since_ns"]
        live = site.beacons.get((n["node"], f"priority/{n['instance']}"))
        if live is not None and live.node_ns >= since and live.value and live.value.isdigit():
            prio, since = int(live.value), live.node_ns
        members.append(preemption.Member(n["node"], n["state"], prio, since, n["believed"]))
        facts[n["node"]] = _facts(site, n["node"], n["instance"])
    found = preemption.assess(name, members, facts, now_ns)
    return found.to_dict() if found else None


def _member(node: str, instance: str, word: Word, info: dict[str, Any]) -> dict[str, Any]:
    online = bool(info.get("online"))
    believed = online and info.get("keepalived") != "down"
    return {"node": node, "instance": instance, "state": word.value, "priority": word.priority,
            "since_ns": word.node_ns, "online": online, "believed": believed,
            "keepalived": info.get("keepalived"), "nginx": info.get("nginx"),
            "vips_held": info.get("vips", []), "clock_offset_ms": info.get("clock_offset_ms")}


def _probes(site: SiteState, cfg: MasterConfig, vips: list[str], nodes: list[str]) -> list[dict[str, Any]]:
    """What the master's probe of each of the group's VIPs sees answering (a probe whose nodes are the
    group's counts too, while the group's VIPs are not known yet)."""
    out = []
    for p in cfg.probes:
        if p.vip not in vips and not (p.nodes and set(p.nodes) <= set(nodes)):
            continue
        word = site.beacons.get((PROBE_MINION, f"probe/{p.vip}"))
        out.append({"vip": p.vip, "answering": None if word is None else word.value,
                    "since_ns": None if word is None else word.node_ns})
    return out
