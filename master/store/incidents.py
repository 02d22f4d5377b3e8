"""The `incidents` table: insert (idempotent on dedup_key), close, look up and query."""

import json
from typing import Any

from hamaster.core.incidents import Incident
from hamaster.master.store.connection import Connection, Cursor
from hamaster.master.store.where import Where

_COLUMNS = ("id, dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned,"
            " job_id, routed_ns")


def insert(conn: Connection, inc: Incident) -> int | None:
    """Store an incident unless its dedup_key is known; return its new id, or None if it was a repeat."""
    rows = conn.execute(
        "INSERT INTO incidents (dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary, data,"
        " planned, job_id, routed_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (dedup_key) DO NOTHING"
        " RETURNING id",
        (inc.dedup_key, inc.kind, inc.instance, inc.severity, inc.started_ns, inc.ended_ns,
         json.dumps(inc.nodes), inc.summary, json.dumps(inc.data, default=str), int(inc.planned), inc.job_id,
         inc.routed_ns),
    ).fetchall()
    if not rows:
        return None
    inc.id = int(rows[0][0])
    return inc.id


def close(conn: Connection, dedup_key: str, ended_ns: int, **data: Any) -> int | None:
    """Set the end of an open incident and merge `data` into it; return its id (None if unknown or closed)."""
    row = conn.execute("SELECT id, data FROM incidents WHERE dedup_key = ? AND ended_ns IS NULL",
                       (dedup_key,)).fetchone()
    if row is None:
        return None
    merged = {**(json.loads(row[1]) if row[1] else {}), **data}
    conn.execute("UPDATE incidents SET ended_ns = ?, data = ? WHERE id = ?",
                 (ended_ns, json.dumps(merged, default=str), row[0]))
    return int(row[0])


def id_of(conn: Connection, dedup_key: str) -> int | None:
    row = conn.execute("SELECT id FROM incidents WHERE dedup_key = ?", (dedup_key,)).fetchone()
    return None if row is None else int(row[0])


def severity_of(conn: Connection, dedup_key: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT id, severity FROM incidents WHERE dedup_key = ?", (dedup_key,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def from_row(r: tuple[Any, ...]) -> Incident:
    return Incident(id=r[0], dedup_key=r[1], kind=r[2], instance=r[3], severity=r[4], started_ns=r[5],
                    ended_ns=r[6], nodes=json.loads(r[7]) if r[7] else [], summary=r[8],
                    data=json.loads(r[9]) if r[9] else {}, planned=bool(r[10]), job_id=r[11], routed_ns=r[12])


def still_open(conn: Connection, kinds: list[str]) -> list[Incident]:
    """Incidents of `kinds` not ended yet, in time order (`hamaster check`: stale VIPs, clock offsets)."""
    w = Where().add("ended_ns IS NULL").any_of("kind", kinds)
    return [from_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM incidents{w.sql} ORDER BY started_ns, id",
                                              w.args)]


def get(conn: Connection, incident_id: int) -> Incident | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return None if r is None else from_row(r)


def query(conn: Connection, *, kind: str | None = None, instance: str | None = None,
          unrouted: bool = False, since_ns: int | None = None) -> list[Incident]:
    w = Where().eq("kind", kind).eq("instance", instance).ge("started_ns", since_ns)
    if unrouted:
        w.add("routed_ns IS NULL")
    return [from_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM incidents{w.sql} ORDER BY started_ns, id",
                                              w.args)]


def counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(kind, severity, incidents)."""
    return conn.execute("SELECT kind, severity, COUNT(*) FROM incidents GROUP BY kind, severity").fetchall()


def timeline_rows(conn: Connection, since_ns: int | None, until_ns: int | None) -> Cursor:
    """(id, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned) started in the
    window, in order."""
    w = Where().ge("started_ns", since_ns).lt("started_ns", until_ns)
    return conn.execute("SELECT id, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned"
                        f" FROM incidents{w.sql} ORDER BY started_ns, id", w.args)
