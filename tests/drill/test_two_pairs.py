"""One site, two healthy pairs, both named VI_1 (keepalived's sample name, kept on every pair): VRID 51 on
node1/node2, VRID 52 on node3/node4. A real master and four real minions (tests/sitelib.py) read each node's
keepalived.conf (its facts: VRID, VIPs, network) and the hooks fire as keepalived fires them; then `hamaster
check`, the drill's readiness, drain's peers, the dashboard's document and status's preemption are asked.
Grouped by name, the two MASTERs were a "split brain" (check's exit 2), the drill refused, drain took the
other pair's nodes for peers and the page showed one group in split brain."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from sitelib import Site, wait_for

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.cli.drill import pick_instances, readiness
from hamaster.master.drills.readiness import peers, takeover_findings
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.store import dashboard
from hamaster.master.web import status
from hamaster.master.web.live import ask_status
from hamaster.master.web.state import SiteState

NODES = {"node1": (51, 100, True), "node2": (51, 90, False), "node3": (52, 100, False), "node4": (52, 90, False)}
A, B = "VI_1 (VRID 51, 127.0.0.0/8)", "VI_1 (VRID 52, 127.0.0.0/8)"  # lo's network: where each pair is heard


def conf(vrid: int, priority: int, nopreempt: bool) -> str:
    own = "    nopreempt\n" if nopreempt else ""
    return (f"vrrp_instance VI_1 {{\n    state BACKUP\n    interface lo\n    virtual_router_id {vrid}\n"
            f"    priority {priority}\n{own}    advert_int 1\n"
            f"    virtual_ipaddress {{\n        10.0.{vrid}.100/24\n    }}\n}}\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Pair 51: node2 holds it, node1 (priority 100, nopreempt) is BACKUP by choice. Pair 52: node3 holds it."""
    s = Site(tmp_path / "site", tuple(NODES))
    try:
        for m, (vrid, priority, nopreempt) in NODES.items():
            path = s.root / "minions" / m / "keepalived.conf"
            path.write_text(conf(vrid, priority, nopreempt))
            with open(s.minion_config(m), "a") as f:
                f.write(f"keepalived_conf: {path}\n")
        s.start_master()
        for m in NODES:
            s.start_minion(m)
        wait_for(lambda: s.count("SELECT COUNT(DISTINCT minion) FROM events WHERE tag = 'minion/keepalived/config'")
                 == 4, 30, "every node's config facts")
        for m, state, priority in (("node2", "MASTER", 90), ("node1", "BACKUP", 100), ("node3", "MASTER", 100),
                                   ("node4", "BACKUP", 90)):
            s.hook(m, "INSTANCE", "VI_1", state, str(priority))
        wait_for(lambda: s.count() == 4, 30, "the four transitions")
        yield s
    finally:
        s.close()


def snapshot(site: Site) -> Snapshot:
    cfg = load_master_config(site.config)
    return Snapshot.load(cfg, json.loads(site.cli("status", "--json").stdout))


def test_check_sees_two_healthy_pairs_not_a_split_brain(site: Site) -> None:
    done = site.cli("check", "--json", "--no-live", check=False)
    findings = json.loads(done.stdout)["findings"]
    assert not [f for f in findings if "MASTER" in f["problem"]], findings
    [held] = [f for f in findings if "by choice" in f["problem"]]  # the preemption finding, of pair 51 only
    assert (held["group"], held["instance"], held["node"]) == (A, "VI_1", "node1")
    assert held["problem"].startswith(f"{A} held by node2 (priority 90) by choice")
    errors = [f for f in findings if f["severity"] == "error"]
    # what is left is the page of each BACKUP (no nginx here), said of each one's own pair
    assert sorted((f["group"], f["node"]) for f in errors) == [(A, "node1"), (B, "node4")], errors
    assert done.returncode == 2


def test_the_drill_and_drain_see_each_pair_on_its_own(site: Site) -> None:
    snap = snapshot(site)
    with pytest.raises(ConfigError, match=r"--instance VI_1 is 2 VRRP groups here: 'VI_1 \(VRID 51.*'VI_1 \(VRID 52"):
        pick_instances(snap, "VI_1", False)  # a drill moves users' traffic: the operator says which pair
    refused = site.cli("drill", "--instance", "VI_1", check=False)  # the command says it as one line
    assert refused.returncode != 0 and A in refused.stderr and B in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not site.count("SELECT COUNT(*) FROM jobs")  # nothing ran
    assert [g.label for g in snap.groups()] == [A, B]
    assert pick_instances(snap, A, False) == [A] and pick_instances(snap, None, True) == [A, B]
    holder, peer, found = readiness(snap, B)
    assert (holder, peer) == ("node3", "node4") and not [f for f in found if "MASTER" in f.problem]
    assert peers(snap, snap.group_of("node3", "VI_1"), "node3") == ["node4"]  # drain's: its own pair's
    assert list(takeover_findings(snap, "node2", ask_page=False)) == [A]
    assert takeover_findings(snap, "node2", ask_page=False)[A] == []


def test_the_page_and_status_show_two_groups(site: Site) -> None:
    cfg = load_master_config(site.config)
    ctx = zmq.Context()
    conn = store.connect(cfg.store, readonly=True)
    try:
        live = ask_status(cfg.control, ctx, timeout=5)  # as the web process asks the running master
        doc = status.build(SiteState.load(conn), cfg, live, dashboard.liveness(conn),
                           dashboard.incidents_shown(conn, 0, status.OPEN_KINDS), now_ns())
    finally:
        conn.close()
        ctx.term()
    assert live.up
    groups = {g["name"]: g for g in doc["groups"]}
    assert sorted(groups) == [A, B]
    assert [(groups[n]["holder"], groups[n]["vrid"]) for n in (A, B)] == [(["node2"], 51), (["node3"], 52)]
    assert groups[A]["preemption"]["kind"] == "held_by_choice" and groups[B]["preemption"] is None
    said = json.loads(site.cli("status", "--json").stdout)["preemption"]
    assert [(p["group"], p["kind"], p["holder"], p["preferred"]) for p in said] == [
        (A, "held_by_choice", "node2", "node1")]
