"""Two keepalived sharing a temp folder (containers or namespaces without their own /tmp): each minion could read
the other node's `keepalived.json`. Neither uses it: no transition from a dump is spooled, the skips are counted
in each minion's heartbeat (`hamaster status`), and the seed's power-off is still one failover, one alert."""

import json
import shutil
from pathlib import Path

import pytest
from e2etools import titles, wait_titles

from hamaster.core.timeutil import now_ns
from hamaster.lab.site import LabSite, wait_until

pytestmark = pytest.mark.lab


def skipped(site: LabSite) -> dict[str, int]:
    status = json.loads(site.cli("status", "--json").stdout)
    return {m: info.get("reconcile_skipped", 0) for m, info in status["minions"].items()}


def test_a_dump_from_the_other_nodes_keepalived_is_never_used(tmp_path: Path) -> None:
    with LabSite.create(tmp_path / "site") as site:
        node1, node2 = site.lab.nodes
        (node1.run / "tmp").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(node2.run / "tmp", ignore_errors=True)
        (node2.run / "tmp").symlink_to(node1.run / "tmp")  # node2's keepalived writes where node1's does
        site.apply()
        site.settle()
        start = now_ns()
        for node in site.lab.nodes:  # a minion (re)connecting asks keepalived at once
            site.lab.stop(site.minion_procs[node.name])
            site.start_minion(node.name)
        counts = wait_until(lambda: (c := skipped(site)) and all(c.get(n.name) for n in site.lab.nodes) and c,
                            30, "both minions to report a skipped dump")
        assert set(counts) == {"node1", "node2"}
        assert "dumps skipped=" in site.cli("status").stdout
        assert site.query("SELECT COUNT(*) FROM events WHERE source = 'reconcile'") == [(0,)]
        log = (site.root / "minion-node2.log").read_text()
        assert "reconciliation skipped" in log and "shares its TMPDIR" in log

        site.power_off("node1")  # the seed's drill goes on as on any site
        wait_titles(site.chat.received, "failover: node1 -> node2", 1)
        site.boot("node1")
        wait_titles(site.chat.received, "failover: node2 -> node1", 1)
        loud = [(i["kind"], i["severity"]) for i in site.incidents() if i["started_ns"] >= start
                and i["severity"] != "info"]
        assert sorted(loud) == [("failover", "warning"), ("failover", "warning"), ("node_silent", "warning")], loud
        assert titles(site.chat.received(), "failover") == [f"[warning] VIP {site.lab.vip} failover: node1 -> node2",
                                                           f"[warning] VIP {site.lab.vip} failover: node2 -> node1"]
