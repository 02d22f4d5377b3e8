"""The lab pair against ground truth: who holds the VIP, who answers on it, and what keepalived reported."""

import pytest
from labtools import Transitions, wait_until

from hamaster.lab.pair import Lab
from hamaster.master.intake.probe import VipProbe, handovers, outages

pytestmark = pytest.mark.lab


def probe_for(lab: Lab) -> VipProbe:
    return VipProbe(lab.vip, nodes=[n.name for n in lab.nodes])


def test_pair_comes_up_with_node1_alone_holding_the_vip_and_serving_its_page(pair: Lab, transitions: Transitions):
    assert pair.holders() == ["node1"]
    with probe_for(pair) as probe:
        assert probe.wait_for("node1", timeout=5)
    assert transitions.states("node1")[-1] == "MASTER"
    assert transitions.states("node2") == ["BACKUP"]
    assert ("node1", "INSTANCE", "VI_1", "MASTER", "100") in transitions.all()


def test_stopping_keepalived_on_node1_moves_the_vip_to_node2(pair: Lab, transitions: Transitions, record_property):
    with probe_for(pair) as probe:
        assert probe.wait_for("node1", timeout=5)
        pair.stop_keepalived("node1")
        assert probe.wait_for("node2", timeout=10), f"probe saw {probe.observations()}"
    assert pair.holders() == ["node2"]
    [moved] = handovers(probe.observations())
    assert (moved.before, moved.after) == ("node1", "node2")
    record_property("failover_gap_ms", moved.duration_ns / 1e6)
    print(f"graceful stop: VIP unanswered for {moved.duration_ns / 1e6:.0f} ms ({probe.requests} requests)")
    assert transitions.states("node1")[-1] == "STOP"
    assert transitions.states("node2")[-1] == "MASTER"


def test_a_crashed_keepalived_leaves_the_vip_to_node2_after_the_master_down_interval(pair: Lab, record_property):
    with probe_for(pair) as probe:
        assert probe.wait_for("node1", timeout=5)
        assert pair.kill_keepalived("node1")
        assert probe.wait_for("node2", timeout=10), f"probe saw {probe.observations()}"
    # SIGKILL gives no goodbye: node1's kernel keeps the address, node2's gratuitous ARP wins the clients over
    assert pair.holders() == ["node1", "node2"]
    [moved] = handovers(probe.observations())
    assert (moved.before, moved.after) == ("node1", "node2")
    record_property("crash_gap_ms", moved.duration_ns / 1e6)
    print(f"crash: VIP served by node1's orphan address, then node2, gap {moved.duration_ns / 1e6:.0f} ms")


def test_dropping_vrrp_on_node2_makes_a_split_brain_and_healing_ends_it(pair: Lab, transitions: Transitions):
    node1_before = transitions.states("node1")
    pair.block_vrrp("node2")
    wait_until(lambda: pair.holders() == ["node1", "node2"], 10, "node2 to claim the VIP too")
    wait_until(lambda: transitions.states("node2")[-1:] == ["MASTER"], 5, "node2's MASTER notify")

    pair.unblock_vrrp("node2")
    wait_until(lambda: pair.holders() == ["node1"], 10, "node2 to give the VIP back")
    wait_until(lambda: transitions.states("node2")[-1:] == ["BACKUP"], 5, "node2's BACKUP notify")
    # the node that stayed MASTER throughout says nothing: only the probe and the other node tell the story
    assert transitions.states("node1") == node1_before


def test_the_page_on_the_vip_names_node1_and_nginx_answers_on_each_node(pair: Lab):
    probe = probe_for(pair)
    assert probe.ask() == "node1"
    for node in pair.nodes:
        assert VipProbe(node.addr, nodes=[n.name for n in pair.nodes]).ask() == node.name
    assert not outages(probe.observations())


def test_powering_node1_off_hands_the_vip_to_node2_and_powering_on_takes_it_back(pair: Lab, transitions: Transitions,
                                                                                 record_property):
    with probe_for(pair) as probe:
        assert probe.wait_for("node1", timeout=5)
        pair.power_off("node1")
        assert probe.wait_for("node2", timeout=10), f"probe saw {probe.observations()}"
        assert pair.holders() == ["node2"]

        pair.power_on("node1")
        pair.start_nginx("node1")
        pair.start_keepalived("node1")  # same config as before: priority 100 preempts node2
        assert probe.wait_for("node1", timeout=15), f"probe saw {probe.observations()}"
    wait_until(lambda: pair.holders() == ["node1"], 5, "node2 to release the VIP")
    down, back = handovers(probe.observations())
    assert (down.before, down.after, back.before, back.after) == ("node1", "node2", "node2", "node1")
    record_property("failover_gap_ms", down.duration_ns / 1e6)
    print(f"power off: VIP unanswered for {down.duration_ns / 1e6:.0f} ms; back to node1 after "
          f"{back.duration_ns / 1e6:.0f} ms")
    assert transitions.states("node2")[-2:] == ["MASTER", "BACKUP"]
