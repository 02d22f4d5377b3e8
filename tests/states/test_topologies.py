"""The state tree's topology switches (one pillar key each): the seed's pillar renders exactly as before
(golden files), and each switch renders a keepalived.conf that the real `keepalived -t` accepts through the
tree's own check_cmd, saying in it what the switch means."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hamaster.master.states.rolling import Plan, plan_minion

REPO = Path(__file__).resolve().parents[2]
STATES = REPO / "states"
GOLDEN = Path(__file__).parent / "golden"
# keepalived -t wants an interface that exists and is not loopback; nothing is sent on it (nothing starts)
IFACE = next(p.name for p in sorted(Path("/sys/class/net").iterdir(), key=lambda p: p.name != "eth0")
             if p.name != "lo")

needs_keepalived = pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")


def plan(tmp_path: Path, minion: str, **per_node: dict[str, Any]) -> Plan:
    """The example pillar with `per_node[minion]` (a pillar mapping) merged last for that minion."""
    root = tmp_path / "pillar"
    if not root.exists():
        shutil.copytree(STATES / "pillar", root)
        top = yaml.safe_load((root / "top.sls").read_text())
        for node, data in per_node.items():
            (root / f"over_{node}.sls").write_text(yaml.safe_dump(data))
            top["base"].setdefault(node, []).append(f"over_{node}")
        (root / "top.sls").write_text(yaml.safe_dump(top))
    return plan_minion(STATES, root, minion, {}, test=False)


def checked(p: Plan, tmp_path: Path) -> str:
    """The rendered keepalived.conf after the tree's own check_cmd passed on it (real keepalived -t)."""
    assert p.keepalived_conf is not None
    chunk = next(c for c in p.job["chunks"] if c["id"] == "keepalived_conf")
    conf = tmp_path / f"{p.minion}.keepalived.conf"
    conf.write_text(p.keepalived_conf)
    done = subprocess.run(chunk["args"]["check_cmd"].replace("{}", str(conf)), shell=True, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr + p.keepalived_conf
    return p.keepalived_conf


def here(**vrrp: Any) -> dict[str, Any]:
    """A node's override for this machine: its interface, and a check keepalived -t finds (no script file)."""
    return {"vrrp": {"interface": IFACE, **vrrp}, "keepalived": {"check": "process"}}


def block(conf: str, head: str) -> str:
    """The text of the block that starts with `head` (e.g. 'vrrp_instance VI_2')."""
    m = re.search(re.escape(head) + r" \{\n(.*?)\n\}", conf, re.S)
    assert m, f"no {head} block in\n{conf}"
    return m.group(1)


@pytest.mark.parametrize("minion", ["node1", "node2"])
def test_the_seed_pillar_renders_exactly_as_before(minion: str) -> None:
    p = plan_minion(STATES, STATES / "pillar", minion, {}, test=False)
    assert p.keepalived_conf == (GOLDEN / f"seed-{minion}.keepalived.conf").read_text()


@needs_keepalived
def test_unicast_peers_replace_multicast(tmp_path: Path) -> None:
    p = plan(tmp_path, "node1", node1=here(unicast_peers=["192.168.16.129"]))
    inst = block(checked(p, tmp_path), "vrrp_instance VI_1")
    assert "unicast_src_ip 192.168.16.128" in inst  # the node's own address unless told otherwise
    assert "unicast_peer {\n        192.168.16.129\n    }" in inst


@needs_keepalived
def test_an_instance_without_vips_passes_the_trees_check(tmp_path: Path) -> None:
    p = plan(tmp_path, "node1", node1=here(vips=[], unicast_peers=["192.168.16.129"]))
    inst = block(checked(p, tmp_path), "vrrp_instance VI_1")
    assert "virtual_ipaddress" not in inst


@needs_keepalived
def test_the_check_still_refuses_other_complaints_when_an_instance_has_no_vips(tmp_path: Path) -> None:
    p = plan(tmp_path, "node1", node1=here(vips=[], preempt_delay=5, version=2, auth_pass="x" * 3,
                                           virtual_router_id=300))
    chunk = next(c for c in p.job["chunks"] if c["id"] == "keepalived_conf")
    conf = tmp_path / "bad.conf"
    conf.write_text(p.keepalived_conf or "")
    done = subprocess.run(chunk["args"]["check_cmd"].replace("{}", str(conf)), shell=True, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "VRID '300' not valid" in done.stdout


@needs_keepalived
def test_an_ipv6_instance_beside_the_v4_one_in_a_sync_group(tmp_path: Path) -> None:
    p = plan(tmp_path, "node1", node1=here(sync_group="VG_1", instances={
        "VI_6": {"virtual_router_id": 67, "vips": ["fd00:16::130/64"]}}))
    conf = checked(p, tmp_path)
    assert block(conf, "vrrp_sync_group VG_1").split("}")[0].split() == ["group", "{", "VI_1", "VI_6"]
    assert 'notify "/usr/local/bin/haminion-hook' in block(conf, "vrrp_sync_group VG_1")
    assert "sync_group_tracking_weight" in block(conf, "vrrp_sync_group VG_1")  # else weights are ignored
    v6 = block(conf, "vrrp_instance VI_6")
    assert "version 3" in v6 and "fd00:16::130/64" in v6 and "authentication" not in v6  # v3 has none
    assert "virtual_router_id 67" in v6 and "state MASTER" in v6  # the rest from the pair's settings
    assert "authentication" in block(conf, "vrrp_instance VI_1")


@needs_keepalived
def test_active_active_each_node_master_of_one_instance(tmp_path: Path) -> None:
    second = {"virtual_router_id": 68, "vips": ["192.168.16.131"]}
    p1 = plan(tmp_path, "node1", node1=here(instances={"VI_2": {**second, "role": "BACKUP", "priority": 99}}),
              node2=here(instances={"VI_2": {**second, "role": "MASTER", "priority": 100}}))
    p2 = plan(tmp_path, "node2")
    c1, c2 = checked(p1, tmp_path), checked(p2, tmp_path)
    assert "state MASTER" in block(c1, "vrrp_instance VI_1") and "state BACKUP" in block(c1, "vrrp_instance VI_2")
    assert "state BACKUP" in block(c2, "vrrp_instance VI_1") and "state MASTER" in block(c2, "vrrp_instance VI_2")
    assert "priority 100" in block(c2, "vrrp_instance VI_2") and "192.168.16.131" in block(c2, "vrrp_instance VI_2")


@needs_keepalived
@pytest.mark.parametrize("switch,line", [({"nopreempt": True}, "nopreempt"),
                                         ({"preempt_delay": 30}, "preempt_delay 30")])
def test_nopreempt_and_preempt_delay_start_every_node_as_backup(tmp_path: Path, switch: dict, line: str) -> None:
    inst = block(checked(plan(tmp_path, "node1", node1=here(**switch)), tmp_path), "vrrp_instance VI_1")
    assert f"    {line}" in inst.splitlines()
    assert "state BACKUP" in inst  # keepalived ignores both on a node that starts MASTER


@needs_keepalived
def test_under_nopreempt_a_failed_check_and_a_drain_fault_the_node(tmp_path: Path) -> None:
    """A BACKUP under nopreempt never takes over from a live MASTER for its priority (keepalived accepts the
    lower MASTER's adverts), so a weight cannot move the VIP: the checks are rendered weight 0 (FAULT)."""
    nopreempt = block(checked(plan(tmp_path, "node1", node1=here(nopreempt=True)), tmp_path), "vrrp_instance VI_1")
    assert "chk_nginx weight 0" in nopreempt and "hamaster_drain weight 0" in nopreempt
    seed = block(checked(plan(tmp_path / "seed", "node1", node1=here()), tmp_path), "vrrp_instance VI_1")
    assert "weight 0" not in seed  # preempting pairs keep the seed's weights


@needs_keepalived
@pytest.mark.parametrize("where", ["pair", "instance"])
def test_priority_changes_go_to_the_fifo_when_an_instance_preempts_late(tmp_path: Path, where: str) -> None:
    switch = {"nopreempt": True}
    over = here(**switch) if where == "pair" else here(instances={"VI_2": {"virtual_router_id": 52, **switch}})
    conf = checked(plan(tmp_path, "node1", node1=over), tmp_path)
    assert "    vrrp_notify_priority_changes" in block(conf, "global_defs").splitlines()
    seed = checked(plan(tmp_path / "seed", "node1", node1=here()), tmp_path)
    assert "vrrp_notify_priority_changes" not in seed  # the seed's config stays as it was


@needs_keepalived
def test_the_fast_profile(tmp_path: Path) -> None:
    inst = block(checked(plan(tmp_path, "node1", node1=here(profile="fast")), tmp_path), "vrrp_instance VI_1")
    for line in ("version 3", "advert_int 0.2", "garp_master_delay 1", "garp_master_repeat 3",
                 "garp_master_refresh 10"):
        assert f"    {line}\n" in inst + "\n"
    assert "authentication" not in inst
