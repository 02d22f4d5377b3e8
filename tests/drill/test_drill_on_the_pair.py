"""`hamaster drill` on the lab pair: the figures agree with the probe, the holder is restored, and a drill
that cannot work refuses (nothing touched) or stops and restores; every drill is in `timeline --kind drill`."""

import json
import os
import signal

import pytest

from hamaster.core.config import load_master_config
from hamaster.core.timeutil import now_ns
from hamaster.lab import services
from hamaster.lab.site import LabSite, wait_until

pytestmark = pytest.mark.lab


def drills_in_timeline(site: LabSite) -> list[dict]:
    out = site.cli("timeline", "--kind", "drill", "--format", "json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_drill_measures_the_takeover_and_restores_the_holder(site: LabSite) -> None:
    start = now_ns()
    done = site.cli("drill", "--json", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    [d] = json.loads(done.stdout)
    assert (d["ok"], d["instance"], d["holder"], d["peer"]) == (True, "VI_1", "node1", "node2")
    f = d["figures"]
    # the VRRP gap from the nodes' events is within 100 ms of what users saw (the probe), give or take one
    # probe request: one that timed out is stamped at its start, so a lost request reads as its timeout
    assert f["outage_ms"] is not None and f["vrrp_gap_ms"] is not None
    resolution_ms = load_master_config(site.config).probes[0].timeout_ms
    assert abs(max(f["vrrp_gap_ms"], 0) - f["outage_ms"]) <= 100 + resolution_ms, f
    assert f["takeover_s"] > 0 and f["failback_s"] > 0 and f["total_s"] >= f["takeover_s"] + f["failback_s"]
    # restored: node1 answers on the VIP again, and is not drained
    assert site.probe_changes()[-1].node == "node1" and site.lab.holders() == ["node1"]
    assert json.loads(site.cli("status", "--json").stdout)["minions"]["node1"]["drained"] is False
    # the probe saw node2 in between
    assert "node2" in [o.node for o in site.probe_changes() if o.ts_ns >= start]
    # quiet: the drill's moves are planned
    assert d["incidents"] and all(i["planned"] for i in d["incidents"]), d["incidents"]
    # the alerts that would have gone out, held as planned: the failover's chat message at least
    assert [a for a in d["alerts"] if a["kind"] == "failover" and a["route"] == "chat"], d["alerts"]
    assert all(a["status"] == "suppressed" and a["why"].startswith("planned") for a in d["alerts"]), d["alerts"]
    # the drill's own timeline: both drains and the transitions between them
    kinds = [(r["type"], r.get("node"), r.get("drained")) for r in d["timeline"]]
    assert ("drain", "node1", True) in kinds and ("drain", "node1", False) in kinds
    assert {r["node"] for r in d["timeline"] if r["type"] == "event"} == {"node1", "node2"}
    [row] = drills_in_timeline(site)
    assert row["ok"] is True and row["figures"] == f and row["holder"] == "node1"
    assert "drill #" in site.cli("timeline", "--kind", "drill").stdout


def test_a_drill_with_the_peers_nginx_down_refuses_before_touching_anything(site: LabSite) -> None:
    n2 = site.lab.node("node2")
    conf = n2.etc / "nginx" / "nginx.conf"
    conf.write_text(conf.read_text() + "\nthis is not nginx syntax;\n")  # the check script cannot start it again
    site.lab.stop_nginx("node2")
    track = site.lab.node("node1").etc / "keepalived" / "hamaster-drain"
    before, jobs = track.read_text(), site.query("SELECT COUNT(*) FROM jobs")
    done = site.cli("drill", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED: refused" in done.stdout and "nginx on node2" in done.stdout
    assert track.read_text() == before and site.query("SELECT COUNT(*) FROM jobs") == jobs  # no job ran
    assert site.lab.holders() == ["node1"]
    [row] = drills_in_timeline(site)
    assert row["ok"] is False and row["summary"].startswith("refused")


def keepalived_pids(site: LabSite, node: str) -> list[int]:
    """The node's keepalived and its children (the VRRP process does the adverts)."""
    parent = services.pid_of(services.KEEPALIVED, site.lab.node(node).run)
    assert parent is not None
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == parent]
    return [parent, *children]


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_a_drill_whose_peer_never_takes_over_stops_and_restores(site: LabSite) -> None:
    frozen = keepalived_pids(site, "node2")
    assert len(frozen) >= 2
    for pid in frozen:  # node2's VRRP goes quiet: alive, connected, never taking over
        os.kill(pid, signal.SIGSTOP)
    try:
        done = site.cli("drill", "--bound", "6", check=False)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED: stopped: node2 did not take" in done.stdout and "node1 restored" in done.stdout
    assert json.loads(site.cli("status", "--json").stdout)["minions"]["node1"]["drained"] is False
    # node2 thawed finds its master-down timer long expired and may claim the VIP for a moment, until it hears
    # node1 (undrained, the higher priority): the pair settles back on node1
    wait_until(lambda: site.lab.holders() == ["node1"], 15, "node1 alone to hold the VIP")
    site.wait_probe("node1")
    [row] = drills_in_timeline(site)
    assert row["ok"] is False
