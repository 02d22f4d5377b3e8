"""The master's Prometheus endpoint tells VRRP state per instance and node, intake and alert figures."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from sitelib import Site, free_port, wait_for


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_show_who_is_master_and_what_was_stored(site: Site) -> None:
    port = free_port()
    with open(site.config, "a") as f:
        f.write(f"metrics:\n  listen: 127.0.0.1:{port}\n")
    site.start_pair()
    wait_for(lambda: scrape(port).get(("hamaster_minion_online", (("node", "node2"),))) == 1, 10, "node2 online")
    m = scrape(port)
    assert m[("hamaster_vrrp_state", (("instance", "VI_1"), ("node", "node1"), ("state", "MASTER")))] == 1
    assert m[("hamaster_vrrp_state", (("instance", "VI_1"), ("node", "node1"), ("state", "BACKUP")))] == 0
    assert m[("hamaster_vrrp_state", (("instance", "VI_1"), ("node", "node2"), ("state", "BACKUP")))] == 1
    assert m[("hamaster_vrrp_priority", (("instance", "VI_1"), ("node", "node2")))] == 99
    assert m[("hamaster_events_total", (("kind", "vrrp"), ("node", "node1")))] == 1
    assert m[("hamaster_frames_dropped_total", ())] == 0
