"""A node vouches for its MASTER: a keepalived that dies is a failover from its death, never a split brain;
a VIP left behind is a stale_vip; clocks are corrected before nodes are compared (real SQLite store)."""

import math
import sqlite3
from pathlib import Path

import pytest
from truthfeed import S, TruthFeed

from hamaster.core.events import Event
from hamaster.master import store


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = store.connect(tmp_path / "store.db")
    yield c
    c.close()


def crash_of_a1(f: TruthFeed, minion_alive: bool = True) -> None:
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.tick(5.0, {"a1": 5.0, "a2": 5.0})
    if minion_alive:
        f.beacon(10.0, "a1", "keepalived/down", pid=4242, died=True)  # kill -9: no STOP, the VIP stays
    f.tick(10.5, {"a1": 10.5 if minion_alive else 9.99, "a2": 10.5})
    f.vrrp(13.1, "a2", "MASTER", 100)  # 3 adverts later
    for t in (13.5, 14.0, 16.0, 20.5):
        f.tick(t, {"a1": t if minion_alive else 9.99, "a2": t})


def test_keepalived_killed_on_the_master_is_one_failover_from_its_death_and_a_stale_vip(conn) -> None:
    f = TruthFeed(conn)
    crash_of_a1(f)
    assert not f.incidents("split_brain")
    [failover] = f.incidents("failover")
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("a1", "a2")
    assert failover.data["gap_ns"] == round(3.1 * S)
    assert failover.data["cause"] == "keepalived on a1 died without a STOP (killed or crashed)"
    assert failover.data["stale_vip"] == {"node": "a1", "vip": "10.9.0.100", "interface": "eth0"}
    assert failover.severity == "critical" and "stale VIP" in failover.summary
    [stale] = f.incidents("stale_vip")
    assert stale.severity == "critical" and stale.nodes == ["a1"] and stale.ended_ns is None
    assert stale.started_ns == f.at(10.0)
    assert "a1 still holds VIP 10.9.0.100 on eth0" in stale.summary

    f.beacon(30.0, "a1", "vip/10.9.0.100/lost")  # the operator removed it
    [stale] = f.incidents("stale_vip")
    assert stale.ended_ns == f.at(30.0)


def test_the_restart_after_a_crash_is_no_late_failover_of_the_crash(conn) -> None:
    f = TruthFeed(conn)
    crash_of_a1(f)
    f.beacon(40.0, "a1", "keepalived/up", pid=4300)
    f.vrrp(40.5, "a1", "BACKUP", 150)  # comes back as BACKUP (nopreempt): nothing moved
    f.tick(41.0, {"a1": 41.0, "a2": 41.0})
    assert len(f.incidents("failover")) == 1 and not f.incidents("split_brain")


def test_minion_killed_with_its_keepalived_is_a_failover_from_the_silence(conn) -> None:
    f = TruthFeed(conn)
    crash_of_a1(f, minion_alive=False)
    assert not [i for i in f.incidents("split_brain") if i.severity == "critical"]
    [failover] = f.incidents("failover")
    # nobody saw it die: after its last heartbeat (9.99), before the next one was due (10.49, +20 ms of slack)
    assert failover.data["gap_range_ns"] == [f.at(13.1) - f.at(10.51), f.at(13.1) - f.at(9.99)]
    assert failover.data["gap_ns"] == f.at(13.1) - f.at(10.25)
    assert failover.data["death_dated_by"] == "heartbeat" and "in 2.6-3.1 s" in failover.summary
    assert "a1 silent" in failover.data["cause"]


def silent_crash(f: TruthFeed, takeover: float, advert_int: float | None = 1.0) -> None:
    """a1 (MASTER, 150) and its minion die together at ~10.3 s, last heard 9.99 s; a2 (100) takes over at
    `takeover`. With `advert_int`, the nodes' keepalived.conf facts say so."""
    if advert_int is not None:
        for minion, prio in (("a1", 150), ("a2", 100)):
            f._store(0.0, minion, "minion", "minion/keepalived/config", data={"path": "/etc/keepalived/keepalived.conf",
                     "sha256": "0" * 64, "instances": {"VI_1": {"priority": prio, "advert_int": advert_int}},
                     "sync_groups": {}})
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.tick(0.5, {"a1": 0.5, "a2": 0.5})
    f.tick(10.5, {"a1": 9.99, "a2": 10.5})
    f.vrrp(takeover, "a2", "MASTER", 100)
    for t in (14.0, 20.5):
        f.tick(t, {"a1": 9.99, "a2": t})


def test_a_silent_death_is_dated_by_the_heartbeat_and_the_new_masters_master_down_interval(conn) -> None:
    f = TruthFeed(conn)
    # a1's last advert went at 10.2 s: a2 (priority 100, advert_int 1) takes over 3 + 156/256 s later
    silent_crash(f, takeover=10.2 + 3 + 156 / 256)
    [failover] = f.incidents("failover")
    assert failover.data["death_dated_by"] == "heartbeat and advert"
    takeover = f.at(10.2 + 3 + 156 / 256)
    # dead in 10.2-10.49 (each bound widened by its slack, 20 ms)
    assert failover.data["gap_range_ns"] == [takeover - f.at(10.51), takeover - f.at(10.18)]
    assert abs(failover.data["gap_ns"] - (takeover - f.at(10.345))) <= 1


def test_bounds_that_contradict_leave_the_heartbeat_and_no_facts_leave_it_too(conn, tmp_path: Path) -> None:
    f = TruthFeed(conn)
    silent_crash(f, takeover=20.0)  # far later than any advert of a1's could explain: not dated by it
    [failover] = f.incidents("failover")
    assert failover.data["death_dated_by"] == "heartbeat"
    other = store.connect(tmp_path / "other.db")
    g = TruthFeed(other)
    silent_crash(g, takeover=10.2 + 3 + 156 / 256, advert_int=None)  # no keepalived.conf facts
    [failover] = g.incidents("failover")
    assert failover.data["death_dated_by"] == "heartbeat"
    other.close()


def test_two_masters_both_vouched_for_are_still_a_split_brain(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.vrrp(5.0, "a2", "MASTER", 100)  # a2 stopped hearing a1; both alive and heard
    f.tick(7.0, {"a1": 7.0, "a2": 7.0})
    [split] = f.incidents("split_brain")
    assert split.severity == "critical"


def test_a_node_clock_5_s_fast_is_corrected_and_is_an_incident_of_its_own(conn) -> None:
    f = TruthFeed(conn, clock_s={"a2": 5.0})
    f.heartbeats(0.0, "a1")
    f.heartbeats(0.0, "a2")
    f.vrrp(1.0, "a1", "MASTER", 100)
    f.vrrp(1.1, "a2", "BACKUP", 150)
    f.tick(3.0, {"a1": 3.0, "a2": 3.0})
    f.vrrp(10.0, "a2", "MASTER", 150)  # preemption: a 13 ms overlap
    f.vrrp(10.013, "a1", "BACKUP", 100)
    f.tick(12.0, {"a1": 12.0, "a2": 12.0})
    assert not [i for i in f.incidents("split_brain") if i.severity == "critical"]
    [overlap] = f.incidents("split_brain")
    assert overlap.severity == "info" and overlap.data["duration_ns"] == round(0.013 * S)
    [failover] = f.incidents("failover")
    assert failover.data["new_holder"] == "a2" and not failover.data["gap_ns"]
    assert abs(failover.data["clock_offsets_ns"]["a2"] - 5 * S) < 1_000_000
    [clock] = f.incidents("clock_offset")
    assert clock.summary == "node a2's clock is 5.0 s fast" and clock.nodes == ["a2"]


def test_a_crash_gap_on_a_fast_clock_is_measured_in_corrected_time(conn) -> None:
    f = TruthFeed(conn, clock_s={"a1": 5.0})
    f.heartbeats(0.0, "a1")
    f.heartbeats(0.0, "a2")
    crash_of_a1(f)
    [failover] = f.incidents("failover")
    assert abs(failover.data["gap_ns"] - round(3.1 * S)) < 2_000_000  # within the estimate's error


@pytest.mark.parametrize("bad_time", ["far future", "nan"])
def test_an_impossible_node_time_never_blinds_the_group(conn, bad_time: str) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    if bad_time == "far future":
        f.vrrp(1.0, "a2", "BACKUP", 100, node_ns=f.at(3600.0), data={"why": "a peer 1 h fast"})
    else:
        f.vrrp(1.0, "a2", "BACKUP", 100, node_ns=1, data={"node_ns_sent": repr(math.nan)})  # as the protocol marks it
    replaced = conn.execute("SELECT node_ns, master_ns, data FROM events WHERE seq = 2 AND minion = 'a2'").fetchone()
    assert replaced[0] == replaced[1] and "node_time_replaced" in replaced[2]
    f.vrrp(5.0, "a1", "FAULT", 150)
    f.vrrp(5.4, "a2", "MASTER", 100)
    f.tick(6.0, {"a1": 6.0, "a2": 6.0})
    [failover] = f.incidents("failover")
    assert failover.data["gap_ns"] == round(0.4 * S)


def test_a_graceful_stop_of_the_master_is_a_failover_by_stop_and_no_stale_vip(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.vrrp(10.0, "a1", "STOP", 150)  # keepalived stops: it removes the VIP, then exits
    f.vrrp(10.05, "a2", "MASTER", 100)
    f.beacon(10.06, "a1", "keepalived/down", pid=4242, died=True)
    f.tick(10.5, {"a1": 10.5, "a2": 10.5})
    f.beacon(10.7, "a1", "vip/10.9.0.100/lost")  # the next look of the VIP beacon
    f.tick(13.0, {"a1": 13.0, "a2": 13.0})
    [failover] = f.incidents("failover")
    assert failover.data["cause"] == "a1 STOP (priority 150)" and "stale_vip" not in failover.data
    assert not f.incidents("stale_vip")


def test_a_vip_left_on_a_backup_is_stale_after_the_grace(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.vrrp(10.0, "a2", "MASTER", 100)
    f.vrrp(10.01, "a1", "BACKUP", 150)
    f.tick(11.0, {"a1": 11.0, "a2": 11.0})
    assert not f.incidents("stale_vip")  # keepalived removes it as it leaves MASTER: the beacon is a look behind
    f.tick(12.5, {"a1": 12.5, "a2": 12.5})
    [stale] = f.incidents("stale_vip")
    assert "while a1 is BACKUP" in stale.summary and stale.started_ns == f.at(10.01)


def test_a_node_switched_off_in_fault_is_silent_not_a_stale_vip(conn) -> None:
    # the demo's power-off: the cable goes dark (keepalived says FAULT), then every process dies; the VIP
    # stays configured on a dead interface of a dead host, which answers no ARP: that is a silence
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.vrrp(10.0, "a1", "FAULT", 150)  # its last word; its last heartbeat was at 9.95
    f.tick(12.3, {"a1": 9.95, "a2": 12.3})  # past the stale grace (2 s), before a1 is declared silent
    assert not f.incidents("stale_vip")
    f.tick(20.1, {"a1": 9.95, "a2": 20.1})  # this feed's silent_after: 10 s
    assert f.incidents("node_silent") and not f.incidents("stale_vip")


def test_a_node_back_from_a_power_off_is_judged_by_its_fresh_beacon_not_by_what_it_held_before(conn) -> None:
    # the lab's (and a real) boot: the VIP is gone with the power; the FAULT spooled before the cable went dark
    # arrives with the node's return, before the new minion's first VIP look: that look decides, not the old one
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.tick(5.0, {"a1": 5.0, "a2": 5.0})
    f.tick(20.1, {"a1": 9.95, "a2": 20.1})  # silent (this feed's silent_after: 10 s)
    f.vrrp(10.0, "a1", "FAULT", 150)  # spooled while the cable was dark, taken in now
    f.tick(25.0, {"a1": 25.0, "a2": 25.0})  # back: heard long after the FAULT's grace
    f.tick(26.0, {"a1": 26.0, "a2": 26.0})
    assert f.incidents("node_back") and not f.incidents("stale_vip")
    f.beacon(26.1, "a1", "vip/10.9.0.100/lost", initial=True)  # the new minion's first look
    f.tick(30.0, {"a1": 30.0, "a2": 30.0})
    assert not f.incidents("stale_vip")


def test_a_node_back_from_a_partition_with_the_vip_still_held_is_a_stale_vip(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.tick(20.1, {"a1": 9.95, "a2": 20.1})
    f.vrrp(10.0, "a1", "FAULT", 150)
    f.tick(25.0, {"a1": 25.0, "a2": 25.0})
    for t in (26.0, 27.5, 28.0):  # the minion never restarted: no fresh look comes, what it said holds
        f.tick(t, {"a1": t, "a2": t})
    [stale] = f.incidents("stale_vip")
    assert "a1 is FAULT" in stale.summary


def test_two_instances_of_opposite_priorities_each_vip_judged_by_its_own_instance(conn) -> None:
    """a1 is MASTER of VI_1 and BACKUP of VI_2 (the minion's dump says which VIP is whose): a1 still holding
    VI_2's VIP is stale though it is MASTER of something."""
    f = TruthFeed(conn)
    for t, minion, inst, state in ((0.0, "a1", "VI_1", "MASTER"), (0.0, "a2", "VI_2", "MASTER"),
                                   (0.1, "a2", "VI_1", "BACKUP"), (0.1, "a1", "VI_2", "BACKUP")):
        f._store(t, minion, "vrrp", f"vrrp/{inst}/{state}", instance=inst, state=state, priority=100)
    f.beacon(0.2, "a1", "vip/10.9.0.101/held", interface="eth0", instance="VI_1")
    f.beacon(0.3, "a1", "vip/10.9.0.102/held", interface="eth1", instance="VI_2")
    f.tick(5.0, {"a1": 5.0, "a2": 5.0})
    [stale] = f.incidents("stale_vip")
    assert stale.data["vip"] == "10.9.0.102" and stale.instance == "VI_2" and "a1 is BACKUP" in stale.summary


def test_a_minion_restarted_after_its_keepalived_died_undoes_only_what_was_said_before(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    # a1's minion and keepalived died at ~5 s; the minion is back at 6 s (before it is declared silent)
    f.beacon(6.2, "a1", "keepalived/down", initial=True, minion_started_ns=f.at(6.0))
    f.vrrp(8.1, "a2", "MASTER", 100)
    f.tick(9.5, {"a1": 9.5, "a2": 9.5})
    assert not f.incidents("split_brain")
    [failover] = f.incidents("failover")
    assert failover.data["cause"] == "keepalived on a1 died without a STOP (killed or crashed)"


def test_a_first_look_finding_no_keepalived_leaves_what_the_hook_said_since_the_minion_started(conn) -> None:
    f = TruthFeed(conn)
    f.beacon(0.0, "a2", "keepalived/up", initial=True, minion_started_ns=f.at(0.0), pid=7)
    f.vrrp(1.0, "a1", "MASTER", 150)  # the hook ran while a1's minion started
    f.vrrp(1.0, "a2", "BACKUP", 100)
    f.beacon(1.2, "a1", "keepalived/down", initial=True, minion_started_ns=f.at(0.9))
    f.vrrp(5.0, "a1", "FAULT", 150)
    f.vrrp(5.5, "a2", "MASTER", 100)
    f.tick(6.0, {"a1": 6.0, "a2": 6.0})
    [failover] = f.incidents("failover")
    assert failover.data["cause"] == "a1 FAULT (priority 150)"


def test_a_master_down_longer_than_silent_after_does_not_make_every_node_silent_at_its_restart(conn) -> None:
    """Found by the lab drill (the master killed -9 during a split brain): back after 4 s, the master took its
    own deafness for the nodes' silence, closed the split brain at node1's 'silence' and moved the VIP."""
    f = TruthFeed(conn, silent_after_s=2.5)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.vrrp(5.0, "a2", "MASTER", 100)  # a2 stopped hearing VRRP: both MASTER
    f.tick(8.0, {"a1": 8.0, "a2": 8.0})
    [split] = f.incidents("split_brain")
    f.restart()  # killed at 9.0 (both last heard then), back at 13.0
    f.tick(13.0, {"a1": 9.0, "a2": 9.0})
    f.tick(13.5, {"a1": 9.0, "a2": 9.0})  # the minions reconnect within silent_after of our start
    f.vrrp(12.0, "a2", "BACKUP", 100, arrives=13.6)  # the heal, spooled while we were down
    for t in (14.0, 16.0, 20.0):
        f.tick(t, {"a1": t, "a2": t})
    assert not f.incidents("node_silent") and not f.incidents("failover")
    [split] = f.incidents("split_brain")
    assert split.ended_ns == f.at(12.0) and split.data["duration_ns"] == 7 * S


def test_a_clock_offset_under_the_bound_outlives_a_master_restart(conn) -> None:
    """a2 is 0.3 s fast: not enough to go with each event (clock_offset_ns is for offsets over 1 s), so a master
    restarted before the next exchange read a2's raw times: a 100 ms preemption overlap became a 200 ms gap."""
    f = TruthFeed(conn, clock_s={"a2": 0.3})
    f.heartbeats(0.0, "a1")
    f.heartbeats(0.0, "a2")
    f.vrrp(1.0, "a1", "MASTER", 100)
    f.vrrp(1.1, "a2", "BACKUP", 150)
    f.tick(2.0, {"a1": 2.0, "a2": 2.0})
    f.restart()  # before any heartbeat since: the offset comes from the store
    assert abs(f.c.clocks.offset("a2") - round(0.3 * S)) < 1_000_000
    f.vrrp(10.0, "a2", "MASTER", 150)  # preemption: a2 first, a1 steps back 100 ms later
    f.vrrp(10.1, "a1", "BACKUP", 100)
    f.tick(12.0, {"a1": 12.0, "a2": 12.0})
    [failover] = f.incidents("failover")
    assert failover.data["new_holder"] == "a2" and not failover.data["gap_ns"]
    assert not f.incidents("no_master")


def test_a_killed_vrrp_process_is_a_death_of_its_own_and_no_stale_vip_while_it_respawns(conn) -> None:
    """As the lab shows it: keepalived's parent respawns its VRRP process at once; the new one starts BACKUP
    and drops the VIP; a2 takes over after its master-down interval and a1 preempts it back."""
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.tick(5.0, {"a1": 5.0, "a2": 5.0})
    f.beacon(10.0, "a1", "keepalived/down", pid=4243, died=True, vrrp_child=True)
    f.vrrp(10.03, "a1", "BACKUP", 150)
    f.tick(10.2, {"a1": 10.2, "a2": 10.2})
    f.beacon(10.45, "a1", "vip/10.9.0.100/lost")
    f.beacon(10.5, "a1", "keepalived/up", pid=4200, vrrp_pid=4300)
    f.vrrp(13.5, "a2", "MASTER", 100)
    f.vrrp(13.6, "a1", "MASTER", 150)
    f.vrrp(13.61, "a2", "BACKUP", 100)
    for t in (14.0, 16.0, 20.0):
        f.tick(t, {"a1": t, "a2": t})
    assert not f.incidents("stale_vip")
    there, back = f.incidents("failover")
    assert (there.data["old_holder"], there.data["new_holder"]) == ("a1", "a2")
    assert there.data["cause"] == "keepalived's VRRP process on a1 died (killed or crashed)"
    assert there.data["gap_ns"] == round(3.5 * S) and "stale" not in there.summary
    assert (back.data["old_holder"], back.data["new_holder"]) == ("a2", "a1")


def test_a_vrrp_process_that_is_not_respawned_leaves_a_stale_vip_after_the_grace(conn) -> None:
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.beacon(10.0, "a1", "keepalived/down", pid=4243, died=True, vrrp_child=True)
    f.tick(10.5, {"a1": 10.5, "a2": 10.5})
    assert not f.incidents("stale_vip")
    f.tick(12.5, {"a1": 12.5, "a2": 12.5})  # the grace (stale_vip_after_s, 2 s) is over, the VIP still there
    [stale] = f.incidents("stale_vip")
    assert stale.started_ns == f.at(10.0) and "keepalived on a1 is dead" in stale.summary


def test_a_transition_reported_twice_is_dated_by_the_earlier_report(conn) -> None:
    """The hook's report is spooled first, the FIFO's second (duplicate_of) but dated earlier: the gap starts
    at the earlier one, whether it comes in a later batch or in the same one as its original."""
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.vrrp(10.02, "a1", "FAULT", 150)  # the hook's, seq 2
    f.vrrp(10.0, "a1", "FAULT", 150, arrives=10.03, data={"duplicate_of": 2}, source="fifo")
    f.vrrp(10.4, "a2", "MASTER", 100)
    seq = f.seq["a2"]
    f.vrrp(10.38, "a2", "MASTER", 100, arrives=10.41, data={"duplicate_of": seq}, source="fifo")
    [failover] = f.incidents("failover")
    assert failover.data["gap_ns"] == round(0.4 * S)  # 10.0 -> 10.4: the a1 twin's earlier time

    g = TruthFeed(store.connect(":memory:"))
    g.vrrp(0.0, "a1", "MASTER", 150)
    g.vrrp(0.1, "a2", "BACKUP", 100)
    g.vrrp(10.0, "a1", "FAULT", 150)
    n = g.seq["a2"]
    both = [Event(n + 1, g.at(10.4), "vrrp", "vrrp/VI_1/MASTER", "VI_1", "MASTER", 100, "hook"),
            Event(n + 2, g.at(10.38), "vrrp", "vrrp/VI_1/MASTER", "VI_1", "MASTER", 100, "fifo",
                  {"duplicate_of": n + 1})]
    g.new += g.c.feed(store.insert_events(g.conn, "a2", g.at(10.41), both))
    [failover] = g.incidents("failover")
    assert failover.data["gap_ns"] == round(0.38 * S)  # in one batch: the earlier of the two


def test_a_node_heard_again_ends_its_silence(conn) -> None:
    # node_back says the silence is over: the node_silent incident must not stay open ("ongoing" in the timeline,
    # open on the web page and in `check`) after the node is back
    f = TruthFeed(conn)
    f.vrrp(0.0, "a1", "MASTER", 150)
    f.vrrp(0.1, "a2", "BACKUP", 100)
    f.tick(5.0, {"a1": 5.0, "a2": 5.0})
    f.tick(20.1, {"a1": 9.95, "a2": 20.1})
    [silent] = f.incidents("node_silent")
    assert silent.ended_ns is None
    f.tick(25.0, {"a1": 25.0, "a2": 25.0})
    [back] = f.incidents("node_back")
    [silent] = f.incidents("node_silent")
    assert silent.ended_ns == back.started_ns
