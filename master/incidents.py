"""Incidents: what the correlator derives from raw transitions, as stored in the `incidents` table.

Kinds and their default severity:

    failover      warning   holder A -> B; data: old_holder, new_holder, gap_ns, cause, old/new priority
    split_brain   critical  two or more MASTERs at once; ended_ns and data.duration_ns once it heals
    no_master     critical  no MASTER for longer than the threshold
    flapping      warning   more than N transitions in a window; data.transitions
    node_silent   warning   a minion's heartbeats stopped
    node_back     info      ... and resumed
    recovered     info      back to exactly one MASTER; data.closes = id of the incident it closes

An incident's identity is its `dedup_key`, built from what caused it (the (minion, seq) of the deciding
event, or the node and time for heartbeats), never from when it was derived: deriving it again after a
restart, from late events or on a second master finds the existing row instead of adding one.
"""

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

KINDS = ("failover", "split_brain", "no_master", "flapping", "node_silent", "node_back", "recovered")
SEVERITIES = ("info", "warning", "critical")
SEVERITY = {"failover": "warning", "split_brain": "critical", "no_master": "critical", "flapping": "warning",
            "node_silent": "warning", "node_back": "info", "recovered": "info"}

_COLUMNS = ("id, dedup_key, kind, instance, severity, started_ns, ended_ns, nodes, summary, data, planned,"
            " job_id, routed_ns")


@dataclass(slots=True)
class Incident:
    kind: str
    instance: str | None
    started_ns: int
    summary: str
    dedup_key: str
    nodes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    severity: str = ""
    ended_ns: int | None = None
    planned: bool = False
    job_id: str | None = None
    routed_ns: int | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if not self.severity:
            self.severity = SEVERITY[self.kind]


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
