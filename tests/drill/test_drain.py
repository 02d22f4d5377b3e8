"""`hamaster drain` / `undrain` on the lab pair: the VIP moves away and back through keepalived's track_file,
nothing is stopped, the probe answers throughout but for the measured gap, and the moves are planned."""

import json
from pathlib import Path

import pytest

from hamaster.core.timeutil import now_ns
from hamaster.lab import services
from hamaster.lab.site import LabSite
from hamaster.master.drills import figures

pytestmark = pytest.mark.lab


def answers(site: LabSite, since_ns: int) -> list[tuple[int, str | None]]:
    return [(o.ts_ns, o.node) for o in site.probe_changes()]


def test_drain_moves_the_vip_away_and_undrain_brings_it_back(site: LabSite) -> None:
    n1 = site.lab.node("node1")
    keepalived, nginx = services.pid_of(services.KEEPALIVED, n1.run), services.pid_of(services.NGINX, n1.run)
    start = now_ns()
    out = site.cli("drain", "node1").stdout
    assert "node1 drained" in out and f"{site.lab.vip} -> node2" in out
    assert site.probe_changes()[-1].node == "node2"
    assert site.lab.holders() == ["node2"]
    # nothing stopped or restarted on node1: the same keepalived and nginx, and node1 is a BACKUP
    assert services.pid_of(services.KEEPALIVED, n1.run) == keepalived
    assert services.pid_of(services.NGINX, n1.run) == nginx
    moved = now_ns()
    seen = answers(site, start)
    # the probe saw node1, then (maybe nobody for the measured gap) node2, and nothing else
    assert [who for ts, who in seen if ts >= start] in (["node2"], [None, "node2"])
    assert figures.outage_ns(seen, start, moved) < 1_000_000_000  # the gap is measured, and short of a crash's

    status = json.loads(site.cli("status", "--json").stdout)["minions"]
    assert status["node1"]["drained"] is True and status["node2"]["drained"] is False
    assert "drained" in site.cli("status").stdout
    drains = [json.loads(line) for line in site.cli("timeline", "--kind", "drain", "--format", "json").stdout.split()]
    assert [(d["node"], d["drained"], d["held"]) for d in drains] == [("node1", True, ["VI_1"])]

    back = now_ns()
    out = site.cli("undrain", "node1").stdout
    assert "node1 in service again" in out
    assert site.probe_changes()[-1].node == "node1"
    assert [who for ts, who in answers(site, back) if ts >= back] in (["node1"], [None, "node1"])
    assert json.loads(site.cli("status", "--json").stdout)["minions"]["node1"]["drained"] is False
    # every incident the moves caused is planned: no alert goes out for them
    caused = [i for i in site.incidents() if i["started_ns"] >= start]
    assert caused and all(i["planned"] for i in caused), caused
    assert not [m for m in site.chat.received() if m.at_ns >= start and "failover" in m.title]


def test_drain_refuses_when_the_peer_cannot_serve(site: LabSite) -> None:
    n2 = site.lab.node("node2")
    conf = n2.etc / "nginx" / "nginx.conf"
    conf.write_text(conf.read_text() + "\nthis is not nginx syntax;\n")  # the check script cannot start it again
    site.lab.stop_nginx("node2")
    track = site.lab.node("node1").etc / "keepalived" / "hamaster-drain"
    before = track.read_text()
    done = site.cli("drain", "node1", check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not draining node1" in done.stderr and "nginx on node2" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert track.read_text() == before  # nothing was touched
    assert site.lab.holders() == ["node1"]


def test_drain_of_an_unknown_node_says_which_are_known(site: LabSite) -> None:
    done = site.cli("drain", "node9", check=False)  # as `apply -t` with no match: one line, exit 1
    assert done.returncode == 1 and done.stderr == "hamaster: error: node9: no such minion (known: node1, node2)\n"


def test_a_pair_without_the_drain_track_file_says_how_to_wire_it(tmp_path: Path) -> None:
    with LabSite.create(tmp_path / "site") as site:
        pair = site.pillar / "pair.sls"
        pair.write_text(pair.read_text() + "drain: {enabled: false}\n")  # the pillar switch off
        site.apply()
        site.settle()
        conf = (site.lab.node("node1").etc / "keepalived" / "keepalived.conf").read_text()
        assert "hamaster_drain" not in conf
        done = site.cli("drain", "node1", check=False)
        assert done.returncode == 1 and "has no track_file hamaster_drain" in done.stderr, done.stderr
        assert "drain.enabled" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert site.lab.holders() == ["node1"]
        # no mark was recorded: the node is not shown drained
        assert json.loads(site.cli("status", "--json").stdout)["minions"]["node1"]["drained"] is False
