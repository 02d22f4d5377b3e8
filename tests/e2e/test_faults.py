"""Faults beyond the seed's drill: a real split brain, the master down during a failover, a rolling apply."""

import signal

import pytest
from e2etools import titles, vrrp_timeline, wait_titles

from hamaster.core.timeutil import now_ns
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.intake.probe import outages

pytestmark = pytest.mark.lab


def test_split_brain_for_real_one_alert_then_recovered(site: LabSite) -> None:
    site.lab.block_vrrp("node2")  # node2 stops hearing node1's adverts; both still reach the master
    wait_until(lambda: site.lab.holders() == ["node1", "node2"], 15, "both nodes to hold the VIP")
    [alert] = wait_titles(site.chat.received, "split brain", 1)
    assert alert == f"[critical] VIP {site.lab.vip} split brain: node1 and node2 are both MASTER"

    site.lab.unblock_vrrp("node2")  # node2 hears node1 again and steps back; node1 fires nothing
    wait_until(lambda: site.lab.holders() == ["node1"], 15, "node2 to give the VIP back")
    wait_titles(site.chat.received, "[resolved]", 1)
    chat = [m.title for m in site.chat.received()]
    assert chat.index(f"[resolved] VIP {site.lab.vip}: back to one MASTER (node1)") > chat.index(alert)
    assert titles(site.chat.received(), "split brain") == [alert]
    # the one alerted (critical); a start-up overlap of a few ms may be stored too, as info
    [split] = [i for i in site.incidents("split_brain") if i["severity"] == "critical"]
    assert split["data"].get("duration_ns")
    [recovered] = site.incidents("recovered")
    assert recovered["data"]["closes"] == split["id"]


def test_the_master_down_during_a_failover_gets_it_all_when_back(site: LabSite) -> None:
    start = now_ns()
    site.kill_master(signal.SIGKILL)
    site.power_off("node1")
    # (node1's dead eth0 still carries the VIP: keepalived was killed, it had no time to remove it)
    wait_until(lambda: site.lab.holds_vip("node2"), 15, "node2 to take the VIP")
    site.start_master()  # node2's minion sends what it spooled meanwhile

    def failovers() -> list[dict]:
        return [i for i in site.incidents("failover") if i["started_ns"] >= start]

    [failover] = wait_until(failovers, 20, "the failover to be derived")
    assert ("node2", "MASTER") in vrrp_timeline(site, start)
    assert (failover["data"]["old_holder"], failover["data"]["new_holder"]) == ("node1", "node2")
    wait_titles(site.chat.received, "failover: node1 -> node2", 1)
    wait_titles(site.mail.received, "failover: node1 -> node2", 1)
    site.cli("status")  # the master is up and answers
    assert titles(site.chat.received(), "failover:") == [f"[warning] VIP {site.lab.vip} failover: node1 -> node2"]
    assert titles(site.mail.received(), "failover:") == [f"[warning] VIP {site.lab.vip} failover: node1 -> node2"]


def test_apply_on_the_running_pair_is_rolling_and_the_vip_stays_answered(site: LabSite) -> None:
    pair = site.pillar / "pair.sls"
    pair.write_text(pair.read_text().replace("workers: auto", "workers: 2"))  # harmless: nginx.conf on both
    start = now_ns()
    out = site.apply()
    assert out.stdout.count("Succeeded: 8 (changed=2)") == 2, out.stdout  # nginx.conf and its reload

    jobs = site.query("SELECT targets FROM jobs WHERE started_ns >= ? AND test = 0 ORDER BY started_ns", start)
    assert [t for (t,) in jobs] == ['["node2"]', '["node1"]']  # the BACKUP first, then the MASTER
    seen = [o for o in site.probe_changes() if o.ts_ns >= start]
    assert site.probe_changes()[-1].node == "node1"
    assert not outages(seen) and all(o.node == "node1" for o in seen)


def test_keepalived_killed_on_the_master_is_one_failover_alert(site: LabSite) -> None:
    # a crash (OOM killer, segfault): no STOP, the VIP stays on node1's eth0, node1's minion lives on
    start = now_ns()
    site.lab.kill_keepalived("node1")
    wait_until(lambda: site.lab.holds_vip("node2"), 15, "node2 to take the VIP")
    [alert] = wait_titles(site.chat.received, "failover: node1 -> node2", 1)
    loud = [i for i in site.incidents() if i["started_ns"] >= start and i["severity"] == "critical"]
    assert all(i["kind"] != "split_brain" for i in loud), loud  # node1's keepalived was dead, not split
    assert titles(site.chat.received(), site.lab.vip) == [alert]  # one message for the crash (a stale VIP folded in)
