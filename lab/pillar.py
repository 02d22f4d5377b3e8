"""The lab's pillar: the seed's pair (states/pillar/) with the lab's addresses, paths and service commands.

Same shape as states/pillar/pair.sls and node*.sls, so `hamaster apply states/ --pillar <site>/pillar` builds
the lab's nodes with the very tree an operator uses; only the data differs:

- eth0, the nodes' addresses and the lab's VIP; node1 is MASTER (priority 100), the others BACKUP (99, 80, 70..)
- a fresh auth_pass per lab (keepalived keeps 8 characters; apply masks it in all output)
- nginx and keepalived started by `python -m hamaster.lab.services` in the node's run dir (no systemd in a node)
- nginx serves /etc/nginx/html, i.e. the node's /etc/netns/<ns>/nginx/html: the page names the node
- keepalived's notify hook and FIFO point at the node's haminion and its minion.yaml
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hamaster.lab.pair import Lab, Node

INSTANCE, ROUTER_ID = "VI_1", 66  # the seed's; every lab has its own bridge, so two labs never hear each other


def services_commands(daemon: str, node: Node) -> dict[str, str]:
    base = f"{sys.executable} -m hamaster.lab.services {daemon}"
    return {action: f"{base} {action} --run-dir {node.run}" for action in ("start", "stop", "reload", "status")}


def pair_data(lab: Lab, *, auth_pass: str, workers: int | str = "auto") -> dict[str, Any]:
    """What every node shares (pair.sls)."""
    return {
        "vrrp": {"instance": INSTANCE, "interface": "eth0", "virtual_router_id": ROUTER_ID, "advert_int": 1,
                 "auth_pass": auth_pass, "vips": [f"{lab.vip}/{lab.prefixlen}"], "weight": 2},
        "keepalived": {"check": "script", "check_script": "/etc/keepalived/check_nginx.sh"},
        "nginx": {"package": "nginx", "root": "/etc/nginx/html", "listen": 80, "workers": workers, "pid": ""},
    }


def node_data(lab: Lab, node: Node, *, minion_config: Path, haminion: str) -> dict[str, Any]:
    """One node's own part (node1.sls ...): its address, role, and the paths that differ per node."""
    index = lab.nodes.index(node)
    return {
        "address": node.addr,
        # BACKUPs beyond the pair's 10 apart: 1 apart, their master-down intervals differ by 4 ms, a tie under
        # load (which takes over a dead MASTER would be a coin toss, and the other then preempts it)
        "vrrp": {"role": "MASTER" if index == 0 else "BACKUP",
                 "priority": 100 - index if index < 2 else 100 - 10 * index},
        "keepalived": {"commands": services_commands("keepalived", node)},
        "nginx": {"run_dir": str(node.run), "commands": services_commands("nginx", node)},
        "haminion": {"hook": str(Path(haminion).parent / "haminion-hook"), "config": str(minion_config),
                     "fifo": str(minion_config.parent / "keepalived.fifo")},
    }


def write(pillar_dir: Path, lab: Lab, *, auth_pass: str, minion_config: Callable[[str], Path], haminion: str,
          workers: int | str = "auto") -> None:
    """Write top.sls, pair.sls and one <node>.sls per node (pillar merges the node's over the pair's)."""
    pillar_dir.mkdir(parents=True, exist_ok=True)
    top = {"base": {"*": ["pair"], **{n.name: [n.name] for n in lab.nodes}}}
    _write(pillar_dir / "top.sls", top)
    _write(pillar_dir / "pair.sls", pair_data(lab, auth_pass=auth_pass, workers=workers))
    for node in lab.nodes:
        _write(pillar_dir / f"{node.name}.sls",
               node_data(lab, node, minion_config=minion_config(node.name), haminion=haminion))


def _write(path: Path, data: dict[str, Any]) -> None:
    # written as YAML without Jinja in it: the renderer's Jinja pass leaves it as it is
    path.write_text("# written by hamaster.lab.pillar for this lab\n" + yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)  # holds auth_pass
