"""The store on a real PostgreSQL server answers as it does on SQLite, and two masters sharing it keep one copy."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hamaster.core.errors import StoreError
from hamaster.core.events import Event
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.store import incidents, silences
from hamaster.master.store.dialect import pyformat
from hamaster.master.timeline.rows import Query, timeline

S = 1_000_000_000
T0 = 1_700_000_000 * S


def vrrp(seq: int, state: str, at_s: float, instance: str = "VI_1", **data: Any) -> Event:
    return Event(seq, T0 + int(at_s * S), "vrrp", f"vrrp/{instance}/{state}", instance, state, 100, "hook", data)


@pytest.fixture
def conn(pg_url: str) -> Iterator[Any]:
    c = store.connect(pg_url)
    yield c
    c.close()


def test_only_the_placeholders_are_mapped() -> None:
    assert pyformat("SELECT id FROM events WHERE minion = ? AND tag LIKE 'vrrp/%'") == (
        "SELECT id FROM events WHERE minion = %s AND tag LIKE 'vrrp/%%'")
    portable = "INSERT INTO incidents (dedup_key) VALUES (?) ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
    assert pyformat(portable) == portable.replace("?", "%s")


def test_a_batch_resent_is_absorbed_and_events_come_back_in_node_time_order(conn: Any) -> None:
    first = store.insert_events(conn, "node1", T0, [vrrp(1, "BACKUP", 1), vrrp(2, "MASTER", 3)])
    conn.commit()
    assert [se.event.seq for se in first] == [1, 2]
    again = store.insert_events(conn, "node1", T0 + S, [vrrp(2, "MASTER", 3), vrrp(3, "FAULT", 2)])
    conn.commit()
    assert [(se.minion, se.event.seq, se.event.state) for se in again] == [("node1", 3, "FAULT")]
    store.insert_events(conn, "node2", T0, [vrrp(1, "MASTER", 2)])
    conn.commit()

    ordered = [(se.minion, se.event.seq) for se in store.query_events(conn)]
    assert ordered == [("node1", 1), ("node1", 3), ("node2", 1), ("node1", 2)]
    assert [se.event.seq for se in store.query_events(conn, minion="node1", since_ns=T0 + 2 * S)] == [3, 2]
    after = [se.event.seq for se in store.query_events(conn, after_id=first[1].id, kinds=["vrrp"])]
    assert after == [3, 1]
    assert store.current_vrrp_states(conn) == {"node1": {"VI_1": ("MASTER", 100, T0 + 3 * S)},
                                               "node2": {"VI_1": ("MASTER", 100, T0 + 2 * S)}}


def test_a_node_time_of_today_fits_the_columns(conn: Any) -> None:
    big = Event(1, 2**62, "minion", "minion/start", data={"nested": {"ok": True}})
    (stored,) = store.insert_events(conn, "node1", 2**62 + 1, [big])
    conn.commit()
    assert stored.event == big and stored.master_ns == 2**62 + 1


def test_two_masters_on_one_store_keep_one_copy_and_each_correlates_every_event(pg_url: str) -> None:
    a, b = store.connect(pg_url), store.connect(pg_url)
    try:
        got_a = store.insert_events(a, "node1", T0, [vrrp(1, "BACKUP", 1), vrrp(2, "MASTER", 2)])
        a.commit()
        # b gets the same events from the minion (it lists both masters), and one a has not had yet
        got_b = store.insert_events(b, "node1", T0 + 1, [vrrp(1, "BACKUP", 1), vrrp(2, "MASTER", 2),
                                                         vrrp(3, "FAULT", 3)])
        b.commit()
        again_b = store.insert_events(b, "node1", T0 + 2, [vrrp(3, "FAULT", 3)])  # a resend to b: old news
        b.commit()
        assert [se.event.seq for se in got_a] == [1, 2]
        assert [se.event.seq for se in got_b] == [1, 2, 3]
        assert [se.master_ns for se in got_b] == [T0, T0, T0 + 1]  # as stored: by a, a, b
        assert again_b == []
        (count,) = a.execute("SELECT COUNT(*) FROM events").fetchone()
        assert count == 3

        failover = Incident("failover", "VI_1", T0 + 2 * S, "VI_1 moved", "failover:VI_1:node1:2")
        assert incidents.insert(a, failover) is not None
        a.commit()
        assert incidents.insert(b, Incident("failover", "VI_1", T0 + 2 * S, "VI_1 moved", failover.dedup_key)) \
            is None
        b.commit()
        assert [i.id for i in incidents.query(b)] == [failover.id]
    finally:
        a.close()
        b.close()


def test_the_timeline_folds_a_second_report_and_shrugs_at_data_that_is_not_json(conn: Any) -> None:
    store.insert_events(conn, "node1", T0, [vrrp(1, "MASTER", 1), vrrp(2, "MASTER", 1.01, duplicate_of=1)])
    store.insert_events(conn, "node2", T0, [vrrp(1, "BACKUP", 2)])
    conn.execute("UPDATE events SET data = 'not json {duplicate_of' WHERE minion = 'node2'")
    conn.commit()
    rows = list(timeline(conn, Query(kinds=("vrrp",))))
    assert [(r.node, r.to_state, r.ids) for r in rows] == [("node1", "MASTER", (1, 2)), ("node2", "BACKUP", (3,))]


def test_the_schema_is_made_once_even_by_masters_starting_together(pg_url: str) -> None:
    conns = [store.connect(pg_url) for _ in range(3)]
    try:
        rows = conns[0].execute("SELECT key, value FROM meta").fetchall()
        assert rows == [("schema_version", str(store.SCHEMA_VERSION))]
    finally:
        for c in conns:
            c.close()


def test_a_reader_of_an_empty_database_and_a_bad_password_get_one_line_without_the_secret(
        pg_server: str, pg_url: str) -> None:
    with pytest.raises(StoreError, match="no event store here"):
        store.connect(pg_url, readonly=True)
    url = pg_url.replace("postgres@", "postgres:s3cret@").replace("127.0.0.1:", "127.0.0.1:1")
    with pytest.raises(StoreError) as err:
        store.connect(url.rsplit(":", 1)[0] + ":1/x")
    assert "s3cret" not in str(err.value) and "\n" not in str(err.value)
    assert store.describe("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_a_failed_statement_rolls_back_and_the_connection_goes_on(conn: Any) -> None:
    store.insert_events(conn, "node1", T0, [vrrp(1, "MASTER", 1)])
    with pytest.raises(StoreError, match="no_such_table"):
        conn.execute("SELECT * FROM no_such_table")
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)  # the open transaction went with it
    sid = silences.add(conn, None, "node1", T0, T0 + S, "", T0)
    assert sid == conn.execute("SELECT id FROM silences").fetchone()[0]
    assert json.loads(json.dumps(conn.execute("SELECT data FROM events").fetchall())) == []
