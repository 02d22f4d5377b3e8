"""Real keepalived in network namespaces, a real master and minions inside the nodes: a split by dropping VRRP in
one node (nft in the node) and its heal, a restart of the MASTER's keepalived with preemption, and the master
killed -9 during a split brain. Checked against the test's own notify lines and the kernel's address events."""

import signal
import time

import pytest
from labtruth import chat_after, deliveries, first_after, group, incidents_since

from hamaster.lab.site import wait_until

pytestmark = pytest.mark.lab
S = 10**9
FIDELITY_NS = 250_000_000  # a derived time against the truth lines (the bench measures it: bench/fidelity.py)
GROUP_WAIT_S = 6  # notify.group_wait_s and a margin: a message that would come has come by then


def split_alert(site) -> str:
    return f"[critical] {group(site)} split brain: node1 and node2 are both MASTER"


def resolved(site) -> str:
    return f"[resolved] {group(site)}: back to one MASTER (node1)"


def loud_since(site, start: int) -> list[tuple[str, str]]:
    return [(i["kind"], i["summary"]) for i in site.incidents() if i["started_ns"] >= start
            and i["severity"] != "info" and not i["planned"]]


def split(site, log, start: int) -> tuple[int, dict]:
    """node2 stops hearing VRRP: it claims the VIP beside node1. -> (node2's MASTER line, the split brain)."""
    site.lab.block_vrrp("node2")
    began = wait_until(lambda: first_after(log, "node2", "MASTER", start), 20, "node2's MASTER notify line")
    [split] = wait_until(lambda: [i for i in incidents_since(site, start, "split_brain")
                                  if i["severity"] == "critical"], 20, "the split brain")
    wait_until(lambda: split_alert(site) in chat_after(site, start), 20, "the split brain's chat alert")
    return began, split


def heal(site, log) -> int:
    """node2 hears node1 again and steps back (node1, MASTER all along, fires nothing). -> node2's BACKUP line."""
    healed = time.time_ns()
    site.lab.unblock_vrrp("node2")
    wait_until(lambda: site.lab.holders() == ["node1"], 20, "node2 to give the VIP back")
    return wait_until(lambda: first_after(log, "node2", "BACKUP", healed), 10, "node2's BACKUP notify line")


@pytest.mark.parametrize("drill", ["pair", "three nodes"], indirect=True)
def test_a_split_by_dropping_vrrp_is_one_split_brain_alert_and_its_heal_one_resolved(drill) -> None:
    site, log, monitors = drill
    vip = site.lab.vip
    start = time.time_ns()
    began, incident = split(site, log, start)
    assert abs(incident["started_ns"] - began) < FIDELITY_NS
    assert incident["data"]["masters"] == ["node1", "node2"]
    assert site.lab.holders() == ["node1", "node2"]  # the kernel agrees: both hold it (node3 stays BACKUP)
    assert [w for t, w in monitors["node2"].events(vip) if t * S > start] == ["added"]

    ended = heal(site, log)
    [closed] = wait_until(lambda: [i for i in site.incidents("split_brain") if i["id"] == incident["id"]
                                   and i["data"].get("duration_ns")], 20, "the split brain to close")
    assert abs(closed["data"]["duration_ns"] - (ended - began)) < FIDELITY_NS, (closed["data"], ended - began)
    assert [w for t, w in monitors["node2"].events(vip) if t * S > start] == ["added", "deleted"]
    assert not [w for t, w in monitors["node1"].events(vip) if t * S > start]  # node1 held it throughout
    wait_until(lambda: resolved(site) in chat_after(site, start), 20, "the resolved message")
    time.sleep(GROUP_WAIT_S)
    assert chat_after(site, start) == [split_alert(site), resolved(site)]
    assert loud_since(site, start) == [("split_brain", incident["summary"])]  # no failover: node1 never left


@pytest.mark.parametrize("drill", ["pair", "three nodes"], indirect=True)
def test_a_restart_of_the_masters_keepalived_is_a_failover_and_one_back_by_preemption(drill) -> None:
    site, log, monitors = drill
    vip = site.lab.vip
    start = time.time_ns()
    site.lab.stop_keepalived("node1")  # STOP notify, priority 0 advert: node2 takes over at once
    wait_until(lambda: site.lab.holders() == ["node2"], 15, "node2 to take the VIP")
    back = time.time_ns()
    site.lab.start_keepalived("node1")  # the higher priority: it preempts
    wait_until(lambda: site.lab.holders() == ["node1"], 20, "node1 to take the VIP back")
    took = wait_until(lambda: first_after(log, "node1", "MASTER", back), 10, "node1's MASTER line")
    left = wait_until(lambda: first_after(log, "node2", "BACKUP", back), 10, "node2's BACKUP line")

    def failovers() -> list[tuple[str, str]]:
        return [(i["data"]["old_holder"], i["data"]["new_holder"]) for i in incidents_since(site, start, "failover")]
    wait_until(lambda: failovers() == [("node1", "node2"), ("node2", "node1")], 20, "both failovers")
    [_, preempted] = incidents_since(site, start, "failover")
    assert preempted["data"]["cause"].startswith("node2 BACKUP")
    assert abs(preempted["started_ns"] - min(took, left)) < FIDELITY_NS
    assert [w for t, w in monitors["node1"].events(vip) if t * S > start] == ["deleted", "added"]
    assert [w for t, w in monitors["node2"].events(vip) if t * S > start] == ["added", "deleted"]
    time.sleep(GROUP_WAIT_S)
    assert chat_after(site, start) == [f"[warning] {group(site)} moved node1 -> node2",
                                       f"[warning] {group(site)} moved node2 -> node1"]
    assert not [k for k, _ in loud_since(site, start) if k != "failover"]  # an overlap of ms is info at most


@pytest.mark.parametrize("drill", ["pair"], indirect=True)
def test_the_master_killed_during_a_split_brain_alerts_it_once_and_its_heal_once(drill) -> None:
    site, log, _ = drill
    start = time.time_ns()
    began, incident = split(site, log, start)
    # the chat has it; once the outbox has it recorded too (a kill between the POST and that record sends it
    # again after the restart: at-least-once, by design)
    wait_until(lambda: ("chat", "sent", None) in deliveries(site, incident["id"]), 10, "the chat delivery recorded")

    site.kill_master(signal.SIGKILL)  # during the split: replayed at start, already alerted, not again
    site.start_master()
    wait_until(lambda: site.cli("status", check=False).returncode == 0, 20, "the master to answer")
    time.sleep(GROUP_WAIT_S)
    assert chat_after(site, start) == [split_alert(site)]

    site.kill_master(signal.SIGKILL)  # and the heal happens while it is down: the minions spool it
    ended = heal(site, log)
    site.start_master()
    [closed] = wait_until(lambda: [i for i in site.incidents("split_brain") if i["id"] == incident["id"]
                                   and i["data"].get("duration_ns")], 30, "the split brain to close")
    assert abs(closed["data"]["duration_ns"] - (ended - began)) < FIDELITY_NS, (closed["data"], ended - began)
    wait_until(lambda: resolved(site) in chat_after(site, start), 20, "the resolved message")
    time.sleep(GROUP_WAIT_S)
    assert chat_after(site, start) == [split_alert(site), resolved(site)]
    assert [i["id"] for i in site.incidents("split_brain") if i["severity"] == "critical"] == [incident["id"]]
    assert loud_since(site, start) == [("split_brain", incident["summary"])]
