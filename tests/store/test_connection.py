"""Opening the store on both engines: made once, read-only readers, one-line errors, the WHERE builder."""

from pathlib import Path

import pytest

from hamaster.core.errors import StoreError
from hamaster.core.events import Event
from hamaster.master import store
from hamaster.master.store.where import Where


def test_the_schema_is_made_once_and_versioned(where: str) -> None:
    conns = [store.connect(where) for _ in range(2)]  # the second finds it made
    try:
        assert [tuple(r) for r in conns[1].execute("SELECT key, value FROM meta").fetchall()] == [
            ("schema_version", str(store.SCHEMA_VERSION))]
    finally:
        for c in conns:
            c.close()


def test_a_store_of_a_newer_hamaster_is_refused_in_one_line(where: str) -> None:
    conn = store.connect(where)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(store.SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {store.SCHEMA_VERSION + 1} is newer") as err:
        store.connect(where)
    assert "\n" not in str(err.value)


def test_a_reader_sees_the_writers_commits_and_cannot_write(where: str) -> None:
    writer = store.connect(where)
    reader = store.connect(where, readonly=True)
    try:
        assert list(store.query_events(reader)) == []
        store.insert_events(writer, "node1", 5, [Event(1, 2, "minion", "minion/start")])
        assert list(store.query_events(reader)) == []  # not committed yet
        writer.commit()
        assert [se.event.seq for se in store.query_events(reader)] == [1]
        with pytest.raises(StoreError, match=r"(?i)read.?only"):
            store.insert_events(reader, "node1", 5, [Event(2, 3, "minion", "minion/start")])
    finally:
        reader.close()
        writer.close()


def test_read_gives_none_until_the_master_made_the_store(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    assert store.read(path, store.current_vrrp_states) is None
    store.connect(path).close()
    assert store.read(path, store.current_vrrp_states) == {}
    assert store.adhoc_query(path, "SELECT COUNT(*) FROM events") == [(0,)]


def test_a_missing_store_and_a_bad_url_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no event store here"):
        store.connect(tmp_path / "none.db", readonly=True)
    with pytest.raises(StoreError, match="unsupported store URL") as err:
        store.connect("mysql://u:secret@h/db")
    assert "secret" not in str(err.value)


def test_where_leaves_out_what_is_not_asked_for() -> None:
    assert Where().eq("a", None).ge("b", None).any_of("c", []).sql == ""
    w = Where().eq("minion", "node1").ge("node_ns", 0).lt("node_ns", 9).gt("id", 3).any_of("kind", ["vrrp", "job"])
    w.add("routed_ns IS NULL")
    assert w.sql == (" WHERE minion = ? AND node_ns >= ? AND node_ns < ? AND id > ? AND kind IN (?,?)"
                     " AND routed_ns IS NULL")
    assert w.args == ["node1", 0, 9, 3, "vrrp", "job"]


def test_a_failed_statement_is_a_store_error_in_one_line_and_the_connection_goes_on(where: str) -> None:
    conn = store.connect(where)
    try:
        with pytest.raises(StoreError, match="no_such_table") as err:
            conn.execute("SELECT * FROM no_such_table")
        assert "\n" not in str(err.value)
        with pytest.raises(StoreError, match=r"(?i)unique"):
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [("schema_version", "1")])
        conn.rollback()
        store.insert_events(conn, "node1", 5, [Event(1, 2, "minion", "minion/start")])
        conn.commit()
        assert [se.event.seq for se in store.query_events(conn)] == [1]
    finally:
        conn.close()


def test_a_store_of_schema_version_1_is_migrated_when_a_master_opens_it(where: str) -> None:
    conn = store.connect(where)
    try:  # make it what hamaster wrote before claims had owners
        conn.execute("ALTER TABLE deliveries DROP COLUMN claimed_by")
        conn.execute("DROP TABLE masters")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.commit()
    finally:
        conn.close()
    conns = [store.connect(where), store.connect(where)]  # the second finds it done
    try:
        for conn in conns:
            assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
            assert conn.execute("SELECT claimed_by FROM deliveries").fetchall() == []
            assert conn.execute("SELECT id, beat_ns FROM masters").fetchall() == []
    finally:
        for conn in conns:
            conn.close()
