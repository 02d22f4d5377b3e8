"""The status document from a real store (SQLite on disk, and PostgreSQL: tests/pgcluster.py's server):
who is believed to hold a group, what a silent or dead node shows, VRID and VIPs from what the minions say,
the probe's word, and the fold of new events agreeing with a fresh load."""

import json
from pathlib import Path

import pytest

from hamaster.core.config import load_master_config
from hamaster.core.events import Event, vrrp_tag
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.store import dashboard
from hamaster.master.store import incidents as stored_incidents
from hamaster.master.web import status
from hamaster.master.web.live import DOWN
from hamaster.master.web.state import SiteState
from hamaster.master.web.status import Live

NOW = 1_800_000_000 * 10**9
S = 10**9


class Store:
    def __init__(self, root: Path, extra: str = "", url: str = "store.db") -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "master.yaml").write_text(f"store: {url}\n" + extra)
        self.cfg = load_master_config(root / "master.yaml")
        self.conn = store.connect(self.cfg.store)
        self.seq: dict[str, int] = {}

    def event(self, minion: str, at: float, kind: str, tag: str, *, instance: str | None = None,
              state: str | None = None, priority: int | None = None, **data: object) -> None:
        self.seq[minion] = self.seq.get(minion, 0) + 1
        node_ns = NOW + int(at * S)
        ev = Event(self.seq[minion], node_ns, kind, tag, instance, state, priority, "hook", dict(data))
        store.insert_events(self.conn, minion, node_ns + 3_000_000, [ev])
        self.conn.commit()

    def vrrp(self, minion: str, at: float, state: str, priority: int = 100, instance: str = "VI_1",
             **data: object) -> None:
        self.event(minion, at, "vrrp", vrrp_tag(instance, state), instance=instance, state=state,
                   priority=priority, **data)

    def heard(self, minion: str, at: float) -> None:
        store.minions.greet(self.conn, NOW + int(at * S), {minion: "{}"})
        self.conn.commit()

    def doc(self, live: Live = DOWN, now: float = 10) -> dict:
        site = SiteState.load(self.conn)
        shown = dashboard.incidents_shown(self.conn, NOW - 3600 * S, status.OPEN_KINDS)
        return status.build(site, self.cfg, live, dashboard.liveness(self.conn), shown, NOW + int(now * S))


@pytest.fixture(params=["sqlite", "postgresql"])
def st(tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A store of either engine (the dashboard's reads are the store layer's: both run them)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else "store.db"
    s = Store(tmp_path / "site", "probes:\n  - {vip: 10.0.0.5, nodes: [node1, node2]}\n", url)
    yield s
    s.conn.close()


def group(doc: dict, name: str = "VI_1") -> dict:
    return next(g for g in doc["groups"] if g["name"] == name)


def test_the_holder_is_the_master_its_node_vouches_for(st: Store) -> None:
    st.vrrp("node1", 1, "MASTER", 100, vips=["10.0.0.5"], vrid=51)
    st.vrrp("node2", 1.1, "BACKUP", 90)
    st.heard("node1", 9)
    st.heard("node2", 9)
    g = group(st.doc())
    assert (g["holder"], g["state"], g["vrid"], g["vips"]) == (["node1"], "ok", 51, ["10.0.0.5"])
    # keepalived on node1 died: its MASTER is no one's word; node2 takes over: a failover, not a split brain
    st.event("node1", 5, "beacon", "beacon/keepalived/down", state="False")
    st.vrrp("node2", 5.6, "MASTER", 90)
    g = group(st.doc())
    assert (g["holder"], g["state"]) == (["node2"], "ok")
    assert [n["believed"] for n in g["nodes"]] == [False, True]
    doc = st.doc()
    assert doc["minions"]["node1"]["keepalived"] == "down"


def test_a_silent_master_leaves_the_holder_unknown_and_two_masters_are_a_split_brain(st: Store) -> None:
    st.vrrp("node1", 1, "MASTER")
    st.vrrp("node2", 1.1, "BACKUP", 90)
    st.heard("node1", 2)  # then nothing: silent by the store's word (no master to ask)
    st.heard("node2", 9)
    g = group(st.doc())
    assert (g["holder"], g["state"]) == ([], "unknown")
    assert {n["node"]: n["online"] for n in g["nodes"]} == {"node1": False, "node2": True}
    live = Live(True, {"node1": {"online": True}, "node2": {"online": True}}, {}, {}, {})
    st.vrrp("node2", 6, "MASTER", 90)
    g = group(st.doc(live))  # the master's own word: both heard, both MASTER
    assert (g["holder"], g["state"]) == (["node1", "node2"], "split_brain")


def test_vrid_and_vips_from_keepalived_conf_facts_and_the_probe_answering(st: Store) -> None:
    facts = {"instances": {"VI_1": {"vrid": 7, "vips": ["10.0.0.5", "10.0.0.6"], "interface": "eth0"}},
             "sync_groups": {}, "path": "/etc/keepalived/keepalived.conf", "sha256": "0" * 64}
    st.event("node1", 0.5, "minion", "minion/keepalived/config", **facts)
    st.vrrp("node1", 1, "MASTER")
    st.vrrp("node2", 1.1, "BACKUP", 90)
    st.event("@probe", 1.2, "beacon", "beacon/probe/10.0.0.5/node1", state="node1", vip="10.0.0.5")
    st.event("node1", 1.3, "beacon", "beacon/vip/10.0.0.5/held", state="True")
    g = group(st.doc())
    assert (g["vrid"], g["vips"]) == (7, ["10.0.0.5", "10.0.0.6"])
    assert g["probe"] == [{"vip": "10.0.0.5", "answering": "node1", "since_ns": NOW + int(1.2 * S)}]
    assert g["nodes"][0]["vips_held"] == ["10.0.0.5"]
    st.event("@probe", 4, "beacon", "beacon/probe/10.0.0.5/nobody", state="nobody", vip="10.0.0.5")
    assert group(st.doc())["probe"][0]["answering"] == "nobody"


def test_a_late_event_does_not_hide_a_newer_word_and_the_fold_agrees_with_a_load(st: Store) -> None:
    site = SiteState.load(st.conn)
    st.vrrp("node1", 3, "MASTER")
    st.vrrp("node1", 2, "BACKUP")  # stored after, happened before (from a spool): the older word
    st.vrrp("node2", 2.5, "BACKUP", 90)
    st.event("node2", 2.6, "beacon", "beacon/nginx/down", state="False")
    st.event("node2", 2.7, "beacon", "beacon/nginx/up", state="True")
    assert site.refresh(st.conn) is True
    fresh = SiteState.load(st.conn)
    assert site.vrrp == fresh.vrrp and site.beacons == fresh.beacons
    assert site.vrrp[("node1", "VI_1")].value == "MASTER"
    assert site.beacons[("node2", "nginx")].value == "up"
    assert site.refresh(st.conn) is False  # nothing new


def test_open_incidents_on_top_and_moments_below(st: Store) -> None:
    st.vrrp("node1", 1, "MASTER")
    for inc in (Incident("node_silent", None, NOW + 2 * S, "node3 silent", "silent:1", nodes=["node3"]),
                Incident("failover", "VI_1", NOW + 3 * S, "VI_1 moved node1 -> node2", "failover:1",
                         nodes=["node1", "node2"], data={"gap_ns": 620_000_000})):
        stored_incidents.insert(st.conn, inc)
    st.conn.commit()
    doc = st.doc()
    assert [i["kind"] for i in doc["incidents"]["open"]] == ["node_silent"]
    assert [(i["kind"], i["gap_ns"]) for i in doc["incidents"]["recent"]] == [("failover", 620_000_000)]
    assert json.loads(json.dumps(doc)) == doc  # JSON as it is
