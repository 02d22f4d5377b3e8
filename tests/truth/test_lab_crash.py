"""Real keepalived in network namespaces, a real master and minions inside the nodes (hamaster.lab.site):
keepalived killed on the MASTER, with and without its minion, and a node whose clock is 5 s fast. Checked
against the test's own notify lines and the kernel's address events, not against what hamaster says."""

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labtruth import AddressMonitor, first_after, have_faketime, wrap_hooks

from hamaster.core.config import load_master_config
from hamaster.lab.site import HAMINION, LabSite, wait_until

pytestmark = pytest.mark.lab
S = 10**9
GAP_FIDELITY_NS = 250_000_000  # the derived gap against the truth lines (the bench measures it: bench/fidelity.py)


def fast_clock(site: LabSite, node: str, ahead: str = "+5s") -> None:
    """Run `node`'s minion under faketime; keepalived inherits it (the minion starts it when it applies)."""
    proc = site.minion_procs.pop(node)
    site.lab.stop(proc)
    site.minion_procs[node] = site.lab.spawn(
        node, ["faketime", "-f", ahead, HAMINION, "run", "-c", str(site.minion_config(node))],
        site.root / f"minion-{node}.log")  # (FAKETIME_DONT_FAKE_MONOTONIC=1 breaks Python's time.sleep: EINVAL)


@pytest.fixture
def drill(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[LabSite, Path, dict[str, AddressMonitor]]]:
    param = getattr(request, "param", None)
    nodes = ("node1", "node2", "node3") if param == "three nodes" else ("node1", "node2")
    with LabSite.create(tmp_path / "site", nodes=nodes) as site:
        log = tmp_path / "notify.log"
        wrap_hooks(site, log)
        monitors = {n.name: AddressMonitor(site, n.name, tmp_path / f"addr-{n.name}.log") for n in site.lab.nodes}
        try:
            if param == "node2 fast":
                fast_clock(site, "node2")  # its heartbeats say so: the incident is the sign it is connected
                wait_until(lambda: site.incidents("clock_offset"), 20, "node2's minion under faketime")
            site.apply()
            site.settle()
            yield site, log, monitors
        finally:
            for m in monitors.values():
                m.stop()


def incidents_since(site: LabSite, start: int, kind: str) -> list[dict[str, Any]]:
    return [i for i in site.incidents(kind) if i["started_ns"] >= start]


def deliveries(site: LabSite, incident_id: int) -> list[tuple[str, str, str | None]]:
    return site.query("SELECT route, status, last_error FROM deliveries WHERE incident_id = ?", incident_id)


def chat_after(site: LabSite, start: int) -> list[str]:
    return [m.title for m in site.chat.received() if m.at_ns >= start]


def check_failover_from(site: LabSite, log: Path, start: int, dead_at: int, unseen_ns: int = 0) -> dict[str, Any]:
    """The one failover node1 -> node2, its gap against the truth: node2's MASTER line - the kill. `unseen_ns`:
    how long before the kill the gap may start when nobody could see the death (the minion died too)."""
    wait_until(lambda: site.lab.holds_vip("node2"), 15, "node2 to take the VIP")
    [failover] = wait_until(lambda: incidents_since(site, start, "failover"), 20, "the failover")
    assert (failover["data"]["old_holder"], failover["data"]["new_holder"]) == ("node1", "node2")
    master_line = wait_until(lambda: first_after(log, "node2", "MASTER", start), 10, "node2's MASTER notify line")
    truth = master_line - dead_at
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
    assert chat == [f"[critical] VIP {site.lab.vip} failover: node1 -> node2 (stale VIP on node1)"], chat
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
    wait_until(lambda: incidents_since(site, start - S, "node_silent"), 10, "node1 to go silent")  # dated: last heard
    [title] = wait_until(lambda: chat_after(site, start), 15, "the chat alert")
    time.sleep(6)  # group_wait_s: the node_silent alert would come now if it were not folded
    assert chat_after(site, start) == [title] and "failover: node1 -> node2" in title


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
    assert chat_after(site, start) == [f"[warning] VIP {site.lab.vip} failover: node1 -> node2"]


def test_a_graceful_stop_of_the_backup_alerts_nothing(drill) -> None:
    site, _, _ = drill
    start = time.time_ns()
    site.lab.stop_keepalived("node2")
    wait_until(lambda: site.query("SELECT 1 FROM events WHERE minion = 'node2' AND tag = 'beacon/keepalived/down'"
                                  " AND master_ns >= ?", start), 15, "node2's keepalived/down beacon")
    time.sleep(6)
    assert not [i for i in site.incidents() if i["started_ns"] >= start and i["severity"] != "info"]
    assert chat_after(site, start) == [] and site.lab.holders() == ["node1"]
