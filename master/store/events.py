"""The `events` table: intake (exactly once), and the reads of the CLI, the correlator, the timeline and the lab.

Exactly-once lives here: events are unique on (minion, seq), so a batch resent after a lost ack is absorbed,
and the master acks a batch only after the transaction that holds it has committed.
"""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from hamaster.core.events import Event, StoredEvent
from hamaster.master.store import minions
from hamaster.master.store.connection import Connection, Cursor
from hamaster.master.store.dialect import Dialect
from hamaster.master.store.where import Where

COLUMNS = "id, minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data"
_INSERT = ("INSERT INTO events (minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data)"
           " VALUES ")
_ROW = "(?,?,?,?,?,?,?,?,?,?,?)"
_ROWS_PER_STATEMENT = 256  # 2,816 parameters: far below either engine's limit


def store_intake(conn: Connection, master_ns: int, hellos: dict[str, str],
                 batches: dict[str, list[Event]]) -> list[StoredEvent]:
    """One drained round in one transaction: minions' greetings (grains JSON) and their events; returns the
    events new to this master. Rows are touched in minion order, so two masters sharing a store lock alike."""
    conn.begin_write()
    minions.greet(conn, master_ns, hellos)
    new = []
    for who, events in sorted(batches.items()):
        new.extend(insert_events(conn, who, master_ns, events))
    conn.commit()
    return new


def insert_events(conn: Connection, minion: str, master_ns: int, events: Iterable[Event]) -> list[StoredEvent]:
    """Store a batch (no commit); return only the events that were new, in the order they were stored.

    New means new to this master: on a shared store (PostgreSQL) that includes events another master
    stored first and this connection never handed out, so that each master's correlator sees every event
    its minions sent it. Rows go in by seq: one lock order for every master, no deadlock between them."""
    batch = sorted(events, key=lambda e: e.seq)
    stored_id: dict[int, int] = {}  # seq -> id of the rows this statement stored
    for start in range(0, len(batch), _ROWS_PER_STATEMENT):
        chunk = batch[start:start + _ROWS_PER_STATEMENT]
        params: list[Any] = []
        for e in chunk:
            params += (minion, e.seq, e.node_ns, master_ns, e.kind, e.tag, e.instance, e.state, e.priority, e.source,
                       json.dumps(e.data, separators=(",", ":")) if e.data else None)
        sql = (_INSERT + ",".join([_ROW] * len(chunk))
               + " ON CONFLICT (minion, seq) DO NOTHING RETURNING id, seq")
        stored_id.update((seq, id_) for id_, seq in conn.execute(sql, params))
    new: list[StoredEvent] = []
    absorbed: list[Event] = []
    for e in batch:
        id_ = stored_id.pop(e.seq, None)  # pop: a seq twice in one batch is stored once
        if id_ is None:
            absorbed.append(e)
        else:
            new.append(StoredEvent(id_, minion, master_ns, e))
    if conn.dialect.shared:
        new = _not_handed_out(conn, minion, new, absorbed)
    return new


def _not_handed_out(conn: Connection, minion: str, new: list[StoredEvent], absorbed: list[Event]) -> list[StoredEvent]:
    """Add, as stored, the absorbed events that another master stored and this connection never handed out."""
    handed = conn.handed_seq.get(minion, 0)
    later = sorted({e.seq for e in absorbed if e.seq > handed} - {se.event.seq for se in new})
    if later:
        w = Where().eq("minion", minion).any_of("seq", later)
        new = sorted([*new, *(row_to_event(r) for r in conn.execute(f"SELECT {COLUMNS} FROM events{w.sql}", w.args))],
                     key=lambda se: se.id)
    if new:
        conn.handed_seq[minion] = max(handed, *(se.event.seq for se in new))
    return new


def has_events_before(conn: Connection, minion: str, seq: int) -> bool:
    """Whether `minion` has stored events numbered below `seq` (a new spool after those is a reset spool)."""
    row = conn.execute("SELECT 1 FROM events WHERE minion = ? AND seq < ? LIMIT 1", (minion, seq)).fetchone()
    return row is not None


def seq_conflicts(conn: Connection, minion: str, events: Iterable[Event]) -> list[Event]:
    """Of events the store already holds by (minion, seq), those whose stored content differs: the same seq
    used twice for two events (a spool numbered over an older one), never a resend of the same event."""
    batch = list(events)
    stored: dict[int, Event] = {}
    for start in range(0, len(batch), _ROWS_PER_STATEMENT):
        w = Where().eq("minion", minion).any_of("seq", [e.seq for e in batch[start:start + _ROWS_PER_STATEMENT]])
        stored.update((se.event.seq, se.event) for se in map(row_to_event, conn.execute(
            f"SELECT {COLUMNS} FROM events{w.sql}", w.args)))
    return [e for e in batch if e.seq in stored and stored[e.seq] != e]


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
    """Events in node-time order (then by minion and seq), or in id order after `after_id`; streamed."""
    w = (Where().ge("node_ns", since_ns).lt("node_ns", until_ns).eq("minion", minion).eq("instance", instance)
         .gt("id", after_id).any_of("kind", kinds))
    sql = f"SELECT {COLUMNS} FROM events{w.sql}"
    sql += " ORDER BY id" if after_id is not None else " ORDER BY node_ns, minion, seq"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    for r in conn.execute(sql, w.args):
        yield row_to_event(r)


def last_id(conn: Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def last_seq(conn: Connection, minion: str) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE minion = ?", (minion,)).fetchone()[0])


def end_ns(conn: Connection) -> int:
    """Just after the newest node time stored (1 for an empty store)."""
    return int(conn.execute("SELECT COALESCE(MAX(node_ns), 0) + 1 FROM events").fetchone()[0])


def counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(minion, kind, events stored)."""
    return conn.execute("SELECT minion, kind, COUNT(*) FROM events GROUP BY minion, kind").fetchall()


# -- VRRP and beacon state ---------------------------------------------------------------------------------

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


def vrrp_transitions(conn: Connection) -> list[tuple[str, str, int]]:
    """(minion, state, node_ns) of every VRRP transition stored, in node time."""
    return conn.execute("SELECT minion, state, node_ns FROM events WHERE kind = 'vrrp' ORDER BY node_ns").fetchall()


def last_vrrp_by_minion(conn: Connection) -> dict[str, tuple[str, int]]:
    """Each minion's latest VRRP transition, whatever the instance: {minion: (state, node_ns)}."""
    rows = conn.execute(
        "SELECT e.minion, e.state, e.node_ns FROM events e JOIN ("
        "  SELECT minion, MAX(node_ns) AS t FROM events WHERE kind = 'vrrp' GROUP BY minion"
        ") last ON e.minion = last.minion AND e.node_ns = last.t WHERE e.kind = 'vrrp' ORDER BY e.id")
    return {minion: (state, node_ns) for minion, state, node_ns in rows}


def last_vrrp_by_instance(conn: Connection) -> dict[tuple[str, str], tuple[str, int]]:
    """Each minion's latest VRRP transition per instance: {(minion, instance): (state, node_ns)}."""
    rows = conn.execute(
        "SELECT e.minion, e.instance, e.state, e.node_ns FROM events e JOIN ("
        "  SELECT minion, instance, MAX(node_ns) AS t FROM events WHERE kind = 'vrrp' GROUP BY minion, instance"
        ") last ON e.minion = last.minion AND e.instance = last.instance AND e.node_ns = last.t"
        " WHERE e.kind = 'vrrp' ORDER BY e.id")
    return {(minion, instance): (state, node_ns) for minion, instance, state, node_ns in rows}


def vip_beacons(conn: Connection) -> list[tuple[str, str]]:
    """(minion, tag) of the vip beacon's events (beacon/vip/<address>/held|lost), in node time."""
    return conn.execute("SELECT minion, tag FROM events WHERE kind = 'beacon' AND tag LIKE ? ORDER BY node_ns",
                        ("beacon/vip/%",)).fetchall()


def priority_beacons(conn: Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """(minion, instance) -> (priority, node_ns) of the last beacon/priority/<instance>/<n> (keepalived's FIFO
    priority lines, minion/fifo.py)."""
    rows = conn.execute("SELECT minion, instance, priority, node_ns FROM events WHERE kind = 'beacon' AND tag LIKE ?"
                        " ORDER BY node_ns", ("beacon/priority/%",)).fetchall()
    return {(m, i): (p, t) for m, i, p, t in rows if i and isinstance(p, int)}


def observations(conn: Connection, minion: str, tag_prefix: str = "") -> list[tuple[int, str]]:
    """(node_ns, state) of a minion's events in seq order, those whose tag starts with `tag_prefix`: the
    master's probe (`@probe`) says who answered (its tags: beacon/probe/<vip>/<who>)."""
    rows = conn.execute("SELECT node_ns, state, tag FROM events WHERE minion = ? ORDER BY seq", (minion,))
    return [(ts, state) for ts, state, tag in rows if tag.startswith(tag_prefix)]


# -- the timeline's reads ------------------------------------------------------------------------------------

# Plain tuples, read in index order (events_in_order): building a StoredEvent per row would cost a third of a
# one-day window over a million events. Last, for a second report, the id of the event it repeats: found on
# UNIQUE (minion, seq), so Python parses no JSON and keys nothing by (minion, seq).
TIMELINE_COLUMNS = "id, minion, node_ns, master_ns, kind, tag, instance, state, priority, source"


def timeline_rows(conn: Connection, *, since_ns: int | None, until_ns: int | None, nodes: Iterable[str] = (),
                  instance: str | None = None, kinds: Iterable[str] | None = None) -> Cursor:
    """(TIMELINE_COLUMNS..., duplicate_of_id) in node-time order (then minion, seq); `kinds` None: every kind."""
    return conn.execute(*timeline_sql(conn.dialect, since_ns=since_ns, until_ns=until_ns, nodes=nodes,
                                      instance=instance, kinds=kinds))


def timeline_sql(dialect: Dialect, *, since_ns: int | None, until_ns: int | None, nodes: Iterable[str] = (),
                 instance: str | None = None, kinds: Iterable[str] | None = None) -> tuple[str, list[Any]]:
    """The statement timeline_rows runs, and its arguments (bench/timeline.py shows its query plan)."""
    w = Where().ge("node_ns", since_ns).lt("node_ns", until_ns).any_of("minion", nodes).eq("instance", instance)
    w.any_of("kind", kinds)
    return (f"SELECT {TIMELINE_COLUMNS}, {dialect.duplicate_of} FROM events{w.sql} ORDER BY node_ns, minion, seq",
            w.args)


def measured_clock_offset(conn: Connection, minion: str, since_ns: int | None, until_ns: int | None) -> int | None:
    """node - master as the master measured it from the heartbeats (an event's data.clock_offset_ns, set for a
    clock over a second off: master/correlate/clocks.py), the latest with node time in [since, until)."""
    w = Where().ge("node_ns", since_ns).lt("node_ns", until_ns).eq("minion", minion)
    w.add("data LIKE ?", "%clock_offset_ns%")
    row = conn.execute(f"SELECT data FROM events{w.sql} ORDER BY node_ns DESC LIMIT 1", w.args).fetchone()
    try:
        return int(json.loads(row[0])["clock_offset_ns"]) if row else None
    except (ValueError, KeyError, TypeError):
        return None


def state_before(conn: Connection, minion: str, instance: str, before_ns: int) -> str | None:
    """The node's last state of the instance before `before_ns` (None: never seen)."""
    row = conn.execute(
        "SELECT state FROM events WHERE instance = ? AND node_ns < ? AND minion = ? AND kind = 'vrrp'"
        " ORDER BY node_ns DESC LIMIT 1", (instance, before_ns, minion)).fetchone()
    return row[0] if row else None


def smallest_delays(conn: Connection, since_ns: int | None, until_ns: int | None) -> dict[str, int]:
    """Per minion, the smallest master_ns - node_ns of its events with node time in [since, until)."""
    w = Where().ge("node_ns", since_ns).lt("node_ns", until_ns)
    return dict(conn.execute(f"SELECT minion, MIN(master_ns - node_ns) FROM events{w.sql} GROUP BY minion", w.args))
