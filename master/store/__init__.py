"""The event store: SQLite in WAL mode, on disk, schema versioned; or PostgreSQL (pgstore.py), same schema.

One writer (the master daemon's intake loop) and any number of readers (the CLI, the notify worker).
Exactly-once lives here: events are unique on (minion, seq), so a batch resent after a lost ack is
absorbed, and the master acks a batch only after the transaction that holds it has committed.

`store:` in master.yaml is a path (SQLite) or a postgresql:// URL; callers write SQLite's SQL and get the
same answers from either. On PostgreSQL several masters may share one store: the unique keys keep one copy.

Tables (see SCHEMA): events, minions, incidents, deliveries, delivery_attempts, jobs, silences, meta.
"""

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from hamaster.core.errors import StoreError
from hamaster.core.events import Event, StoredEvent

if TYPE_CHECKING:
    from hamaster.master.store.pgstore import PgConnection

Connection: TypeAlias = "sqlite3.Connection | PgConnection"

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,
    minion    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    node_ns   INTEGER NOT NULL,
    master_ns INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    tag       TEXT    NOT NULL,
    instance  TEXT,
    state     TEXT,
    priority  INTEGER,
    source    TEXT    NOT NULL,
    data      TEXT,                       -- JSON map or NULL
    UNIQUE (minion, seq)
);
CREATE INDEX IF NOT EXISTS events_in_order ON events (node_ns, minion, seq, master_ns);  -- timeline: no sort
CREATE INDEX IF NOT EXISTS events_by_instance ON events (instance, node_ns);
CREATE INDEX IF NOT EXISTS events_by_minion ON events (minion, node_ns);

CREATE TABLE IF NOT EXISTS minions (
    id            TEXT PRIMARY KEY,
    first_seen_ns INTEGER,
    last_seen_ns  INTEGER,
    grains        TEXT,                   -- JSON map reported on connect
    dropped       INTEGER NOT NULL DEFAULT 0  -- frames refused from this minion
);

-- Derived by the correlator: failover, split_brain, no_master, flapping, node_silent, node_back, recovered.
CREATE TABLE IF NOT EXISTS incidents (
    id         INTEGER PRIMARY KEY,
    dedup_key  TEXT UNIQUE,               -- same incident derived twice (late events, two masters) -> one row
    kind       TEXT    NOT NULL,
    instance   TEXT,
    severity   TEXT    NOT NULL,          -- info | warning | critical
    started_ns INTEGER NOT NULL,
    ended_ns   INTEGER,
    nodes      TEXT,                      -- JSON list of minion ids involved
    summary    TEXT    NOT NULL,          -- one line for people
    data       TEXT,                      -- JSON: old/new holder, gap_ns, cause, priorities ...
    planned    INTEGER NOT NULL DEFAULT 0,
    job_id     TEXT,
    routed_ns  INTEGER                   -- set by notify/ once deliveries are made; NULL = still to route
);
CREATE INDEX IF NOT EXISTS incidents_by_time ON incidents (started_ns);

-- One row per (incident, target): the durable outbox of notify/.
CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents (id),
    route       TEXT NOT NULL,
    target      TEXT NOT NULL,            -- apprise URL with secrets masked (privacy=True)
    status      TEXT NOT NULL,            -- pending | sending (claimed) | sent | failed | suppressed
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    title       TEXT,
    body        TEXT,
    created_ns  INTEGER NOT NULL,
    updated_ns  INTEGER NOT NULL,
    next_ns     INTEGER                   -- when to try again (pending only)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_ns);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries (created_ns);

CREATE TABLE IF NOT EXISTS delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    at_ns       INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    error       TEXT
);

CREATE TABLE IF NOT EXISTS jobs (
    jid         TEXT PRIMARY KEY,
    started_ns  INTEGER NOT NULL,
    finished_ns INTEGER,
    targets     TEXT,                     -- JSON list
    test        INTEGER NOT NULL DEFAULT 0,
    summary     TEXT                      -- JSON: per minion succeeded/changed/failed
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (started_ns);

CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY,
    instance   TEXT,
    node       TEXT,
    starts_ns  INTEGER NOT NULL,
    ends_ns    INTEGER NOT NULL,
    comment    TEXT,
    created_ns INTEGER NOT NULL
);
"""

_EVENT_COLUMNS = "id, minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data"


def describe(store: str | Path) -> str:
    """The store for messages and logs: a URL's password masked."""
    parts = urlsplit(str(store))
    if parts.password is None:
        return str(store)
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def connect(path: str | Path, *, readonly: bool = False, synchronous: str = "FULL") -> Connection:
    """Open the store (a path, or a postgresql:// URL), creating and migrating it unless `readonly`."""
    if isinstance(path, str) and "://" in path:
        return _connect_pg(path, readonly)
    path = Path(path)
    try:
        if readonly:
            if not path.exists():
                raise StoreError(f"{path}: no event store here (has the master run?)")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            _migrate(conn, path)
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: {exc}") from None


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.commit()
    elif int(row[0]) > SCHEMA_VERSION:
        raise StoreError(f"{path}: schema version {row[0]} is newer than this hamaster ({SCHEMA_VERSION})")


def _connect_pg(url: str, readonly: bool) -> "PgConnection":
    from hamaster.master import pgstore  # psycopg is an extra, and costs SQLite users nothing

    if not pgstore.is_url(url):
        raise StoreError(f"{describe(url)}: unsupported store URL (expected a path or postgresql://...)")
    conn = pgstore.PgConnection(url, readonly=readonly, id_tables=pgstore.ID_TABLE.findall(SCHEMA))
    try:
        if readonly:
            if not conn.has_table("events"):
                raise StoreError(f"{conn.url}: no event store here (has the master run?)")
            return conn
        version = conn.migrate(pgstore.schema_statements(SCHEMA),
                               ("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)))
        if version is not None and int(version) > SCHEMA_VERSION:
            raise StoreError(f"{conn.url}: schema version {version} is newer than this hamaster ({SCHEMA_VERSION})")
        return conn
    except BaseException:
        conn.close()
        raise


def store_intake(conn: Connection, master_ns: int, hellos: dict[str, str],
                 batches: dict[str, list[Event]]) -> list[StoredEvent]:
    """One drained round in one transaction: minions' greetings (grains JSON) and their events; returns the
    events new to this master. Rows are touched in minion order, so two masters sharing a store lock alike.

    On SQLite the write lock is taken first (BEGIN IMMEDIATE): a deferred transaction that reads before it
    writes keeps a snapshot, and when another connection (the notifier's) commits meanwhile SQLite refuses
    the upgrade at once with "database is locked", busy timeout or not."""
    if isinstance(conn, sqlite3.Connection) and not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    if hellos:
        conn.executemany(
            "INSERT INTO minions (id, first_seen_ns, last_seen_ns, grains) VALUES (?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET last_seen_ns = excluded.last_seen_ns, grains = excluded.grains",
            [(who, master_ns, master_ns, grains) for who, grains in sorted(hellos.items())])
    new = []
    for who, events in sorted(batches.items()):
        new.extend(insert_events(conn, who, master_ns, events))
    conn.commit()
    return new


def insert_events(conn: Connection, minion: str, master_ns: int, events: Iterable[Event]) -> list[StoredEvent]:
    """Store a batch (no commit); return only the events that were new. Duplicates are absorbed.

    New means new to this master: on a shared store (PostgreSQL) that includes events another master
    stored first, so that each master's correlator sees every event its minions sent it."""
    rows = [
        (minion, e.seq, e.node_ns, master_ns, e.kind, e.tag, e.instance, e.state, e.priority, e.source,
         json.dumps(e.data, separators=(",", ":")) if e.data else None)
        for e in events
    ]
    if not isinstance(conn, sqlite3.Connection):  # shared by masters: ids do not grow in commit order
        return [row_to_event(r) for r in conn.insert_events(minion, rows, _EVENT_COLUMNS)]
    before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
    conn.executemany(
        "INSERT OR IGNORE INTO events (minion, seq, node_ns, master_ns, kind, tag, instance, state, priority,"
        " source, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    cur = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id", (before,))
    return [row_to_event(r) for r in cur]


def has_events_before(conn: Connection, minion: str, seq: int) -> bool:
    """Whether `minion` has stored events numbered below `seq` (a new spool after those is a reset spool)."""
    row = conn.execute("SELECT 1 FROM events WHERE minion = ? AND seq < ? LIMIT 1", (minion, seq)).fetchone()
    return row is not None


def seq_conflicts(conn: Connection, minion: str, events: Iterable[Event]) -> list[Event]:
    """Of events the store already holds by (minion, seq), those whose stored content differs: the same seq
    used twice for two events (a spool numbered over an older one), never a resend of the same event."""
    stored = {}
    events = list(events)
    for i in range(0, len(events), 500):
        chunk = [e.seq for e in events[i:i + 500]]
        stored.update((r[2], row_to_event(r).event) for r in conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE minion = ? AND seq IN ({','.join('?' * len(chunk))})",
            (minion, *chunk)))
    return [e for e in events if e.seq in stored and stored[e.seq] != e]


def duplicate_of_sql(conn: Connection) -> str:
    """SQL for the id of the event that the row `events` repeats (its data.duplicate_of), NULL if none."""
    if isinstance(conn, sqlite3.Connection):
        return ("CASE WHEN json_valid(data) THEN (SELECT o.id FROM events o WHERE o.minion = events.minion"
                " AND o.seq = json_extract(events.data, '$.duplicate_of')) END")
    return ("(SELECT o.id FROM events o WHERE o.minion = events.minion"
            " AND o.seq = hamaster_duplicate_of(events.data))")


def row_to_event(r: tuple[Any, ...]) -> StoredEvent:
    data = json.loads(r[11]) if r[11] else {}
    return StoredEvent(r[0], r[1], r[4], Event(r[2], r[3], r[5], r[6], r[7], r[8], r[9], r[10], data))


def query_events(
    conn: Connection,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    minion: str | None = None,
    instance: str | None = None,
    kinds: Iterable[str] | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> Iterator[StoredEvent]:
    """Events in node-time order (then by minion and seq), filtered; streamed, never all in memory."""
    where, args = [], []
    for clause, value in (("node_ns >= ?", since_ns), ("node_ns < ?", until_ns), ("minion = ?", minion),
                          ("instance = ?", instance), ("id > ?", after_id)):
        if value is not None:
            where.append(clause)
            args.append(value)
    if kinds:
        kinds = list(kinds)
        where.append(f"kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    sql = f"SELECT {_EVENT_COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id" if after_id is not None else " ORDER BY node_ns, minion, seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    for r in conn.execute(sql, args):
        yield row_to_event(r)


def current_vrrp_states(conn: Connection) -> dict[str, dict[str, tuple[str, int | None, int]]]:
    """The last known VRRP state of each (minion, instance): {minion: {instance: (state, priority, node_ns)}}."""
    out: dict[str, dict[str, tuple[str, int | None, int]]] = {}
    sql = (
        "SELECT e.minion, e.instance, e.state, e.priority, e.node_ns FROM events e JOIN ("
        "  SELECT minion, instance, MAX(node_ns) AS t FROM events WHERE kind = 'vrrp' GROUP BY minion, instance"
        ") last ON e.minion = last.minion AND e.instance = last.instance AND e.node_ns = last.t"
        " WHERE e.kind = 'vrrp'"
    )
    for minion, instance, state, priority, node_ns in conn.execute(sql):
        out.setdefault(minion, {})[instance] = (state, priority, node_ns)
    return out


def minion_grains(conn: Connection) -> dict[str, dict[str, Any]]:
    """Grains each minion reported on its last connect."""
    return {m: json.loads(g) if g else {} for m, g in conn.execute("SELECT id, grains FROM minions")}
