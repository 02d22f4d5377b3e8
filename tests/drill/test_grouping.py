"""Which (minion, instance) are one VRRP group (master/correlate/grouping.py), case by case: the wire's rule
the correlator keeps, the picture's two rules (unsaid members, a pair whose configs disagree) and the labels."""

from pathlib import Path
from typing import Any

from hamaster.core.events import Event, vrrp_tag
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.correlate.grouping import site_groups
from hamaster.master.drills import live
from hamaster.master.drills.checks import findings
from hamaster.master.drills.snapshot import Snapshot

NET = {51: "10.1.1.0/24", 52: "10.1.2.0/24"}


def facts(vrid: int, vip: str, network: str | None = None, **more: Any) -> dict[str, Any]:
    return {"vrid": vrid, "vips": [vip], "family": "inet", **({"network": network} if network else {}), **more}


def two_pairs(name2: str = "VI_1") -> dict[tuple[str, str], dict[str, Any]]:
    return {("node1", "VI_1"): facts(51, "10.1.1.100", NET[51]), ("node2", "VI_1"): facts(51, "10.1.1.100", NET[51]),
            ("node3", name2): facts(52, "10.1.2.100", NET[52]), ("node4", name2): facts(52, "10.1.2.100", NET[52])}


def shape(said: dict[tuple[str, str], dict[str, Any]], settings: Any = None) -> list[tuple[str, list[str]]]:
    return [(g.label, g.nodes) for g in site_groups(said, settings)]


def test_pairs_of_one_name_are_told_apart_by_the_wire_and_named_so() -> None:
    assert shape(two_pairs()) == [("VI_1 (VRID 51, 10.1.1.0/24)", ["node1", "node2"]),
                                  ("VI_1 (VRID 52, 10.1.2.0/24)", ["node3", "node4"])]
    assert shape(two_pairs("VI_2")) == [("VI_1", ["node1", "node2"]), ("VI_2", ["node3", "node4"])]  # as before
    # the same VRID on two networks is two groups too; without a network, the first VIP says where
    same = {mi: {**f, "vrid": 51} for mi, f in two_pairs().items()}
    assert [label for label, _ in shape(same)] == ["VI_1 (VRID 51, 10.1.1.0/24)", "VI_1 (VRID 51, 10.1.2.0/24)"]
    old = {mi: {k: v for k, v in f.items() if k != "network"} for mi, f in two_pairs().items()}
    assert [label for label, _ in shape(old)] == ["VI_1 (VRID 51, 10.1.1.100)", "VI_1 (VRID 52, 10.1.2.100)"]
    # what the VRID and the first VIP do not tell apart is named by its nodes
    alike = {(m, "VI_1"): facts(51, "10.1.1.100", vips=["10.1.1.100", extra])
             for m, extra in (("node1", "10.9.9.9"), ("node2", "10.9.9.9"), ("node3", "10.8.8.8"),
                              ("node4", "10.8.8.8"))}
    assert shape(alike) == [("VI_1 on node1, node2", ["node1", "node2"]), ("VI_1 on node3, node4", ["node3", "node4"])]


def test_a_member_that_says_nothing_joins_the_one_group_of_its_name() -> None:
    one = {("node1", "VI_1"): facts(51, "10.1.1.100", NET[51]), ("node2", "VI_1"): {}}
    assert shape(one) == [("VI_1", ["node1", "node2"])]
    # ... and of two, neither: it stays with its name, a group of its own
    many = {**two_pairs(), ("node5", "VI_1"): {}}
    assert shape(many)[2] == ("VI_1 on node5", ["node5"]) and len(shape(many)) == 3


def test_one_pair_whose_configs_disagree_stays_one_group_for_check_to_say_so() -> None:
    hand_edit = {("node1", "VI_1"): facts(66, "10.0.0.100"), ("node2", "VI_1"): facts(67, "10.0.0.100")}
    assert shape(hand_edit) == [("VI_1", ["node1", "node2"])]
    snap = Snapshot({"node1": {"VI_1": ("MASTER", 100, 0)}, "node2": {"VI_1": ("BACKUP", 90, 0)}},
                    {"node1": True, "node2": True}, {"node1": {}, "node2": {}}, {},
                    {m: {"instances": {"VI_1": f}} for (m, _), f in hand_edit.items()}, [])
    assert [f.problem.split(":")[0] for f in findings(snap, None) if f.severity == "error"] == [
        "virtual_router_id differ between the live configs"]


def test_a_split_brain_within_one_of_two_pairs_is_still_one() -> None:
    said = two_pairs()
    states = {"node1": "MASTER", "node2": "MASTER", "node3": "MASTER", "node4": "BACKUP"}
    snap = Snapshot({m: {i: (states[m], 100, 0)} for m, i in said}, dict.fromkeys(states, True),
                    {m: {} for m in states}, {}, {m: {"instances": {i: f}} for (m, i), f in said.items()}, [])
    errors = [(f.group, f.problem) for f in findings(snap, None) if f.severity == "error"]
    assert errors == [("VI_1 (VRID 51, 10.1.1.0/24)",
                       "VI_1 (VRID 51, 10.1.1.0/24) has two MASTERs (node1, node2): split brain")]


def test_group_by_instance_vip_and_router_id_as_the_settings_say() -> None:
    assert shape(two_pairs(), {"group_by": "instance"}) == [("VI_1", ["node1", "node2", "node3", "node4"])]
    hints = {"instances": {"VI_1": {"router_id": 7}, "VI_2": {"router_id": 7}}}
    assert shape(two_pairs("VI_2"), {"group_by": "router_id", **hints}) == [
        ("vrid-7", ["node1", "node2", "node3", "node4"])]
    assert shape(two_pairs("VI_2"), {"group_by": "vip", "instances": {"VI_2": {"vip": "10.1.2.100"}}}) == [
        ("10.1.2.100", ["node3", "node4"]), ("VI_1", ["node1", "node2"])]


def test_the_correlator_groups_the_transitions_as_the_picture_does(tmp_path: Path) -> None:
    """One rule: the correlator's groups of the nodes' transitions (their data: what the minion's describe
    adds) are the site's groups."""
    conn = store.connect(tmp_path / "store.db")
    try:
        said = two_pairs()
        c = Correlator(conn, {}, silent_after_s=10)
        for seq, ((minion, instance), data) in enumerate(sorted(said.items()), 1):
            ev = Event(seq, 10**18 + seq, "vrrp", vrrp_tag(instance, "BACKUP"), instance, "BACKUP", 90, "hook", data)
            c.feed(store.insert_events(conn, minion, 10**18 + seq, [ev]))
        conn.commit()
        by_correlator = sorted((key, sorted(g.members)) for key, g in c.groups.items())
        assert by_correlator == sorted((g.key, g.nodes) for g in site_groups(said)) and len(by_correlator) == 2
    finally:
        conn.close()


def test_the_live_probe_hears_adverts_within_each_pair_only() -> None:
    """Two MASTERs of two pairs both send adverts: neither is deaf to the other's (VRRP filters by VRID), and
    a BACKUP that hears none is a finding of its own pair."""
    said = two_pairs()
    states = {"node1": "MASTER", "node2": "BACKUP", "node3": "MASTER", "node4": "BACKUP"}
    snap = Snapshot({m: {i: (states[m], 100, 0)} for m, i in said}, dict.fromkeys(states, True),
                    {m: {} for m in states}, {}, {m: {"instances": {i: f}} for (m, i), f in said.items()}, [])

    def inst(state: str, rcvd: int) -> dict[str, Any]:
        return {"state": state, "advert_int": 1.0, "advert_rcvd": rcvd, "advert_sent": 3 if state == "MASTER" else 0}
    reports = {m: {"v": 1, "keepalived": "running", "window_s": 3.0, "errors": [], "scripts": {}, "doctor": [],
                   "instances": {"VI_1": inst(s, 0 if s == "MASTER" else 3)}} for m, s in states.items()}
    assert live.findings(reports, group_of=snap.group_of) == []
    reports["node4"]["instances"]["VI_1"] = inst("BACKUP", 0)
    [f] = live.findings(reports, group_of=snap.group_of)
    assert (f.node, f.group) == ("node4", "VI_1 (VRID 52, 10.1.2.0/24)") and "node3 sent them" in f.problem
    assert "node1" not in f.problem


def test_a_pair_whose_nodes_read_their_network_otherwise_is_one_group_in_the_picture_too() -> None:
    """As the correlator (same_wire): another netmask on one node, or the VIP its only address there; under
    other names too (the picture's by-name rule does not hide it)."""
    for one, other in (("10.1.0.0/24", "10.1.0.0/16"), (None, "10.1.1.0/24")):
        said = {("node1", "VI_A"): facts(51, "10.1.1.100", one), ("node2", "VI_B"): facts(51, "10.1.1.100", other)}
        assert [nodes for _, nodes in shape(said)] == [["node1", "node2"]], (one, other)
    apart = {("node1", "VI_1"): facts(51, "10.1.1.100", "10.1.1.0/24"),
             ("node2", "VI_1"): facts(51, "10.1.1.100", "10.1.1.0/24"),
             ("node3", "VI_1"): facts(51, "10.9.1.100", "10.9.1.0/24"),
             ("node4", "VI_1"): facts(51, "10.9.1.100", "10.9.1.0/24")}
    assert [nodes for _, nodes in shape(apart)] == [["node1", "node2"], ["node3", "node4"]]
    # a /16 typed on a1 does not swallow the other pair of that VRID inside it
    typo = {("a1", "VI_1"): facts(51, "10.0.0.100", "10.0.0.0/16"),
            ("a2", "VI_1"): facts(51, "10.0.0.100", "10.0.0.0/24"),
            ("b1", "VI_1"): facts(51, "10.0.1.100", "10.0.1.0/24"),
            ("b2", "VI_1"): facts(51, "10.0.1.100", "10.0.1.0/24")}
    assert [nodes for _, nodes in shape(typo)] == [["a1", "a2"], ["b1", "b2"]]
