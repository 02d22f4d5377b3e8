"""Pair lint on the topologies: each planted mistake, rendered by the real state tree, is found; the
topologies done right are clean."""

from pathlib import Path
from typing import Any

import pytest
from test_topologies import here, plan

from hamaster.core import keepalived_conf
from hamaster.master.states.pairlint import lint
from hamaster.master.states.topolint import check

ADDRESSES = {"node1": ["192.168.16.128"], "node2": ["192.168.16.129"]}
V6 = {"virtual_router_id": 67, "vips": ["fd00:16::130/64"]}


def lints(tmp_path: Path, node1: dict[str, Any], node2: dict[str, Any],
          addresses: dict[str, list[str]] | None = None) -> list[tuple[str, str, str]]:
    confs = {m: plan(tmp_path, m, node1=node1, node2=node2).keepalived_conf or "" for m in ("node1", "node2")}
    return check({m: keepalived_conf.parse(c) for m, c in confs.items()}, addresses or ADDRESSES)


def errors(found: list[tuple[str, str, str]]) -> list[str]:
    return [f"{instance}: {message}" for severity, instance, message in found if severity == "error"]


def test_the_topologies_done_right_are_clean(tmp_path: Path) -> None:
    unicast = lints(tmp_path / "u", here(unicast_peers=["192.168.16.129"]), here(unicast_peers=["192.168.16.128"]))
    synced = lints(tmp_path / "s", here(sync_group="VG_1", instances={"VI_6": V6}),
                   here(sync_group="VG_1", instances={"VI_6": V6}))
    fast = lints(tmp_path / "f", here(profile="fast"), here(profile="fast"))
    assert unicast == synced == fast == []


def test_asymmetric_unicast_peers(tmp_path: Path) -> None:
    found = lints(tmp_path, here(unicast_peers=["192.168.16.129"]), here(unicast_peers=["192.168.16.200"]))
    assert errors(found) == ["VI_1: unicast peers not symmetric: node1 sends from 192.168.16.128, which node2's"
                             " unicast_peer (192.168.16.200) does not list"]


def test_unicast_on_one_side_only(tmp_path: Path) -> None:
    found = lints(tmp_path, here(unicast_peers=["192.168.16.129"]), here())
    assert errors(found) == ["VI_1: unicast on node1 but multicast on node2: they do not hear each other"]


def test_a_source_address_the_node_does_not_have(tmp_path: Path) -> None:
    found = lints(tmp_path, here(unicast_peers=["192.168.16.129"], unicast_src_ip="192.168.16.228"),
                  here(unicast_peers=["192.168.16.228"]))
    assert errors(found) == ["VI_1: node1: unicast_src_ip 192.168.16.228 is not an address of the node (it has"
                             " 192.168.16.128)"]


def test_a_v6_vip_in_a_v4_instance(tmp_path: Path) -> None:
    mixed = ["192.168.16.130", "fd00:16::130/64"]
    found = lints(tmp_path, here(vips=mixed), here(vips=mixed))
    assert errors(found)[0].startswith("VI_1: node1: v4 and v6 VIPs in one instance (192.168.16.130,"
                                       " fd00:16::130): keepalived keeps only")
    assert len(errors(found)) == 2  # each node's


def test_a_sync_group_with_other_vrids_on_one_node(tmp_path: Path) -> None:
    found = lints(tmp_path, here(sync_group="VG_1", instances={"VI_6": V6}),
                  here(sync_group="VG_1", instances={"VI_6": {**V6, "virtual_router_id": 69}}))
    assert "VG_1: sync group's virtual_router_ids differ (VI_1, VI_6): node1: 66, 67; node2: 66, 69" in errors(found)


def test_a_sync_group_with_other_members_on_one_node(tmp_path: Path) -> None:
    found = lints(tmp_path, here(sync_group="VG_1", instances={"VI_6": V6}),
                  here(sync_group="VG_1", instances={"VI_7": V6}))
    assert "VG_1: sync group members differ: node1: VI_1, VI_6; node2: VI_1, VI_7" in errors(found)


@pytest.mark.parametrize("advert_int,warns", [(0.1, True), (0.2, False)])
def test_a_profile_too_tight_for_the_measured_jitter_warns(tmp_path: Path, advert_int: float, warns: bool) -> None:
    tight = {"version": 3, "advert_int": advert_int}
    found = lints(tmp_path, here(**tight), here(**tight))
    warned = [m for s, _, m in found if s == "warning" and "too tight" in m]
    assert bool(warned) == warns, found


def test_pair_lint_runs_the_topology_checks(tmp_path: Path) -> None:
    confs = {m: plan(tmp_path, m, node1=here(unicast_peers=["192.168.16.129"]), node2=here()).keepalived_conf or ""
             for m in ("node1", "node2")}
    assert [x.message for x in lint(confs) if x.severity == "error"] == [
        "unicast on node1 but multicast on node2: they do not hear each other"]
