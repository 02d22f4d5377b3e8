"""The topologies beside the seed's, each a real lab (lab/pillar.py TOPOLOGIES) built by `hamaster apply states/`:
unicast with multicast dropped, the cloud's instance without a VIP, a v4 + v6 sync group, three nodes with two
instances of opposite priorities, nopreempt, preempt_delay. For each: every transition stored once, the
incidents right, one alert per incident."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2etools import titles, wait_titles

from hamaster.core.timeutil import now_ns
from hamaster.lab.site import LabSite, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture
def make(tmp_path: Path) -> Iterator:
    sites: list[LabSite] = []

    def build(topology: str, settle: bool = True) -> LabSite:
        site = LabSite.create(tmp_path / topology, topology=topology)
        sites.append(site)
        site.apply()
        if settle:
            site.settle()
        return site
    yield build
    for site in sites:
        site.close()



def one_move(site: LabSite, starts: str, nodes: str) -> bool:
    """Exactly one chat message of a move, that names the group as `starts` says and moves as `nodes` says."""
    moved = titles(site.chat.received(), " moved ")
    assert len(moved) == 1 and moved[0].startswith(starts) and f" moved {nodes}" in moved[0], moved
    return True

def transitions(site: LabSite, since_ns: int) -> list[tuple[str, str, str]]:
    """(node, instance, state) of each VRRP transition stored after `since_ns`, once each (a transition both
    the hook and the FIFO told is one row and one duplicate), in node time."""
    rows = site.query("SELECT minion, instance, state, data FROM events WHERE kind = 'vrrp' AND node_ns >= ?"
                      " ORDER BY node_ns", since_ns)
    return [(m, i, s) for m, i, s, data in rows if "duplicate_of" not in json.loads(data or "{}")]


def incidents_since(site: LabSite, since_ns: int, *kinds: str) -> list[dict]:
    return [i for i in site.incidents() if i["started_ns"] >= since_ns and (not kinds or i["kind"] in kinds)]


def test_unicast_with_multicast_dropped_fails_over_once(make) -> None:  # type: ignore[no-untyped-def]
    site = make("unicast")
    for node in site.lab.nodes:  # the nodes cannot hear VRRP's multicast: only the unicast peers work
        assert "224.0.0.18 drop" in site.lab.run(node, ["nft", "list", "ruleset"], check=True).stdout
    conf = (site.lab.nodes[0].etc / "keepalived" / "keepalived.conf").read_text()
    assert f"unicast_src_ip {site.lab.nodes[0].addr}" in conf and site.lab.nodes[1].addr in conf
    assert site.lab.holders() == ["node1"]  # one MASTER: the peers hear each other
    start = now_ns()
    site.power_off("node1")
    site.wait_probe("node2")
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the failover")
    assert (failover["data"]["old_holder"], failover["data"]["new_holder"]) == ("node1", "node2")
    assert transitions(site, start) == [("node2", "VI_1", "MASTER")]
    wait_titles(site.chat.received, " moved node1 -> node2", 1)
    assert one_move(site, f"[warning] VIP {site.lab.vip} (VI_1", "node1 -> node2")


def test_an_instance_without_vip_has_a_holder_and_its_failover_is_one_alert(make) -> None:  # type: ignore[no-untyped-def]
    site = make("cloud")
    assert not site.vips and "virtual_ipaddress" not in (
        site.lab.nodes[0].etc / "keepalived" / "keepalived.conf").read_text()
    start = now_ns()
    site.lab.stop_keepalived("node1")  # a clean stop: priority 0, node2 takes over at once
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the failover")
    assert (failover["data"]["old_holder"], failover["data"]["new_holder"]) == ("node1", "node2")
    assert ("node2", "VI_1", "MASTER") in transitions(site, start)
    wait_titles(site.chat.received, " moved node1 -> node2", 1)
    assert one_move(site, "[warning] VI_1 (VRID", "node1 -> node2")  # no VIP: named by instance


def test_three_nodes_two_instances_of_opposite_priorities(make) -> None:  # type: ignore[no-untyped-def]
    site = make("active-active")
    assert site.masters == {"VI_1": "node1", "VI_2": "node3"}
    assert site.lab.holders(site.lab.vip) == ["node1"] and site.lab.holders(site.lab.vip2) == ["node3"]
    start = now_ns()
    site.power_off("node3")  # VI_2 goes to node2 (priority 99); VI_1 stays where it is
    site.wait_probe("node2", vip=site.lab.vip2)
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "VI_2's failover")
    assert (failover["data"]["instance"], failover["data"]["old_holder"], failover["data"]["new_holder"]) == (
        "VI_2", "node3", "node2")
    # node1 (98) and node2 (99) wait almost alike (VRRP's skew differs by 4 ms): node1 may claim VI_2 for a
    # moment too, and step back when it hears node2; VI_1 does not move
    moved = [tr for tr in transitions(site, start) if tr != ("node1", "VI_2", "BACKUP")]
    assert moved in ([("node2", "VI_2", "MASTER")], [("node2", "VI_2", "MASTER"), ("node1", "VI_2", "MASTER")],
                     [("node1", "VI_2", "MASTER"), ("node2", "VI_2", "MASTER")]), moved
    assert site.probe_changes(site.lab.vip)[-1].node == "node1"
    wait_titles(site.chat.received, " moved node3 -> node2", 1)
    assert one_move(site, f"[warning] VIP {site.lab.vip2} (VI_2", "node3 -> node2")
    assert [i for i in incidents_since(site, start, "split_brain", "no_master") if i["severity"] != "info"] == []


def power_cycle(site: LabSite, holder: str, peer: str) -> int:
    """Switch the holder off (the peer takes the VIP, alerted) and boot it again: back in BACKUP under
    nopreempt or preempt_delay. The time of the boot."""
    site.power_off(holder)
    site.wait_probe(peer)
    wait_titles(site.chat.received, f" moved {holder} -> {peer}", 1)
    booted = now_ns()
    site.boot(holder)
    wait_until(lambda: (holder, "VI_1", "BACKUP") in transitions(site, booted), 30, f"{holder} back in BACKUP")
    return booted


def test_under_nopreempt_the_node_back_stays_backup_and_nothing_is_alerted(make) -> None:  # type: ignore[no-untyped-def]
    site = make("nopreempt")
    first, other = "node1", "node2"  # node1 has the higher priority
    if site.lab.holders() == [other]:  # both start BACKUP: who is MASTER first is a race; node1 must hold it
        power_cycle(site, other, first)
    moves = len(titles(site.chat.received(), " moved "))
    start = now_ns()
    back = power_cycle(site, first, other)
    wait_until(lambda: any(i["kind"] == "node_back" for i in incidents_since(site, back)), 20, "node_back")
    assert site.lab.holders() == [other]  # it does not take the VIP back
    # and the master says so: held by choice, not a failover pending (node1's live priority, its check's
    # weight applied, comes from keepalived's FIFO priority lines: without them, 100 < node2's 101)
    [held] = wait_until(lambda: json.loads(site.cli("status", "--json").stdout)["preemption"], 10,
                        "the master's word on preemption")
    assert (held["kind"], held["holder"], held["preferred"]) == ("held_by_choice", other, first), held
    assert [t for t in transitions(site, back) if t[2] == "MASTER"] == []
    assert [i["kind"] for i in incidents_since(site, back) if i["severity"] != "info"] == []
    moved = titles(site.chat.received(), " moved ")
    assert len(moved) == moves + 1, moved  # one alert: the failover itself
    assert moved[-1].startswith(f"[warning] VIP {site.lab.vip} (VI_1") and f" moved {first} -> {other}" in moved[-1]
    assert [i["kind"] for i in incidents_since(site, start, "failover")] == ["failover"]


def test_under_nopreempt_a_failed_check_gives_the_vip_away(make) -> None:  # type: ignore[no-untyped-def]
    """The BACKUP under nopreempt would never take over from a MASTER whose check lowered its priority: the
    tree's weight 0 makes the failed check FAULT the node, and the VIP moves (it stayed where nginx was down)."""
    site = make("nopreempt")
    [holder] = site.lab.holders()
    other = "node2" if holder == "node1" else "node1"
    conf = site.lab.node(holder).etc / "nginx" / "nginx.conf"
    good = conf.read_text()
    conf.write_text("this is not an nginx config;\n")  # the check script cannot start it again
    start = now_ns()
    site.lab.stop_nginx(holder)
    try:
        site.wait_probe(other, timeout=30)
        wait_until(lambda: (holder, "VI_1", "FAULT") in transitions(site, start), 20, f"{holder} in FAULT")
        wait_titles(site.chat.received, f" moved {holder} -> {other}", 1)
    finally:
        conf.write_text(good)


def test_under_nopreempt_drain_moves_the_vip_and_undrain_leaves_it(make) -> None:  # type: ignore[no-untyped-def]
    """drain FAULTs the holder (weight 0): the VIP moves; undrain brings it back as BACKUP, and nopreempt keeps
    the VIP on the peer: undrain must not wait for a failback that keepalived will never do."""
    site = make("nopreempt")
    [holder] = site.lab.holders()
    other = "node2" if holder == "node1" else "node1"
    site.cli("drain", holder, timeout=90)
    assert site.lab.holders() == [other]
    back = now_ns()
    out = site.cli("undrain", holder, timeout=90).stdout
    assert "nopreempt" in out, out
    wait_until(lambda: (holder, "VI_1", "BACKUP") in transitions(site, back), 20, f"{holder} back in BACKUP")
    assert site.lab.holders() == [other]
    # a drill: the same move and back, without waiting for a failback either
    done = site.cli("drill", "--json", check=False, timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr
    [d] = json.loads(done.stdout)
    assert (d["ok"], d["holder"], d["peer"], d["figures"]["failback_s"]) == (True, other, holder, None), d
    assert "no failback" in d["summary"] and site.lab.holders() == [holder]


def test_under_preempt_delay_the_node_back_is_pending_then_takes_over(make) -> None:  # type: ignore[no-untyped-def]
    site = make("preempt-delay")  # settled: node1, the higher priority, holds it (it preempted at start)
    first, other = "node1", "node2"
    assert site.lab.holders() == [first]
    back = power_cycle(site, first, other)

    def preemption() -> list[dict]:
        return json.loads(site.cli("status", "--json").stdout)["preemption"]

    # keepalived waits preempt_delay (8 s) after its master-down interval: the master says it is coming
    pending = wait_until(lambda: [p for p in preemption() if p["kind"] == "pending"], 10, "preemption pending")
    assert (pending[0]["holder"], pending[0]["preferred"]) == (other, first)
    assert pending[0]["until_ns"] > now_ns() - 5 * 10**9
    site.wait_probe(first, timeout=30)  # then it takes the VIP back
    wait_until(lambda: preemption() == [], 15, "no preemption left to say")
    wait_titles(site.chat.received, f" moved {other} -> {first}", 1)
    assert [i["kind"] for i in incidents_since(site, back) if i["severity"] != "info"] == ["failover"]


def test_a_v4_and_v6_sync_groups_failover_is_one_incident_and_one_alert(make) -> None:  # type: ignore[no-untyped-def]
    site = make("sync")
    assert site.lab.holders(site.lab.vip6) == ["node1"]
    start = now_ns()
    site.power_off("node1")
    site.wait_probe("node2")
    site.wait_probe("node2", vip=site.lab.vip6)  # the master's probe asks http://[v6]/ too
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the sync group's failover")
    assert failover["summary"].startswith("VG_1 (VI_1, VI_6) moved node1 -> node2")
    assert failover["data"]["members"] == ["VI_1", "VI_6"]
    assert set(failover["data"]["vips"]) == {site.lab.vip, site.lab.vip6}
    assert sorted(transitions(site, start)) == [("node2", "VG_1", "MASTER"), ("node2", "VI_1", "MASTER"),
                                                ("node2", "VI_6", "MASTER")]
    wait_titles(site.chat.received, " moved node1 -> node2", 1)
    assert one_move(site, "[warning] VIPs ", "node1 -> node2")
    assert "(VG_1)" in titles(site.chat.received(), " moved ")[0]
    assert not incidents_since(site, start, "split_brain", "sync_split", "no_master")


def test_v6_vrrp_lost_alone_is_that_members_split_brain(make) -> None:  # type: ignore[no-untyped-def]
    """node2 has no sync group (drift) and node1's v6 adverts are dropped: node2 takes VI_6 alone while VI_1
    stays on node1. The member left behind is caught: a split brain of VI_6, not folded into the group."""
    site = make("sync")
    node2 = site.pillar / "node2.sls"
    node2.write_text(node2.read_text().replace("vrrp:\n", "vrrp:\n  sync_group: ''\n", 1))
    site.apply()
    site.settle()
    start = now_ns()
    node1 = site.lab.nodes[0]
    script = ("table inet hm_v6drop {\n chain output {\n  type filter hook output priority 0; policy accept;\n"
              "  ip6 nexthdr vrrp drop\n }\n}\n")
    subprocess.run(["ip", "netns", "exec", node1.netns, "nft", "-f", "-"], input=script, text=True, check=True)
    wait_until(lambda: site.lab.holders(site.lab.vip6) == ["node1", "node2"], 20, "node2 to take VI_6 too")
    assert site.lab.holders(site.lab.vip) == ["node1"]
    [alert] = wait_titles(site.chat.received, "split brain", 1)
    assert alert.startswith(f"[critical] VIP {site.lab.vip6} (VI_6") and "split brain" in alert
    assert [i["instance"] for i in incidents_since(site, start, "split_brain")] == ["VI_6"]


def test_pair_lint_finds_the_planted_mistakes_and_apply_changes_nothing(make) -> None:  # type: ignore[no-untyped-def]
    site = make("unicast", settle=False)
    node1, node2, pair = (site.pillar / f"{name}.sls" for name in ("node1", "node2", "pair"))
    good1, good2 = node1.read_text(), node2.read_text()
    conf = site.lab.nodes[0].etc / "keepalived" / "keepalived.conf"
    before = conf.read_text()
    other = site.lab.vip2  # an address of the lab that no node has

    node2.write_text(good2.replace(f"- {site.lab.nodes[0].addr}", f"- {other}"))  # node2's peer is not node1
    out = site.apply(check=False)
    assert out.returncode == 1 and "pair lint found errors: nothing was changed" in out.stderr, out.stderr
    assert (f"unicast peers not symmetric: node1 sends from {site.lab.nodes[0].addr}, which node2's unicast_peer"
            f" ({other}) does not list") in out.stdout

    # node1 sends from an address it does not have (its grains say which it has); a v6 VIP in the v4 instance
    node1.write_text(good1.replace("vrrp:\n", f"vrrp:\n  unicast_src_ip: {other}\n", 1))
    node2.write_text(good2.replace(f"- {site.lab.nodes[0].addr}", f"- {other}"))
    pair.write_text(pair.read_text().replace(f"- {site.lab.vip}/24", f"- {site.lab.vip}/24\n  - fd00:1::100/64"))
    out = site.apply(check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"node1: unicast_src_ip {other} is not an address of the node" in out.stdout
    assert "node1: v4 and v6 VIPs in one instance" in out.stdout and "node2: v4 and v6 VIPs" in out.stdout
    assert conf.read_text() == before


def test_pair_lint_finds_a_sync_group_with_other_vrids_on_one_node(make) -> None:  # type: ignore[no-untyped-def]
    site = make("sync", settle=False)
    node2 = site.pillar / "node2.sls"
    node2.write_text(node2.read_text().replace("vrrp:\n", "vrrp:\n  instances: {VI_6: {virtual_router_id: 69}}\n", 1))
    out = site.apply(check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sync group's virtual_router_ids differ (VI_1, VI_6): node1: 66, 67; node2: 66, 69" in out.stdout
