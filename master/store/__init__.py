"""The master's store: every line of the master's SQL lives in this package, one module per table.

    conn = store.connect(cfg.store)        # a path (SQLite, WAL) or a postgresql:// URL; made and migrated
    store.store_intake(conn, ...)          # events.py: intake, exactly once on (minion, seq)
    incidents.insert(conn, inc)            # incidents.py: idempotent on dedup_key

    connection.py  the Connection protocol (what the store needs of a connection) and SQLite's
    postgres.py    PostgreSQL's connection (psycopg; an extra)
    dialect.py     what differs between the two: the placeholder, the schema's types, one JSON lookup
    schema.py      the tables          where.py   the one WHERE-clause builder
    events.py  minions.py  incidents.py  outbox.py (deliveries, for notify)  jobs.py  silences.py

One writer (the master daemon's intake loop) and any number of readers (the CLI, the notify worker). On
PostgreSQL several masters may share one store: the unique keys keep one copy of everything.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hamaster.core.errors import StoreError
from hamaster.core.events import Event, StoredEvent
from hamaster.master.store.connection import Connection, Cursor, connect
from hamaster.master.store.dialect import describe
from hamaster.master.store.events import current_vrrp_states, insert_events, query_events, row_to_event, store_intake
from hamaster.master.store.minions import grains as minion_grains
from hamaster.master.store.schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Connection", "Cursor", "Event", "StoreError", "StoredEvent", "connect",
           "current_vrrp_states", "describe", "insert_events", "minion_grains", "query_events", "read",
           "row_to_event", "store_intake"]
T = TypeVar("T")


def read(path: str | Path, reader: Callable[[Connection], T]) -> T | None:
    """`reader` on a read-only connection of its own; None while there is no store, or no tables yet (a
    master still starting). For the lab and tools that watch a running master from outside."""
    try:
        conn = connect(path, readonly=True)
    except StoreError:
        return None
    try:
        return reader(conn)
    except StoreError:  # no such table: the master has not made them yet
        return None
    finally:
        conn.close()


def adhoc_query(path: str | Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """SQL a person wrote, for tests and benchmarks that check what a running master stored; the product
    itself never calls this ([] while there is no store yet)."""
    return read(path, lambda conn: [tuple(r) for r in conn.execute(sql, args).fetchall()]) or []
