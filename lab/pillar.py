"""The lab's pillar: the seed's pair (states/pillar/) with the lab's addresses, paths and service commands.

Same shape as states/pillar/pair.sls and node*.sls, so `hamaster apply states/ --pillar <site>/pillar` builds
the lab's nodes with the very tree an operator uses; only the data differs:

- eth0, the nodes' addresses and the lab's VIP; node1 is MASTER (priority 100), the others BACKUP (99, 80, 70..)
- a fresh auth_pass per lab (keepalived keeps 8 characters; apply masks it in all output)
- nginx and keepalived started by `python -m hamaster.lab.services` in the node's run dir (no systemd in a node)
- nginx serves /etc/nginx/html, i.e. the node's /etc/netns/<ns>/nginx/html: the page names the node
- keepalived's notify hook and FIFO point at the node's haminion and its minion.yaml

A topology (`TOPOLOGIES`, `LabSite.create(topology=...)`) turns on the state tree's switches for the lab's
addresses, as an operator's pillar would: unicast peers (the lab then drops VRRP's multicast in the nodes), no
VIP, a v6 instance in a sync group with the v4 one, a second instance of opposite priorities, nopreempt,
preempt_delay, the fast profile.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hamaster.lab.pair import Lab, Node

INSTANCE, ROUTER_ID = "VI_1", 66  # the seed's; every lab has its own bridge, so two labs never hear each other
INSTANCE6, ROUTER_ID6 = "VI_6", 67  # the v6 instance beside VI_1 (topology "sync")
INSTANCE2, ROUTER_ID2 = "VI_2", 68  # the second v4 instance, opposite priorities (topology "active-active")
SYNC_GROUP = "VG_1"


@dataclass(frozen=True, slots=True)
class Topology:
    """What a lab's pillar turns on (one state tree switch each)."""

    name: str
    nodes: int = 2  # how many nodes by default
    unicast: bool = False  # unicast peers; the lab drops VRRP's multicast in every node
    vips: bool = True  # False: no VIP at all (the cloud case: notify scripts would move an address)
    ipv6: bool = False  # a v6 instance VI_6 beside VI_1, both in the sync group VG_1
    second: bool = False  # VI_2 on the second VIP, priorities the other way round (the last node is its MASTER)
    nopreempt: bool = False
    preempt_delay: float = 0.0  # seconds: a node of higher priority back in BACKUP waits this long to take over
    profile: str | None = None  # a state tree profile, e.g. "fast"

    def instances(self) -> list[str]:
        return [INSTANCE] + [INSTANCE6] * self.ipv6 + [INSTANCE2] * self.second


TOPOLOGIES = {t.name: t for t in (
    Topology("seed"),
    Topology("unicast", unicast=True),
    Topology("cloud", unicast=True, vips=False),
    Topology("sync", ipv6=True),
    Topology("active-active", nodes=3, second=True),
    Topology("nopreempt", nopreempt=True),
    Topology("preempt-delay", preempt_delay=8),
    Topology("fast", profile="fast"),
)}


def topology(name: "str | Topology") -> Topology:
    if isinstance(name, Topology):
        return name
    if name not in TOPOLOGIES:
        raise ValueError(f"unknown lab topology {name!r}; known: {', '.join(TOPOLOGIES)}")
    return TOPOLOGIES[name]


def vips(lab: Lab, topo: Topology) -> dict[str, str]:
    """instance -> the address its MASTER holds (and the master's probe asks), for the instances with one."""
    if not topo.vips:
        return {}
    out = {INSTANCE: lab.vip}
    if topo.ipv6 and lab.vip6:
        out[INSTANCE6] = lab.vip6
    if topo.second:
        out[INSTANCE2] = lab.vip2
    return out


def masters(lab: Lab, topo: Topology) -> dict[str, str]:
    """instance -> the node meant to hold it once the lab has settled (the highest priority)."""
    return {i: lab.nodes[-1 if i == INSTANCE2 else 0].name for i in topo.instances()}


def services_commands(daemon: str, node: Node) -> dict[str, str]:
    base = f"{sys.executable} -m hamaster.lab.services {daemon}"
    return {action: f"{base} {action} --run-dir {node.run}" for action in ("start", "stop", "reload", "status")}


# the state tree's fast profile, as states/pillar/pair.sls has it
PROFILES = {"fast": {"version": 3, "advert_int": 0.2, "garp_master_delay": 1, "garp_master_repeat": 3,
                     "garp_master_refresh": 10}}


def pair_data(lab: Lab, *, auth_pass: str, workers: int | str = "auto", topo: Topology = TOPOLOGIES["seed"]
              ) -> dict[str, Any]:
    """What every node shares (pair.sls)."""
    vrrp: dict[str, Any] = {
        "instance": INSTANCE, "interface": "eth0", "virtual_router_id": ROUTER_ID, "advert_int": 1,
        "auth_pass": auth_pass, "vips": [f"{lab.vip}/{lab.prefixlen}"] if topo.vips else [], "weight": 2}
    instances: dict[str, Any] = {}
    if topo.ipv6:
        vrrp["sync_group"] = SYNC_GROUP
        instances[INSTANCE6] = {"virtual_router_id": ROUTER_ID6, "vips": [f"{lab.vip6}/64"] if topo.vips else []}
    if topo.second:
        instances[INSTANCE2] = {"virtual_router_id": ROUTER_ID2,
                                "vips": [f"{lab.vip2}/{lab.prefixlen}"] if topo.vips else []}
    if instances:
        vrrp["instances"] = instances
    if topo.nopreempt:
        vrrp["nopreempt"] = True
    if topo.preempt_delay:
        vrrp["preempt_delay"] = topo.preempt_delay
    if topo.profile:
        vrrp["profile"] = topo.profile
    return {
        "vrrp": vrrp,
        **({"vrrp_profiles": PROFILES} if topo.profile else {}),
        "keepalived": {"check": "script", "check_script": "/etc/keepalived/check_nginx.sh"},
        "nginx": {"package": "nginx", "root": "/etc/nginx/html", "listen": 80, "workers": workers, "pid": "",
                  **({"listen_v6": True} if topo.ipv6 else {})},
    }


def node_data(lab: Lab, node: Node, *, minion_config: Path, haminion: str,
              topo: Topology = TOPOLOGIES["seed"]) -> dict[str, Any]:
    """One node's own part (node1.sls ...): its address, role, and the paths that differ per node."""
    index, last = lab.nodes.index(node), len(lab.nodes) - 1
    # BACKUPs beyond the pair's 10 apart: 1 apart, their master-down intervals differ by 4 ms, a tie under
    # load (which takes over a dead MASTER would be a coin toss, and the other then preempts it)
    vrrp: dict[str, Any] = {"role": "MASTER" if index == 0 else "BACKUP",
                            "priority": 100 - index if index < 2 else 100 - 10 * index}
    others = [n for n in lab.nodes if n is not node]
    if topo.unicast:
        vrrp["unicast_peers"] = [n.addr for n in others]
    instances: dict[str, Any] = {}
    if topo.ipv6 and topo.unicast:  # a v6 instance's peers are v6 addresses
        instances[INSTANCE6] = {"unicast_src_ip": node.addr6, "unicast_peers": [n.addr6 for n in others]}
    if topo.second:  # the other way round: the last node is VI_2's MASTER
        instances[INSTANCE2] = {"role": "MASTER" if index == last else "BACKUP", "priority": 100 - (last - index)}
    if instances:
        vrrp["instances"] = instances
    return {
        "address": node.addr,
        "vrrp": vrrp,
        "keepalived": {"commands": services_commands("keepalived", node)},
        "nginx": {"run_dir": str(node.run), "commands": services_commands("nginx", node)},
        "haminion": {"hook": str(Path(haminion).parent / "haminion-hook"), "config": str(minion_config),
                     "fifo": str(minion_config.parent / "keepalived.fifo")},
    }


def write(pillar_dir: Path, lab: Lab, *, auth_pass: str, minion_config: Callable[[str], Path], haminion: str,
          workers: int | str = "auto", topo: Topology = TOPOLOGIES["seed"]) -> None:
    """Write top.sls, pair.sls and one <node>.sls per node (pillar merges the node's over the pair's)."""
    pillar_dir.mkdir(parents=True, exist_ok=True)
    top = {"base": {"*": ["pair"], **{n.name: [n.name] for n in lab.nodes}}}
    _write(pillar_dir / "top.sls", top)
    _write(pillar_dir / "pair.sls", pair_data(lab, auth_pass=auth_pass, workers=workers, topo=topo))
    for node in lab.nodes:
        _write(pillar_dir / f"{node.name}.sls",
               node_data(lab, node, minion_config=minion_config(node.name), haminion=haminion, topo=topo))


def _write(path: Path, data: dict[str, Any]) -> None:
    # written as YAML without Jinja in it: the renderer's Jinja pass leaves it as it is
    path.write_text("# written by hamaster.lab.pillar for this lab\n" + yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)  # holds auth_pass
