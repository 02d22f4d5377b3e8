"""The seed's drill, checked against the ground truth (the master's VIP probe) and what the operator receives."""

import pytest
from e2etools import in_order, label, titles, vrrp_timeline, wait_titles

from hamaster.core.timeutil import now_ns
from hamaster.lab.drill import failovers, run_drill
from hamaster.lab.site import LabSite

pytestmark = pytest.mark.lab
MS = 1_000_000


def test_the_seeds_drill_seen_by_the_timeline_the_probe_and_the_alerts(site: LabSite) -> None:
    start = now_ns()
    serves, nginx_stop, power_off, boot = run_drill(site)
    assert serves.facts["answered"] == "node1"

    # the check script restarts nginx; node1 keeps the VIP and nothing fails over
    assert nginx_stop.facts["new_pid"] != nginx_stop.facts["old_pid"]
    assert nginx_stop.facts["holders"] == ["node1"]
    assert power_off.facts["answered"] == "node2"
    assert boot.facts["answered"] == "node1" and boot.facts["holders"] == ["node1"]

    moved = failovers(site, start)
    assert [(f.old, f.new) for f in moved] == [("node1", "node2"), ("node2", "node1")]
    assert all(f.started_ns >= power_off.started_ns for f in moved), "the nginx restart caused a failover"
    # the gaps against the probe's: a node switched off says nothing more, so its end is bracketed (its last
    # heartbeat and the next one due, the peer's master-down interval) and the probe's gap lies in that range;
    # the way back is exact. The probe asks every 50 ms and waits 100 ms at most: its own resolution
    away, back = moved
    assert away.gap_range_ns is not None and away.probe_gap_ns is not None, away
    low, high = away.gap_range_ns
    assert low - 100 * MS <= away.probe_gap_ns <= high + 100 * MS, away
    assert back.probe_gap_ns is not None and back.incident_gap_ns is not None
    assert -100 * MS <= back.incident_gap_ns - back.probe_gap_ns <= 100 * MS, back

    # each node's own transitions in order; across nodes only where seconds apart (node1 taking the VIP back and
    # node2 stepping down happen within milliseconds, stamped on two nodes: either may come first)
    seen = vrrp_timeline(site, start)
    assert in_order([("node2", "MASTER"), ("node2", "BACKUP")], [t for t in seen if t[0] == "node2"])
    assert in_order([("node1", "BACKUP"), ("node1", "MASTER")], [t for t in seen if t[0] == "node1"])
    assert in_order([("node2", "MASTER"), ("node1", "BACKUP")], seen)  # node1 boots after node2 took over

    for get in (site.chat.received, site.mail.received):
        wait_titles(get, " moved node2 -> node1", 1)
        assert titles(get(), " moved node1 -> node2") == [f"[warning] {label(site.lab.vip)} moved node1 -> node2"]
        assert titles(get(), " moved node2 -> node1") == [f"[warning] {label(site.lab.vip)} moved node2 -> node1"]
    assert site.query("SELECT COUNT(*) FROM deliveries d JOIN incidents i ON i.id = d.incident_id"
                      " WHERE i.kind = 'failover' AND d.status = 'sent'") == [(4,)]
