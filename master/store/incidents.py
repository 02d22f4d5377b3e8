"""The `incidents` table: insert (idempotent on dedup_key), close, look up and query."""

import json
import sqlite3
from typing import Any

from hamaster.core.incidents import Incident

_COLUMNS = ("id, dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned,"
            " job_id, routed_ns")


def insert(conn: sqlite3.Connection, inc: Incident) -> int | None:
    """Store an incident unless its dedup_key is known; return its new id, or None if it was a repeat."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO incidents (dedup_key, kind, instance, severity, started_ns, ended_ns, nodes,"
        " summary, data, planned, job_id, routed_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (inc.dedup_key, inc.kind, inc.instance, inc.severity, inc.started_ns, inc.ended_ns,
         json.dumps(inc.nodes), inc.summary, json.dumps(inc.data, default=str), int(inc.planned), inc.job_id,
         inc.routed_ns),
    )
    if not cur.rowcount:
        return None
    inc.id = cur.lastrowid
    return inc.id


def close(conn: sqlite3.Connection, dedup_key: str, ended_ns: int, **data: Any) -> int | None:
    """Set the end of an open incident and merge `data` into it; return its id (None if unknown or closed)."""
    row = conn.execute("SELECT id, data FROM incidents WHERE dedup_key = ? AND ended_ns IS NULL",
                       (dedup_key,)).fetchone()
    if row is None:
        return None
    merged = {**(json.loads(row[1]) if row[1] else {}), **data}
    conn.execute("UPDATE incidents SET ended_ns = ?, data = ? WHERE id = ?",
                 (ended_ns, json.dumps(merged, default=str), row[0]))
    return int(row[0])


def id_of(conn: sqlite3.Connection, dedup_key: str) -> int | None:
    row = conn.execute("SELECT id FROM incidents WHERE dedup_key = ?", (dedup_key,)).fetchone()
    return None if row is None else int(row[0])


def severity_of(conn: sqlite3.Connection, dedup_key: str) -> tuple[int, str] | None:
    row = conn.execute("SELECT id, severity FROM incidents WHERE dedup_key = ?", (dedup_key,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _from_row(r: tuple[Any, ...]) -> Incident:
    return Incident(id=r[0], dedup_key=r[1], kind=r[2], instance=r[3], severity=r[4], started_ns=r[5],
                    ended_ns=r[6], nodes=json.loads(r[7]) if r[7] else [], summary=r[8],
                    data=json.loads(r[9]) if r[9] else {}, planned=bool(r[10]), job_id=r[11], routed_ns=r[12])


def get(conn: sqlite3.Connection, incident_id: int) -> Incident | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return None if r is None else _from_row(r)


def query(conn: sqlite3.Connection, *, kind: str | None = None, instance: str | None = None,
          unrouted: bool = False, since_ns: int | None = None) -> list[Incident]:
    where, args = [], []
    for clause, value in (("kind = ?", kind), ("instance = ?", instance), ("started_ns >= ?", since_ns)):
        if value is not None:
            where.append(clause)
            args.append(value)
    if unrouted:
        where.append("routed_ns IS NULL")
    sql = f"SELECT {_COLUMNS} FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
    return [_from_row(r) for r in conn.execute(sql + " ORDER BY started_ns, id", args)]
