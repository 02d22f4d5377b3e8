"""Which (minion, instance) are one VRRP group, and the group's name for people: one rule for the site.

keepalived's sample config names its instance VI_1 and most sites keep that name on every pair, so a name
is not a group. What is one group on the wire (`wire_key`): the address family, where the adverts are heard
(the minion's `network`, keepalived_conf.wire_network: the interface's network or the unicast endpoints;
from a minion that does not say it, the VIPs) and the virtual_router_id. `correlator.group_by` chooses the
rule (`key_of`): wire (the default), instance, vip or router_id (with `correlator.instances` hints), the
same for the correlator's stream of transitions (correlator.py) and for a picture of the site now
(`site_groups`: `hamaster check`, drill, drain, status's preemption and the dashboard).

The picture's own two rules, for members the wire does not tell apart well:
- a member whose data says nothing of the wire (no config facts yet) joins the one group of its name that
  does, and is grouped by its name when there are several or none;
- the members of one name that the wire splits into groups of one node each (the same pair with configs
  that disagree: a VRID edited by hand, a minion too old to say its network) stay one group by their name,
  whose mismatch `hamaster check` names; a group on the wire is at least two nodes, and only then a pair of
  its own.

A group's label is its instance name when no other group on the site has that name (what every message
said before), else the name with the VRID and the network (`VI_1 (VRID 52, 10.1.2.0/24)`; its first VIP
when its nodes do not say their network), else with its nodes (`VI_1 on node3, node4`). Under group_by
vip or router_id the label is the key, as the correlator names its groups.
"""

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hamaster.master.correlate.settings import Settings


def wire_key(data: Mapping[str, Any]) -> str | None:
    """What makes a VRRP group one on the wire: its address family, where it is heard (the minion's
    `network`, keepalived_conf.wire_network: the interface's network or the unicast endpoints; else, from a
    minion that does not say it, the VIPs) and its virtual_router_id. None: the data does not say
    (then the instance name decides)."""
    vrid, listed, network = data.get("vrid"), data.get("vips"), data.get("network")
    vips = [str(v) for v in listed] if isinstance(listed, list | tuple) else []
    if type(vrid) is not int:
        return None
    network = network if isinstance(network, str) and network else None
    family = data.get("family") or ("inet6" if any(":" in v for v in [*vips, network or ""]) else "inet")
    where = network or ",".join(sorted(vips))
    return f"{family}/{where}/vrid{vrid}" if where else None


def same_wire(a: str, b: str) -> bool:
    """Two wire keys of one group seen by nodes that read their network otherwise: one family and VRID, and
    either one network under two netmasks (`10.99.0.0/24` and `10.99.0.0/16`: a netmask typed otherwise on
    one node, with which VRRP works all the same) or VIPs inside the other's network (a node whose only address
    on the interface is the VIP is keyed by the VIPs). Not two networks that merely overlap: `10.0.0.0/16`
    would swallow every /24 pair of that VRID inside it, and which one it joined would depend on the order
    the nodes spoke in. So a typo'd netmask whose network starts elsewhere (10.1.1.12/16 beside 10.1.1.11/24)
    still splits the pair: telling it apart needs each node's own address (both in the other's network).
    Unicast endpoints are one string or another group."""
    (fa, wa, va), (fb, wb, vb) = _parts(a), _parts(b)
    if a == b or not fa or (fa, va) != (fb, vb) or wa.startswith("unicast:") or wb.startswith("unicast:"):
        return a == b
    na, nb = _is_network(wa), _is_network(wb)
    if na and nb:
        return ipaddress.ip_network(wa).network_address == ipaddress.ip_network(wb).network_address
    if na or nb:
        net, vips = (wa, wb) if na else (wb, wa)
        inside = ipaddress.ip_network(net)
        return any(v.version == inside.version and v.subnet_of(inside) for v in _networks(vips))  # type: ignore[arg-type]
    return False  # two VIP lists: as they are (two sides of one pair say the same VIPs)


def one_overlapping(key: str, keys: Iterable[str]) -> str | None:
    """The one key of `keys` that is one group with `key` on the wire (same_wire); None when none is, or
    several are (it cannot be told which: kept apart)."""
    found = [k for k in keys if k != key and same_wire(key, k)]
    return found[0] if len(found) == 1 else None


def _is_network(where: str) -> bool:
    """A network (what a minion says, `10.1.2.0/24`), not VIPs (`10.1.2.100`, `10.1.2.100/24`, `a,b`)."""
    try:
        return "," not in where and "/" in where and bool(ipaddress.ip_network(where))
    except ValueError:
        return False


def vrid_of(key: str) -> str:
    """`family/vridN` of a wire key (what same_wire needs equal before it looks further); "" for another key."""
    family, _, vrid = _parts(key)
    return f"{family}/{vrid}" if family else ""


def _parts(key: str) -> tuple[str, str, str]:
    """(family, where, vridN) of a wire key; empty strings for a key that is not one (an instance name)."""
    family, _, rest = key.partition("/")
    where, _, vrid = rest.rpartition("/")
    return (family, where, vrid) if family in ("inet", "inet6") and vrid.startswith("vrid") else ("", "", "")


def _networks(where: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A key's network, or its VIPs, each its own address (`10.0.0.100/24` is a VIP, `10.0.0.0/24` a network:
    a network has no host bits)."""
    out = []
    for item in where.split(","):
        try:
            out.append(ipaddress.ip_network(item))
        except ValueError:
            try:
                out.append(ipaddress.ip_network(item.split("/")[0]))
            except ValueError:
                continue
    return out


def key_of(settings: Settings, instance: str, data: Mapping[str, Any]) -> tuple[str, bool]:
    """The group key of `instance` with `data` (an event's or the config facts' vrid, vips, network...), and
    whether the data decided it (False: it fell back on the instance name)."""
    hint = settings.instances.get(instance, {})
    if settings.group_by == "vip" and (vip := hint.get("vip") or data.get("vip")):
        return str(vip), True
    if settings.group_by == "router_id" and (rid := hint.get("router_id") or data.get("router_id")):
        return f"vrid-{rid}", True
    if settings.group_by == "wire" and (wire := wire_key(data)):
        return wire, True
    return instance, False


@dataclass(frozen=True)
class VrrpGroup:
    key: str
    label: str
    members: tuple[tuple[str, str], ...]  # (minion, its instance's name), sorted
    vrid: int | None = None
    network: str | None = None  # where it is heard (its first VIP when its nodes do not say their network)

    @property
    def nodes(self) -> list[str]:
        return [m for m, _ in self.members]

    @property
    def instances(self) -> list[str]:
        return sorted({i for _, i in self.members})

    @property
    def instance(self) -> str:
        """The instance's name (the first, when the nodes name it differently)."""
        return self.instances[0] if self.members else self.label

    def instance_of(self, minion: str) -> str | None:
        return next((i for m, i in self.members if m == minion), None)


def lone(name: str) -> VrrpGroup:
    """The group of a name no node reports (what a drill or check names that the site does not have)."""
    return VrrpGroup(name, name, ())


def site_groups(said: Mapping[tuple[str, str], Mapping[str, Any]], settings: Any = None) -> list[VrrpGroup]:
    """The site's groups from what each (minion, instance) says of itself (its config facts: vrid, vips,
    network, family ...; an empty mapping when nothing is known), by `settings` (`correlator:`: a mapping
    or the schema's object), sorted by label."""
    s = Settings.load(settings or {})
    keyed: dict[tuple[str, str], tuple[str, bool]] = {mi: key_of(s, mi[1], data) for mi, data in said.items()}
    if s.group_by == "wire":
        _overlapping(keyed)
        _regroup(keyed)
    by_key: dict[str, list[tuple[str, str]]] = {}
    for mi, (key, _) in sorted(keyed.items()):
        by_key.setdefault(key, []).append(mi)
    facts = {key: [said[mi] for mi in mis] for key, mis in by_key.items()}
    groups = [(key, mis, _first(facts[key], "vrid", int), _first(facts[key], "network", str)
               or _vip(facts[key])) for key, mis in by_key.items()]
    named = s.group_by in ("vip", "router_id")
    return sorted((VrrpGroup(key, key if named else label, tuple(mis), vrid, network)
                   for (key, mis, vrid, network), label in zip(groups, _labels(groups), strict=True)),
                  key=lambda g: (g.label, g.key))


def _overlapping(keyed: dict[tuple[str, str], tuple[str, bool]]) -> None:
    """Keys one group on the wire with exactly one other (one_overlapping) become the first of the two, as
    the correlator aliases them."""
    kept: dict[str, list[str]] = {}  # vrid_of -> the keys kept, in sorted order
    to: dict[str, str] = {}
    for key in sorted({key for key, decided in keyed.values() if decided}):
        mine = kept.setdefault(vrid_of(key), [])
        seen = one_overlapping(key, mine)
        if seen is None:
            mine.append(key)
        else:
            to[key] = seen
    for mi, (key, decided) in keyed.items():
        if decided and key in to:
            keyed[mi] = (to[key], True)


def _regroup(keyed: dict[tuple[str, str], tuple[str, bool]]) -> None:
    """The picture's two rules (module doc): unsaid members join the one group of their name; a name the
    wire splits into lone nodes stays one group by name."""
    by_name: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for mi, (key, decided) in keyed.items():
        if decided:
            by_name.setdefault(mi[1], {}).setdefault(key, []).append(mi)
    for name, keys in by_name.items():
        if len(keys) > 1 and all(len(mis) == 1 for mis in keys.values()):
            for mis in keys.values():
                keyed[mis[0]] = (name, False)
            keys.clear()
    for mi, (_, decided) in list(keyed.items()):
        wire = by_name.get(mi[1], {})
        if not decided and len(wire) == 1:
            keyed[mi] = (next(iter(wire)), True)


def _first(facts: Iterable[Mapping[str, Any]], field: str, kind: type) -> Any:
    return next((v for f in facts if type(v := f.get(field)) is kind and v), None)


def _vip(facts: Iterable[Mapping[str, Any]]) -> str | None:
    """Where a group without a network is: its first VIP (without the prefix length)."""
    vips = sorted(str(v).split("/")[0] for f in facts if isinstance(f.get("vips"), list | tuple) for v in f["vips"])
    return vips[0] if vips else None


def _labels(groups: list[tuple[str, list[tuple[str, str]], int | None, str | None]]) -> list[str]:
    names = [min(i for _, i in mis) for _, mis, _, _ in groups]
    named = Counter(names)
    labels = []
    for name, (_, _, vrid, network) in zip(names, groups, strict=True):
        if named[name] == 1:
            labels.append(name)
            continue
        said = ", ".join(x for x in (f"VRID {vrid}" if vrid is not None else "", network or "") if x)
        labels.append(f"{name} ({said})" if said else "")
    taken = Counter(labels)
    return [label if label and taken[label] == 1 else f"{name} on {', '.join(m for m, _ in mis)}"
            for label, name, (_, mis, _, _) in zip(labels, names, groups, strict=True)]
