"""The `events` table on both engines: exactly once, node-time order, the reads the CLI, timeline and lab make."""

from hamaster.core.events import Event
from hamaster.master import store
from hamaster.master.store import events, minions

S = 1_000_000_000
T0 = 1_700_000_000 * S


def vrrp(seq: int, state: str, at_s: float, instance: str = "VI_1", **data: object) -> Event:
    return Event(seq, T0 + int(at_s * S), "vrrp", f"vrrp/{instance}/{state}", instance, state, 100, "hook", data)


def beacon(seq: int, tag: str, at_s: float, state: str | None = None) -> Event:
    return Event(seq, T0 + int(at_s * S), "beacon", tag, state=state, source="beacon")


def test_a_batch_resent_is_absorbed_and_only_new_events_come_back(conn: store.Connection) -> None:
    first = store.insert_events(conn, "node1", T0, [vrrp(2, "MASTER", 3), vrrp(1, "BACKUP", 1)])
    conn.commit()
    assert [(se.minion, se.event.seq, se.master_ns) for se in first] == [("node1", 1, T0), ("node1", 2, T0)]
    assert first[0].id < first[1].id  # stored in seq order
    again = store.insert_events(conn, "node1", T0 + S, [vrrp(2, "MASTER", 3), vrrp(3, "FAULT", 2), vrrp(3, "FAULT", 2)])
    conn.commit()
    assert [(se.event.seq, se.event.state, se.master_ns) for se in again] == [(3, "FAULT", T0 + S)]
    assert events.last_id(conn) == again[0].id
    assert [se.event for se in store.query_events(conn)] == [vrrp(1, "BACKUP", 1), vrrp(3, "FAULT", 2),
                                                              vrrp(2, "MASTER", 3)]


def test_a_batch_larger_than_one_statement_is_stored_whole(conn: store.Connection) -> None:
    batch = [vrrp(seq, "MASTER", seq / 1000) for seq in range(1, 1201)]
    new = store.insert_events(conn, "node1", T0, batch)
    conn.commit()
    assert [se.event.seq for se in new] == list(range(1, 1201))
    assert store.insert_events(conn, "node1", T0, batch[500:700]) == []
    assert events.counts(conn) == [("node1", "vrrp", 1200)]


def test_events_come_back_in_node_time_order_and_filtered(conn: store.Connection) -> None:
    first = store.insert_events(conn, "node1", T0, [vrrp(1, "BACKUP", 1), vrrp(2, "MASTER", 3),
                                                    vrrp(3, "FAULT", 2)])
    store.insert_events(conn, "node2", T0, [vrrp(1, "MASTER", 2), beacon(2, "beacon/vip/10.0.0.1/held", 4)])
    conn.commit()
    ordered = [(se.minion, se.event.seq) for se in store.query_events(conn)]
    assert ordered == [("node1", 1), ("node1", 3), ("node2", 1), ("node1", 2), ("node2", 2)]
    assert [se.event.seq for se in store.query_events(conn, minion="node1", since_ns=T0 + 2 * S)] == [3, 2]
    assert [se.event.seq for se in store.query_events(conn, until_ns=T0 + 2 * S)] == [1]
    after = [(se.minion, se.event.seq) for se in store.query_events(conn, after_id=first[0].id, kinds=["vrrp"])]
    assert after == [("node1", 2), ("node1", 3), ("node2", 1)]  # in id order
    assert len(list(store.query_events(conn, after_id=0, limit=2))) == 2
    assert [se.event.kind for se in store.query_events(conn, kinds=["beacon"])] == ["beacon"]


def test_the_latest_vrrp_state_per_node_and_instance(conn: store.Connection) -> None:
    store.insert_events(conn, "node1", T0, [vrrp(1, "BACKUP", 1), vrrp(2, "MASTER", 3),
                                            vrrp(3, "BACKUP", 2, instance="VI_2")])
    store.insert_events(conn, "node2", T0, [vrrp(1, "MASTER", 2), vrrp(2, "BACKUP", 4)])
    conn.commit()
    assert store.current_vrrp_states(conn) == {
        "node1": {"VI_1": ("MASTER", 100, T0 + 3 * S), "VI_2": ("BACKUP", 100, T0 + 2 * S)},
        "node2": {"VI_1": ("BACKUP", 100, T0 + 4 * S)}}
    # whatever the instance: what the lab waits on (a bare-column GROUP BY here is refused by PostgreSQL)
    assert events.last_vrrp_by_minion(conn) == {"node1": ("MASTER", T0 + 3 * S), "node2": ("BACKUP", T0 + 4 * S)}
    assert events.last_vrrp_by_instance(conn) == {  # what the lab waits on with several instances
        ("node1", "VI_1"): ("MASTER", T0 + 3 * S), ("node1", "VI_2"): ("BACKUP", T0 + 2 * S),
        ("node2", "VI_1"): ("BACKUP", T0 + 4 * S)}
    assert events.vrrp_transitions(conn) == [("node1", "BACKUP", T0 + S), ("node1", "BACKUP", T0 + 2 * S),
                                             ("node2", "MASTER", T0 + 2 * S), ("node1", "MASTER", T0 + 3 * S),
                                             ("node2", "BACKUP", T0 + 4 * S)]


def test_beacons_probe_observations_and_sequence_numbers(conn: store.Connection) -> None:
    store.insert_events(conn, "node1", T0, [beacon(1, "beacon/vip/10.0.0.1/held", 1),
                                            beacon(2, "beacon/nginx/up", 2), beacon(3, "beacon/vip/10.0.0.1/lost", 3)])
    store.insert_events(conn, "@probe", T0, [beacon(2, "beacon/probe/10.0.0.1/node2", 5, "node2"),
                                             beacon(1, "beacon/probe/10.0.0.1/nobody", 6, "nobody")])
    conn.commit()
    assert events.vip_beacons(conn) == [("node1", "beacon/vip/10.0.0.1/held"), ("node1", "beacon/vip/10.0.0.1/lost")]
    assert events.observations(conn, "@probe") == [(T0 + 6 * S, "nobody"), (T0 + 5 * S, "node2")]  # seq order
    assert events.observations(conn, "@probe", "beacon/probe/10.0.0.1/") == events.observations(conn, "@probe")
    assert events.observations(conn, "@probe", "beacon/probe/10.0.0.11/") == []  # a probe of another VIP
    assert (events.last_seq(conn, "@probe"), events.last_seq(conn, "nobody")) == (2, 0)
    assert events.end_ns(conn) == T0 + 6 * S + 1


def test_a_node_time_of_today_and_nested_data_fit(conn: store.Connection) -> None:
    big = Event(1, 2**62, "minion", "minion/start", data={"nested": {"ok": True}, "list": [1, "a"]})
    (stored,) = store.insert_events(conn, "node1", 2**62 + 1, [big])
    conn.commit()
    assert stored.event == big and stored.master_ns == 2**62 + 1
    assert [se.event for se in store.query_events(conn)] == [big]


def test_intake_stores_greetings_and_events_in_one_round(conn: store.Connection) -> None:
    new = store.store_intake(conn, T0, {"node2": '{"os": "debian"}', "node1": "{}"},
                             {"node2": [vrrp(1, "MASTER", 1)], "node1": [vrrp(1, "BACKUP", 1)]})
    assert [(se.minion, se.event.seq) for se in new] == [("node1", 1), ("node2", 1)]
    again = store.store_intake(conn, T0 + S, {"node2": '{"os": "trixie"}'}, {"node2": [vrrp(1, "MASTER", 1)]})
    assert again == []
    assert minions.grains(conn) == {"node1": {}, "node2": {"os": "trixie"}}
    assert minions.heard_since(conn, T0 + 1) == {"node2": T0 + S}


def test_the_timeline_reads_fold_second_reports_and_shrug_at_data_that_is_not_json(conn: store.Connection) -> None:
    store.insert_events(conn, "node1", T0 + S // 100, [vrrp(1, "MASTER", 1), vrrp(2, "MASTER", 1.01, duplicate_of=1),
                                                       vrrp(3, "BACKUP", 5, duplicate_of=99)])
    store.insert_events(conn, "node2", T0 + 3 * S, [vrrp(1, "BACKUP", 2)])
    conn.execute("UPDATE events SET data = 'not json {duplicate_of' WHERE minion = 'node2'")
    conn.commit()
    rows = [(r[1], r[7], r[-1]) for r in events.timeline_rows(conn, since_ns=None, until_ns=None)]
    first_id = next(store.query_events(conn)).id
    assert rows == [("node1", "MASTER", None), ("node1", "MASTER", first_id), ("node2", "BACKUP", None),
                    ("node1", "BACKUP", None)]
    window = events.timeline_rows(conn, since_ns=T0 + 2 * S, until_ns=T0 + 6 * S, nodes=["node1"], kinds=["vrrp"])
    assert [r[1:3] for r in window] == [("node1", T0 + 5 * S)]
    assert events.state_before(conn, "node1", "VI_1", T0 + 2 * S) == "MASTER"
    assert events.state_before(conn, "node2", "VI_1", T0 + 2 * S) is None
    assert events.smallest_delays(conn, None, None) == {"node1": -5 * S + S // 100, "node2": S}
    assert events.smallest_delays(conn, T0, T0 + 3 * S) == {"node1": S // 100 - int(1.01 * S), "node2": S}
