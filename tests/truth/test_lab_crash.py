"""Real keepalived in network namespaces, a real master and minions inside the nodes (hamaster.lab.site):
keepalived killed on the MASTER, with and without its minion, and a node whose clock is 5 s fast. Checked
against the test's own notify lines and the kernel's address events, not against what hamaster says."""

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from labtruth import chat_after, deliveries, first_after, group, have_faketime, incidents_since

from hamaster.core.config import load_master_config
from hamaster.lab import services
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.correlate.dating import CLOSE_LAG_NS

pytestmark = pytest.mark.lab
S = 10**9
GAP_FIDELITY_NS = 250_000_000  # the derived gap against the truth lines (the bench measures it: bench/fidelity.py)
RANGE_SLACK_NS = 50_000_000  # the test's kill time and the truth line's own lag, around a bracketed gap


def check_failover_from(site: LabSite, log: Path, start: int, dead_at: int, unseen_ns: int = 0) -> dict[str, Any]:
    """The one failover node1 -> node2, its gap against the truth: node2's MASTER line - the kill. `unseen_ns`:
    how long before the kill the gap may start when nobody could see the death (the minion died too)."""
    wait_until(lambda: site.lab.holds_vip("node2"), 15, "node2 to take the VIP")
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the failover")
    assert (failover["data"]["old_holder"], failover["data"]["new_holder"]) == ("node1", "node2")
    master_line = wait_until(lambda: first_after(log, "node2", "MASTER", start), 10, "node2's MASTER notify line")
    truth = master_line - dead_at
    if "gap_range_ns" in failover["data"]:  # a death nobody saw is bracketed: the truth is inside the range
        lo, hi = failover["data"]["gap_range_ns"]
        assert lo - RANGE_SLACK_NS <= truth <= hi + RANGE_SLACK_NS, (failover["data"], truth)
    else:
        assert -GAP_FIDELITY_NS < failover["data"]["gap_ns"] - truth < GAP_FIDELITY_NS + unseen_ns, \
            (failover["data"]["gap_ns"], truth)
    assert not [i for i in incidents_since(site, start, "split_brain") if i["severity"] != "info"]
    return failover


@pytest.mark.parametrize("drill", ["pair", "three nodes"], indirect=True)
def test_keepalived_killed_on_the_master_is_one_failover_and_one_alert_with_the_stale_vip(drill) -> None:
    site, log, monitors = drill
    start = time.time_ns()
    site.lab.kill_keepalived("node1")  # kill -9 of keepalived and its children: no STOP, the VIP stays
    killed = time.time_ns()
    failover = check_failover_from(site, log, start, killed)
    assert failover["data"]["cause"] == "keepalived on node1 died without a STOP (killed or crashed)"
    assert failover["data"]["stale_vip"] == {"node": "node1", "vip": site.lab.vip, "interface": "eth0"}
    [stale] = wait_until(lambda: incidents_since(site, start, "stale_vip"), 10, "the stale_vip incident")
    assert stale["severity"] == "critical" and stale["data"]["interface"] == "eth0"
    assert site.lab.holds_vip("node1"), "the kernel still has the VIP on dead node1's eth0"
    assert not [t for t, what in monitors["node1"].events(site.lab.vip) if what == "deleted" and t * S > start]

    # one message per channel for the crash: the failover, saying both; the stale_vip folded into it
    wait_until(lambda: deliveries(site, stale["id"]), 15, "the stale_vip to be routed (after group_wait_s)")
    assert all(status == "suppressed" and "folded into failover" in (why or "")
               for _, status, why in deliveries(site, stale["id"]))
    chat = chat_after(site, start)
    assert chat == [f"[critical] {group(site)} moved node1 -> node2 (stale VIP on node1)"], chat
    [mail] = wait_until(lambda: [m for m in site.mail.received() if m.at_ns >= start], 15, "the mail")
    assert "stale VIP on node1" in mail.title and f"still holds {site.lab.vip} on eth0" in mail.body

    site.lab.run("node1", ["ip", "addr", "del", f"{site.lab.vip}/{site.lab.prefixlen}", "dev", "eth0"], check=True)
    wait_until(lambda: site.incidents("stale_vip")[-1]["data"].get("closed_by"), 10, "the stale_vip to close")
    gone = [t for t, what in monitors["node1"].events(site.lab.vip) if what == "deleted"]
    [(ended,)] = site.query("SELECT ended_ns FROM incidents WHERE id = ?", stale["id"])
    assert gone and ended >= gone[-1] * S - 50_000_000  # dated by the beacon that saw it go


def test_keepalived_and_its_minion_killed_together_is_a_failover_from_the_silence(drill) -> None:
    site, log, _ = drill
    start = time.time_ns()
    minion = site.minion_procs.pop("node1")
    minion.send_signal(signal.SIGKILL)
    site.lab.kill_keepalived("node1")
    killed = time.time_ns()
    # nobody saw the death: the gap starts at node1's last heartbeat, up to one interval before the kill
    heartbeat_ns = int(load_master_config(site.config).heartbeat_interval * S)
    failover = check_failover_from(site, log, start, killed, unseen_ns=heartbeat_ns)
    assert "node1 silent" in failover["data"]["cause"]
    # but the master read the close of its connection (its kernel lived on): that dates it, 50 ms wide
    assert "connection" in failover["data"]["death_dated_by"], failover["data"]
    lo, hi = failover["data"]["gap_range_ns"]
    assert lo <= failover["data"]["gap_ns"] <= hi and hi - lo <= CLOSE_LAG_NS
    wait_until(lambda: incidents_since(site, start - S, "node_silent"), 10, "node1 to go silent")  # dated: last heard
    [title] = wait_until(lambda: chat_after(site, start), 15, "the chat alert")
    time.sleep(6)  # group_wait_s: the node_silent alert would come now if it were not folded
    assert chat_after(site, start) == [title] and " moved node1 -> node2" in title


def test_a_power_off_of_the_master_is_dated_by_the_masters_own_probe(drill) -> None:
    site, log, _ = drill
    start = time.time_ns()
    site.power_off("node1")  # the cable goes dark first: no close reaches the master, only silence
    killed = time.time_ns()
    failover = check_failover_from(site, log, start, start, unseen_ns=killed - start)
    # the probe saw node1 answer last, then nobody: a bound about its interval wide (lab: 50 ms + a request)
    assert "probe" in failover["data"]["death_dated_by"], failover["data"]
    lo, hi = failover["data"]["gap_range_ns"]
    assert hi - lo <= 200_000_000, failover["data"]
    site.boot("node1")


@pytest.mark.skipif(not have_faketime(), reason="needs faketime (apt-get install faketime)")
@pytest.mark.parametrize("drill", ["node2 fast"], indirect=True)
def test_a_node_5_s_fast_gives_the_right_gap_no_split_brain_and_a_clock_incident(drill) -> None:
    site, log, _ = drill
    [clock] = wait_until(lambda: site.incidents("clock_offset"), 10, "the clock_offset incident")
    assert clock["summary"] == "node node2's clock is 5.0 s fast"
    assert abs(clock["data"]["offset_ns"] - 5 * S) < S // 10, clock["data"]["offset_ns"]  # 5.0 s, as faketime says
    start = time.time_ns()
    site.lab.kill_keepalived("node1")
    killed = time.time_ns()
    failover = check_failover_from(site, log, start, killed)
    rows = [json.loads(line) for line in site.cli("timeline", "--format", "json").stdout.splitlines() if line]
    cause = next(i for i, r in enumerate(rows) if r["type"] == "event" and r["node"] == "node2"
                 and r["kind"] == "vrrp" and r["to"] == "MASTER" and r["master_ns"] >= start)
    alerted = next(i for i, r in enumerate(rows) if r["type"] == "incident" and r["id"] == failover["id"])
    assert cause < alerted and rows[cause]["clock_skew_ns"] is not None  # in corrected time: cause first
    skews = site.query("SELECT node_ns - master_ns FROM events WHERE minion = 'node2' AND kind = 'vrrp'"
                       " AND master_ns >= ?", start)
    assert skews and all(skew > 4 * S for (skew,) in skews)  # keepalived's hook ran on the fast clock too

    # node1 comes back with the higher priority and preempts: a real failover with an overlap of ms
    back = time.time_ns()
    site.lab.run("node1", ["ip", "addr", "del", f"{site.lab.vip}/{site.lab.prefixlen}", "dev", "eth0"], check=True)
    site.lab.start_keepalived("node1")
    wait_until(lambda: site.lab.holders() == ["node1"], 20, "node1 to take the VIP back")
    wait_until(lambda: [i for i in incidents_since(site, back, "failover") if i["data"]["new_holder"] == "node1"],
               20, "the failover back to node1")
    time.sleep(2)  # split_brain_after_s: a false split brain would be alerted by now
    assert not [i for i in incidents_since(site, start, "split_brain") if i["severity"] != "info"]


def test_a_graceful_stop_of_the_master_is_one_failover_and_no_stale_vip(drill) -> None:
    site, _, monitors = drill
    start = time.time_ns()
    site.lab.stop_keepalived("node1")  # STOP notify, priority 0 advert, the VIP removed
    wait_until(lambda: site.lab.holders() == ["node2"], 15, "node2 to take the VIP")
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the failover")
    assert failover["data"]["cause"].startswith("node1 STOP")
    assert [what for t, what in monitors["node1"].events(site.lab.vip) if t * S > start] == ["deleted"]
    wait_until(lambda: chat_after(site, start), 15, "the chat alert")
    time.sleep(6)  # the stale VIP's grace and group_wait_s: a false one would be alerted by now
    assert not incidents_since(site, start - S, "stale_vip")
    assert chat_after(site, start) == [f"[warning] {group(site)} moved node1 -> node2"]


def test_a_graceful_stop_of_the_backup_alerts_nothing(drill) -> None:
    site, _, _ = drill
    start = time.time_ns()
    site.lab.stop_keepalived("node2")
    wait_until(lambda: site.query("SELECT 1 FROM events WHERE minion = 'node2' AND tag = 'beacon/keepalived/down'"
                                  " AND master_ns >= ?", start), 15, "node2's keepalived/down beacon")
    time.sleep(6)
    assert not [i for i in site.incidents() if i["started_ns"] >= start and i["severity"] != "info"]
    assert chat_after(site, start) == [] and site.lab.holders() == ["node1"]


def test_the_masters_vrrp_process_killed_is_a_failover_there_and_back_and_no_stale_vip(drill) -> None:
    """keepalived's parent respawns its VRRP process at once; the new one starts BACKUP and drops the VIP,
    node2 takes over after its master-down interval, node1 preempts it back: what hamaster says must be that."""
    site, log, monitors = drill
    parent = services.pid_of(services.KEEPALIVED, site.lab.node("node1").run)
    look = f"from hamaster.minion import keepalived; print(keepalived.vrrp_child({parent}))"
    child = int(site.lab.run("node1", [sys.executable, "-c", look], check=True).stdout)
    start = time.time_ns()
    os.kill(child, signal.SIGKILL)
    killed = time.time_ns()
    [down] = wait_until(lambda: site.query("SELECT data FROM events WHERE minion = 'node1' AND tag ="
                                           " 'beacon/keepalived/down' AND master_ns >= ?", start), 10, "the down")
    assert json.loads(down[0]) == {"pid": child, "died": True, "vrrp_child": True}
    took = wait_until(lambda: first_after(log, "node2", "MASTER", start), 15, "node2's MASTER line")
    wait_until(lambda: first_after(log, "node1", "MASTER", took), 15, "node1's MASTER line (preempted back)")

    def failovers() -> list[dict[str, Any]]:
        return incidents_since(site, start, "failover")
    wait_until(lambda: len(failovers()) == 2, 20, "the failover there and back")
    there, back = failovers()
    assert (there["data"]["old_holder"], there["data"]["new_holder"]) == ("node1", "node2")
    assert there["data"]["cause"] == "keepalived's VRRP process on node1 died (killed or crashed)"
    assert abs(there["data"]["gap_ns"] - (took - killed)) < GAP_FIDELITY_NS
    assert (back["data"]["old_holder"], back["data"]["new_holder"]) == ("node2", "node1")
    node1 = [w for t, w in monitors["node1"].events(site.lab.vip) if t * S > start]
    assert node1 == ["deleted", "added"]  # the respawned process dropped it as it started BACKUP
    time.sleep(6)  # group_wait_s: a stale_vip alert would come by now
    assert not incidents_since(site, start - S, "stale_vip")
    assert chat_after(site, start) == [f"[warning] {group(site)} moved node1 -> node2",
                                       f"[warning] {group(site)} moved node2 -> node1"]
    respawned = site.query("SELECT data FROM events WHERE minion = 'node1' AND tag = 'beacon/keepalived/up'"
                           " AND master_ns >= ?", start)
    assert [json.loads(d)["pid"] for (d,) in respawned] == [parent]  # the same parent, a new VRRP process
