"""The store's tables, written once for both engines (dialect.postgres_schema maps the types for PostgreSQL).

    meta               schema_version
    events             unique on (minion, seq): a batch resent after a lost ack is absorbed
    minions            greeted (grains), last seen, frames dropped
    minion_clocks      each minion's clock offset as the correlator estimated it (kept across restarts)
    incidents          derived by the correlator, unique on dedup_key; routed_ns set by notify's outbox
    deliveries         notify's durable outbox: one row per (incident, route, target); a claim names its master
    masters            the masters whose notifier runs, with the beat that keeps their claims (outbox.py)
    delivery_attempts  every try of a delivery
    jobs               `hamaster apply` runs and the reactor's state runs
    silences           maintenance windows (`hamaster silence`)
    drains, drills     `hamaster drain`/`undrain` marks and `hamaster drill` results (drills.py)
"""

from typing import TYPE_CHECKING

from hamaster.core.errors import StoreError

if TYPE_CHECKING:
    from hamaster.master.store.connection import Connection

SCHEMA_VERSION = 2
# what a store of the version before needs to reach each version (a new store is made at SCHEMA_VERSION)
MIGRATIONS: dict[int, list[str]] = {
    2: ["ALTER TABLE deliveries ADD COLUMN claimed_by TEXT"],
}

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
    next_ns     INTEGER,                  -- when to try again (pending only)
    claimed_by  TEXT                      -- the masters.id sending it (sending only; NULL: a claim of before v2)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_ns);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries (created_ns);

-- A master's notifier beats here while it runs; one whose beat is older than outbox.LEASE_S is dead, and
-- the deliveries it claimed go to whoever sends next.
CREATE TABLE IF NOT EXISTS masters (
    id         TEXT PRIMARY KEY,          -- host:pid:random, one per run
    started_ns INTEGER NOT NULL,
    beat_ns    INTEGER NOT NULL
);

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

-- its own table (not columns of minions): a store made before it gains it by CREATE TABLE IF NOT EXISTS
CREATE TABLE IF NOT EXISTS minion_clocks (
    minion     TEXT PRIMARY KEY,
    offset_ns  INTEGER NOT NULL,          -- node clock minus master clock
    delay_ns   INTEGER NOT NULL,          -- the round trip of the sample it came from
    sampled_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS silences (
    id         INTEGER PRIMARY KEY,
    instance   TEXT,
    node       TEXT,
    starts_ns  INTEGER NOT NULL,
    ends_ns    INTEGER NOT NULL,
    comment    TEXT,
    created_ns INTEGER NOT NULL
);

-- `hamaster drain` / `undrain`: one row per mark; a minion's latest row says whether it is drained now.
CREATE TABLE IF NOT EXISTS drains (
    id      INTEGER PRIMARY KEY,
    minion  TEXT    NOT NULL,
    drained INTEGER NOT NULL,
    at_ns   INTEGER NOT NULL,
    jid     TEXT,                         -- the job that wrote the node's track file
    held    TEXT                          -- JSON list: the instances it was MASTER of when drained
);
CREATE INDEX IF NOT EXISTS drains_by_time ON drains (at_ns);

-- `hamaster drill`: when we last proved failover works, and how fast it was.
CREATE TABLE IF NOT EXISTS drills (
    id         INTEGER PRIMARY KEY,
    started_ns INTEGER NOT NULL,
    ended_ns   INTEGER NOT NULL,
    instance   TEXT,
    holder     TEXT,                      -- who held the VIP before (drained)
    peer       TEXT,                      -- who took it over
    ok         INTEGER NOT NULL,
    summary    TEXT    NOT NULL,          -- one line for people
    data       TEXT                       -- JSON: figures (outage_ms, vrrp_gap_ms, ...), steps, alerts
);
CREATE INDEX IF NOT EXISTS drills_by_time ON drills (started_ns);
"""


def check_version(conn: "Connection", where: str) -> None:
    """Record the schema version in a new store; refuse a store made by a newer hamaster; migrate an older one
    (commits). The version moves by one conditional UPDATE: of two masters starting at once on one store, the
    one that wins it runs the migration in the same transaction, the other finds it done."""
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
                 (str(SCHEMA_VERSION),))
    conn.commit()
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if int(version) > SCHEMA_VERSION:
        raise StoreError(f"{where}: schema version {version} is newer than this hamaster ({SCHEMA_VERSION})")
    for target in range(int(version) + 1, SCHEMA_VERSION + 1):
        moved = conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version' AND value = ?",
                             (str(target), str(target - 1)))
        if moved.rowcount == 1:
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
        conn.commit()
