"""The correlator on the topologies beside the seed's: groups by what identifies them on the wire, sync
groups as groups of groups, instances without VIPs, nopreempt. Real store, events as the minion sends them
(with the facts of its keepalived.conf: data.vrid, vips, family; GROUP transitions marked data.type)."""

import sqlite3
from typing import Any

import pytest

from hamaster.core.events import Event, vrrp_tag
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.correlate.correlator import CONFIG_TAG, Correlator
from hamaster.master.store import incidents

T0 = 1_750_000_000 * 10**9
S = 10**9
V4 = {"vrid": 66, "vips": ["10.0.0.100"], "family": "inet", "interface": "eth0"}
V6 = {"vrid": 67, "vips": ["fd00::100"], "family": "inet6", "interface": "eth0"}


class Site:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.c = Correlator(conn, {}, silent_after_s=10)
        self.seq: dict[str, int] = {}
        self.new: list[int] = []

    def send(self, t: float, minion: str, kind: str, tag: str, instance: str | None = None,
             state: str | None = None, prio: int | None = None, data: dict[str, Any] | None = None) -> None:
        self.seq[minion] = self.seq.get(minion, 0) + 1
        ev = Event(self.seq[minion], T0 + round(t * S), kind, tag, instance, state, prio, "fifo", data or {})
        stored = store.insert_events(self.conn, minion, T0 + round(t * S), [ev])
        self.conn.commit()
        self.new += self.c.feed(stored)

    def vrrp(self, t: float, minion: str, instance: str, state: str, prio: int | None,
             data: dict[str, Any]) -> None:
        self.send(t, minion, "vrrp", vrrp_tag(instance, state), instance, state, prio, data)

    def group(self, t: float, minion: str, name: str, state: str) -> None:
        self.send(t, minion, "vrrp", vrrp_tag(name, state), name, state, None, {"type": "GROUP"})

    def config(self, t: float, minion: str, sync_groups: dict[str, list[str]]) -> None:
        self.send(t, minion, "minion", CONFIG_TAG, data={"path": "/etc/keepalived/keepalived.conf",
                                                         "sync_groups": sync_groups, "instances": {}})

    def tick(self, now: float, minions: tuple[str, ...] = ("node1", "node2")) -> None:
        self.new += self.c.tick(T0 + round(now * S), {m: T0 + round(now * S) for m in minions})

    def incidents(self) -> list[Incident]:
        got = sorted(incidents.query(self.conn), key=lambda i: i.id)
        assert sorted(self.new) == [i.id for i in got], "every incident is announced exactly once"
        return got


def test_two_pairs_with_the_same_instance_name_and_vrid_on_other_vips_are_two_groups(
        conn: sqlite3.Connection) -> None:
    site = Site(conn)
    other = {**V4, "vips": ["10.9.0.100"]}  # another pair, another segment: VI_1 and VRID 66 there too
    site.vrrp(0.0, "a1", "VI_1", "MASTER", 100, V4)
    site.vrrp(0.1, "a2", "VI_1", "BACKUP", 99, V4)
    site.vrrp(0.2, "b1", "VI_1", "MASTER", 100, other)
    site.vrrp(0.3, "b2", "VI_1", "BACKUP", 99, other)
    site.tick(5.0, ("a1", "a2", "b1", "b2"))
    assert site.incidents() == []  # by name alone, a1 and b1 would be a split brain
    site.vrrp(6.0, "b1", "VI_1", "FAULT", 100, other)
    site.vrrp(6.5, "b2", "VI_1", "MASTER", 99, other)
    [failover] = site.incidents()
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("b1", "b2")


def test_one_group_on_the_wire_whatever_each_node_calls_its_instance(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, V4)
    site.vrrp(0.1, "node2", "web", "BACKUP", 99, V4)
    site.vrrp(5.0, "node1", "VI_1", "FAULT", 100, V4)
    site.vrrp(5.5, "node2", "web", "MASTER", 99, V4)
    [failover] = site.incidents()
    assert (failover.kind, failover.data["old_holder"], failover.data["new_holder"]) == ("failover", "node1", "node2")


def sync_pair(site: Site) -> None:
    for t, minion in ((0.0, "node1"), (0.0, "node2")):
        site.config(t, minion, {"VG_1": ["VI_1", "VI_6"]})
    for minion, state, prio in (("node1", "MASTER", 100), ("node2", "BACKUP", 99)):
        site.vrrp(0.1, minion, "VI_1", state, prio, V4)
        site.vrrp(0.1, minion, "VI_6", state, prio, V6)
        site.group(0.1, minion, "VG_1", state)


def test_a_sync_groups_failover_is_one_incident_naming_its_members(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    sync_pair(site)
    site.tick(3.0)
    for minion, state, t in (("node1", "FAULT", 5.0), ("node2", "MASTER", 5.4)):
        site.vrrp(t, minion, "VI_1", state, 100, V4)
        site.vrrp(t + 0.001, minion, "VI_6", state, 100, V6)
        site.group(t + 0.002, minion, "VG_1", state)
    site.tick(8.0)
    [failover] = site.incidents()
    assert failover.kind == "failover" and failover.instance == "VG_1"
    assert failover.data["members"] == ["VI_1", "VI_6"] and failover.data["vips"] == ["10.0.0.100", "fd00::100"]
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("node1", "node2")
    assert "VG_1 (VI_1, VI_6) moved node1 -> node2" in failover.summary


def test_a_member_left_behind_is_a_sync_split_until_they_are_together_again(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    sync_pair(site)
    # node2 takes VI_6 alone (its sync group is not what node1's is): VI_1 stays on node1
    site.vrrp(5.0, "node1", "VI_6", "BACKUP", 100, V6)
    site.vrrp(5.0, "node2", "VI_6", "MASTER", 101, V6)
    site.tick(5.5)
    assert [i.kind for i in site.incidents()] == []  # a sync group's members move within moments: wait
    site.tick(7.0)
    [split] = site.incidents()
    assert (split.kind, split.severity, split.instance) == ("sync_split", "critical", "VG_1")
    assert split.data["holders"] == {"VI_1": "node1", "VI_6": "node2"}
    assert split.summary == "sync group VG_1 is split: VI_1 on node1, VI_6 on node2 (its members must move together)"
    site.tick(9.0)
    site.vrrp(10.0, "node2", "VI_6", "BACKUP", 99, V6)
    site.vrrp(10.0, "node1", "VI_6", "MASTER", 100, V6)
    [split] = site.incidents()
    assert split.ended_ns == T0 + 10 * S


def test_a_short_part_during_a_failover_is_no_sync_split(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    sync_pair(site)
    site.vrrp(5.0, "node1", "VI_1", "BACKUP", 100, V4)
    site.vrrp(5.0, "node2", "VI_1", "MASTER", 101, V4)
    site.tick(5.3)
    site.vrrp(5.4, "node1", "VI_6", "BACKUP", 100, V6)
    site.vrrp(5.4, "node2", "VI_6", "MASTER", 101, V6)
    site.group(5.41, "node1", "VG_1", "BACKUP")
    site.group(5.41, "node2", "VG_1", "MASTER")
    site.tick(9.0)
    assert [i.kind for i in site.incidents()] == ["failover"]


def test_an_instance_without_vips_still_has_a_holder(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    cloud = {"vrid": 66, "vips": [], "family": None, "interface": "eth0"}
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, cloud)
    site.vrrp(0.1, "node2", "VI_1", "BACKUP", 99, cloud)
    site.vrrp(5.0, "node1", "VI_1", "FAULT", 100, cloud)
    site.vrrp(5.3, "node2", "VI_1", "MASTER", 99, cloud)
    [failover] = site.incidents()
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("node1", "node2")


def test_under_nopreempt_the_node_back_in_backup_is_no_incident(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, V4)
    site.vrrp(0.1, "node2", "VI_1", "BACKUP", 99, V4)
    site.vrrp(5.0, "node1", "VI_1", "FAULT", 100, V4)
    site.vrrp(5.3, "node2", "VI_1", "MASTER", 99, V4)
    site.vrrp(9.0, "node1", "VI_1", "BACKUP", 100, V4)  # back, higher priority, and it stays BACKUP
    site.tick(30.0)
    assert [i.kind for i in site.incidents()] == ["failover"]


def test_the_same_vrid_on_two_networks_is_two_groups_and_one_group_seen_by_both_nodes_is_one(
        conn: sqlite3.Connection) -> None:
    # the cloud case: no VIP (a notify script moves the address), one instance name and VRID on two segments
    site = Site(conn)
    here = {"vrid": 66, "vips": [], "family": None, "interface": "eth0", "network": "10.1.2.0/24"}
    there = {**here, "network": "10.9.0.0/24"}
    site.vrrp(0.0, "a1", "VI_1", "MASTER", 100, here)
    site.vrrp(0.1, "a2", "VI_1", "BACKUP", 99, here)
    site.vrrp(0.2, "b1", "VI_1", "MASTER", 100, there)
    site.vrrp(0.3, "b2", "VI_1", "BACKUP", 99, there)
    site.tick(5.0, ("a1", "a2", "b1", "b2"))
    assert site.incidents() == []  # one group by name: a1 and b1 would be a split brain
    site.vrrp(6.0, "b1", "VI_1", "FAULT", 100, there)
    site.vrrp(6.5, "b2", "VI_1", "MASTER", 99, there)
    [failover] = site.incidents()
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("b1", "b2")


def test_an_upgrade_mid_stream_keeps_the_group_whole(conn: sqlite3.Connection) -> None:
    # rows stored before the minions said their network (keyed by the VIPs), then node1 upgraded, node2 not yet
    site = Site(conn)
    upgraded = {**V4, "network": "10.0.0.0/24"}
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, V4)
    site.vrrp(0.1, "node2", "VI_1", "BACKUP", 99, V4)
    site.vrrp(3.0, "node1", "VI_1", "MASTER", 100, upgraded)  # its minion restarted: keepalived's dump
    site.tick(4.0)
    assert site.incidents() == []  # node1 still holds it: no group without a MASTER, no second group
    site.vrrp(5.0, "node1", "VI_1", "FAULT", 100, upgraded)
    site.vrrp(5.4, "node2", "VI_1", "MASTER", 99, V4)
    site.vrrp(8.0, "node2", "VI_1", "MASTER", 99, {**upgraded})  # node2 upgraded too
    site.vrrp(9.0, "node2", "VI_1", "FAULT", 99, upgraded)
    site.vrrp(9.3, "node1", "VI_1", "MASTER", 100, upgraded)
    site.tick(12.0)
    moves = [(i.kind, i.data.get("old_holder"), i.data.get("new_holder")) for i in site.incidents()]
    assert moves == [("failover", "node1", "node2"), ("failover", "node2", "node1")]
    # and the same history replayed by a master that restarts
    again = Correlator(conn, {}, silent_after_s=10)
    again.replay(0)
    assert len({id(g) for g in again.groups.values()}) == 1


@pytest.mark.parametrize("one,other", [
    ("10.0.0.0/24", "10.0.0.0/16"),  # a netmask typed otherwise on one node: VRRP works all the same
    (None, "10.0.0.0/24"),  # node1's only address on the interface is the VIP: it says the VIPs, node2 its network
])
def test_one_pair_whose_nodes_see_their_network_otherwise_stays_one_group(
        conn: sqlite3.Connection, one: str | None, other: str) -> None:
    site = Site(conn)
    node1, node2 = {**V4, "network": one}, {**V4, "network": other}
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, node1)
    site.vrrp(0.1, "node2", "VI_1", "BACKUP", 99, node2)
    site.vrrp(5.0, "node1", "VI_1", "FAULT", 100, node1)
    site.vrrp(5.4, "node2", "VI_1", "MASTER", 99, node2)
    site.tick(8.0)
    moves = [(i.kind, i.data.get("old_holder"), i.data.get("new_holder")) for i in site.incidents()]
    assert moves == [("failover", "node1", "node2")]
    again = Correlator(conn, {}, silent_after_s=10)  # a master that restarts replays it alike
    again.replay(0)
    assert len({id(g) for g in again.groups.values()}) == 1


def test_the_same_vrid_on_networks_apart_is_two_groups(conn: sqlite3.Connection) -> None:
    site = Site(conn)
    site.vrrp(0.0, "node1", "VI_1", "MASTER", 100, {**V4, "network": "10.0.0.0/24"})
    site.vrrp(0.1, "node3", "VI_1", "MASTER", 100, {**V4, "vips": ["10.9.0.100"], "network": "10.9.0.0/24"})
    site.tick(3.0, ("node1", "node3"))
    assert [i.kind for i in site.incidents()] == []  # two MASTERs, one in each group: no split brain


@pytest.mark.parametrize("first", ["a", "b"])
def test_a_netmask_typed_otherwise_does_not_swallow_the_pair_beside_it(conn: sqlite3.Connection, first: str) -> None:
    """a1 says 10.0.0.0/16 (its typo), a2 10.0.0.0/24; b1 and b2 are another pair of that VRID on 10.0.1.0/24,
    inside a1's /16: a is one group, b another, in any order (no split brain a1, b1)."""
    site = Site(conn)
    a = [("a1", {**V4, "network": "10.0.0.0/16"}), ("a2", {**V4, "network": "10.0.0.0/24"})]
    b = [("b1", {**V4, "vips": ["10.0.1.100"], "network": "10.0.1.0/24"}),
         ("b2", {**V4, "vips": ["10.0.1.100"], "network": "10.0.1.0/24"})]
    pairs = a + b if first == "a" else b + a
    for n, (node, data) in enumerate(pairs):
        site.vrrp(n / 10, node, "VI_1", "MASTER" if node.endswith("1") else "BACKUP", 100 - n, data)
    site.vrrp(5.0, "a1", "VI_1", "FAULT", 100, a[0][1])
    site.vrrp(5.4, "a2", "VI_1", "MASTER", 99, a[1][1])
    site.tick(8.0, ("a1", "a2", "b1", "b2"))
    moves = [(i.kind, i.data.get("old_holder"), i.data.get("new_holder")) for i in site.incidents()]
    assert moves == [("failover", "a1", "a2")]
