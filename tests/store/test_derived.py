"""Incidents, jobs, silences and minions on both engines."""

from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.store import incidents, jobs, minions, silences

S = 1_000_000_000
T0 = 1_700_000_000 * S


def failover(key: str = "failover:VI_1:node2:7", at_s: float = 0, **kw: object) -> Incident:
    return Incident("failover", "VI_1", T0 + int(at_s * S), "VI_1 moved node1 -> node2", key,
                    nodes=["node1", "node2"], **kw)  # type: ignore[arg-type]


def test_an_incident_is_stored_once_per_dedup_key(conn: store.Connection) -> None:
    inc = failover(data={"gap_ns": 3 * S})
    iid = incidents.insert(conn, inc)
    conn.commit()
    assert iid is not None and inc.id == iid
    assert incidents.insert(conn, failover()) is None
    assert incidents.id_of(conn, inc.dedup_key) == iid and incidents.id_of(conn, "nope") is None
    assert incidents.severity_of(conn, inc.dedup_key) == (iid, "warning")
    got = incidents.get(conn, iid)
    assert got is not None and (got.kind, got.nodes, got.data, got.planned, got.routed_ns) == (
        "failover", ["node1", "node2"], {"gap_ns": 3 * S}, False, None)
    assert incidents.get(conn, iid + 1) is None


def test_closing_merges_data_once(conn: store.Connection) -> None:
    iid = incidents.insert(conn, Incident("split_brain", "VI_1", T0, "two MASTERs", "sb:1", data={"a": 1}))
    assert incidents.close(conn, "sb:1", T0 + S, b=2) == iid
    assert incidents.close(conn, "sb:1", T0 + 2 * S, c=3) is None  # already closed
    conn.commit()
    got = incidents.get(conn, iid or 0)
    assert got is not None and (got.ended_ns, got.data) == (T0 + S, {"a": 1, "b": 2})


def test_incidents_are_queried_in_time_order_and_counted(conn: store.Connection) -> None:
    late = incidents.insert(conn, failover("f:2", at_s=5))
    early = incidents.insert(conn, failover("f:1", at_s=1, routed_ns=T0))
    silent = incidents.insert(conn, Incident("node_silent", None, T0 + 3 * S, "node1 silent", "ns:1",
                                             nodes=["node1"], severity="critical"))
    conn.commit()
    assert [i.id for i in incidents.query(conn)] == [early, silent, late]
    assert [i.id for i in incidents.query(conn, kind="failover", since_ns=T0 + 2 * S)] == [late]
    assert [i.id for i in incidents.query(conn, unrouted=True, instance="VI_1")] == [late]
    assert sorted(incidents.counts(conn)) == [("failover", "warning", 2), ("node_silent", "critical", 1)]
    window = [r[0] for r in incidents.timeline_rows(conn, T0 + 2 * S, T0 + 5 * S)]
    assert window == [silent]


def test_jobs_running_at_a_time_with_grace(conn: store.Connection) -> None:
    jobs.start(conn, "j1", T0, ["node2", "node1"], test=False)
    jobs.start(conn, "j2", T0 + 10 * S, ["node1"], test=True)
    jobs.start(conn, "j3", T0 + 20 * S, ["node2"], test=False)
    jobs.finish(conn, "j1", T0 + 5 * S, {"node1": {"changed": 1}})
    assert jobs.running_at(conn, T0 + 6 * S, grace_ns=2 * S) == [("j1", '["node1", "node2"]')]
    assert jobs.running_at(conn, T0 + 8 * S, grace_ns=2 * S) == []
    assert [j for j, _ in jobs.running_at(conn, T0 + 30 * S, grace_ns=0)] == ["j3"]  # still running; j2 is a test
    rows = list(jobs.timeline_rows(conn, T0, T0 + 15 * S))
    assert [(r[0], r[2], r[4], r[5]) for r in rows] == [("j1", T0 + 5 * S, 0, '{"node1": {"changed": 1}}'),
                                                        ("j2", None, 1, None)]


def test_silences_are_added_listed_in_force_and_expired(conn: store.Connection) -> None:
    a = silences.add(conn, "VI_*", None, T0, T0 + 60 * S, "nginx upgrade", T0)
    b = silences.add(conn, None, "node1", T0 + 10 * S, T0 + 20 * S, "", T0)
    assert b > a
    assert [s[0] for s in silences.listed(conn)] == [a, b]
    assert [s[0] for s in silences.listed(conn, active_at=T0 + 30 * S)] == [a]
    assert silences.in_force(conn, T0 + 5 * S) == [(a, "VI_*", None, T0, T0 + 60 * S, "nginx upgrade")]
    assert [s[0] for s in silences.in_force(conn, T0 + 15 * S)] == [a, b]
    assert silences.expire(conn, a, T0 + 16 * S) is True
    assert silences.expire(conn, a, T0 + 17 * S) is False  # no longer active
    assert [s[0] for s in silences.in_force(conn, T0 + 17 * S)] == [b]


def test_minions_greeted_heard_and_their_liveness(conn: store.Connection) -> None:
    minions.greet(conn, T0, {"node1": '{"os": "debian"}', "node2": "{}"})
    conn.commit()
    minions.record_liveness(conn, [("node2", T0 + 5 * S, 3), ("node1", T0 + S, 0), ("ghost", T0, 1)])
    assert minions.liveness(conn) == {"node1": (T0 + S, 0), "node2": (T0 + 5 * S, 3)}
    assert minions.heard_since(conn, T0 + 2 * S) == {"node2": T0 + 5 * S}
    assert minions.greeted(conn) == ["node1", "node2"]
    assert minions.grains(conn) == {"node1": {"os": "debian"}, "node2": {}}
