"""The `drains` and `drills` tables, and the reads `hamaster drain`, `drill` and `check` make of the events.

    record_drain(conn, DrainMark("node1", True, at_ns, jid, ("VI_1",)))   drained_now(conn) -> {"node1": mark}
    insert_drill(conn, Drill(...)) -> id               drill_rows(conn, since, until)
    probe_answers(conn, vip, since_ns)                 who answered the master's probe of one VIP, from when
    keepalived_configs(conn)                           each minion's latest minion/keepalived/config data
    deliveries_of(conn, incident_ids)                  the alerts a drill's incidents made (or would have)
    oldest_vrrp(conn), last_vrrp_at(conn, m, i, prio)  how far back the timeline goes; a check script's last failure
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hamaster.master.store.connection import Connection
from hamaster.master.store.where import Where


@dataclass(frozen=True)
class DrainMark:
    minion: str
    drained: bool
    at_ns: int
    jid: str | None
    held: tuple[str, ...]  # the instances it was MASTER of when drained (undrain waits for them to come back)


def record_drain(conn: Connection, mark: DrainMark) -> None:
    conn.execute("INSERT INTO drains (minion, drained, at_ns, jid, held) VALUES (?,?,?,?,?)",
                 (mark.minion, int(mark.drained), mark.at_ns, mark.jid, json.dumps(list(mark.held))))
    conn.commit()


def _mark(row: tuple[Any, ...]) -> DrainMark:
    minion, drained, at, jid, held = row
    return DrainMark(minion, bool(drained), int(at), jid, tuple(json.loads(held)) if held else ())


def drained_now(conn: Connection) -> dict[str, DrainMark]:
    """Each minion's latest drain mark (a minion never drained is absent)."""
    rows = conn.execute(
        "SELECT d.minion, d.drained, d.at_ns, d.jid, d.held FROM drains d JOIN ("
        "  SELECT minion, MAX(id) AS last FROM drains GROUP BY minion) l ON d.id = l.last").fetchall()
    return {r[0]: _mark(r) for r in rows}


def drain_rows(conn: Connection, since_ns: int | None, until_ns: int | None) -> list[DrainMark]:
    """The marks made in the window, in time order."""
    w = Where().ge("at_ns", since_ns).lt("at_ns", until_ns)
    return [_mark(r) for r in conn.execute(f"SELECT minion, drained, at_ns, jid, held FROM drains{w.sql}"
                                           " ORDER BY at_ns, id", w.args).fetchall()]


@dataclass(frozen=True)
class Drill:
    started_ns: int
    ended_ns: int
    instance: str | None
    holder: str | None
    peer: str | None
    ok: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def insert_drill(conn: Connection, d: Drill) -> int:
    (did,) = conn.execute(
        "INSERT INTO drills (started_ns, ended_ns, instance, holder, peer, ok, summary, data)"
        " VALUES (?,?,?,?,?,?,?,?) RETURNING id",
        (d.started_ns, d.ended_ns, d.instance, d.holder, d.peer, int(d.ok), d.summary,
         json.dumps(d.data, default=str))).fetchone()
    conn.commit()
    return int(did)


def drill_rows(conn: Connection, since_ns: int | None, until_ns: int | None) -> list[Drill]:
    """The drills started in the window, in time order."""
    w = Where().ge("started_ns", since_ns).lt("started_ns", until_ns)
    rows = conn.execute("SELECT id, started_ns, ended_ns, instance, holder, peer, ok, summary, data FROM drills"
                        f"{w.sql} ORDER BY started_ns, id", w.args).fetchall()
    return [Drill(int(s), int(e), inst, h, p, bool(ok), summary, json.loads(data) if data else {}, int(i))
            for i, s, e, inst, h, p, ok, summary, data in rows]


def last_drill(conn: Connection) -> Drill | None:
    found = drill_rows(conn, None, None)
    return found[-1] if found else None


def probe_answers(conn: Connection, vip: str, since_ns: int | None = None) -> list[tuple[int, str | None]]:
    """(node_ns, node or None for nobody) of the master's probe of `vip` (events of `@probe`), in seq order."""
    w = Where().eq("minion", "@probe").add("tag LIKE ?", f"beacon/probe/{vip}/%").ge("node_ns", since_ns)
    rows = conn.execute(f"SELECT node_ns, state FROM events{w.sql} ORDER BY seq", w.args).fetchall()
    return [(int(ts), None if state == "nobody" else state) for ts, state in rows]


def keepalived_configs(conn: Connection) -> dict[str, dict[str, Any]]:
    """Each minion's latest `minion/keepalived/config` event data (path, sha256, instances, sync_groups)."""
    rows = conn.execute(
        "SELECT e.minion, e.data FROM events e JOIN ("
        "  SELECT minion, MAX(id) AS last FROM events WHERE tag = 'minion/keepalived/config' GROUP BY minion"
        ") l ON e.id = l.last").fetchall()
    out = {}
    for minion, data in rows:
        try:
            out[minion] = json.loads(data) if data else {}
        except ValueError:
            continue
    return out


def vrrp_since(conn: Connection, since_ns: int) -> list[tuple[str, str | None, str, int | None, int]]:
    """(minion, instance, state, priority, node_ns) of the VRRP transitions from `since_ns`, in node time."""
    return conn.execute("SELECT minion, instance, state, priority, node_ns FROM events WHERE kind = 'vrrp'"
                        " AND node_ns >= ? ORDER BY node_ns, minion, seq", (since_ns,)).fetchall()


def incidents_since(conn: Connection, since_ns: int) -> list[tuple[Any, ...]]:
    """(id, kind, severity, started_ns, summary, planned) of the incidents started from `since_ns`."""
    return conn.execute("SELECT id, kind, severity, started_ns, summary, planned FROM incidents"
                        " WHERE started_ns >= ? ORDER BY started_ns, id", (since_ns,)).fetchall()


def deliveries_of(conn: Connection, incident_ids: Iterable[int]) -> list[tuple[Any, ...]]:
    """(incident_id, route, target, status, last_error, title) of the deliveries of those incidents."""
    ids = list(incident_ids)
    if not ids:
        return []
    w = Where().any_of("incident_id", ids)
    return conn.execute(f"SELECT incident_id, route, target, status, last_error, title FROM deliveries{w.sql}"
                        " ORDER BY id", w.args).fetchall()


def oldest_vrrp(conn: Connection) -> int | None:
    """The node time of the first VRRP transition stored: how far back the timeline goes."""
    (first,) = conn.execute("SELECT MIN(node_ns) FROM events WHERE kind = 'vrrp'").fetchone()
    return None if first is None else int(first)


def last_vrrp_at(conn: Connection, minion: str, instance: str, priority: int | None) -> int | None:
    """When `minion` last went FAULT in `instance`, or made a transition at `priority` (a check script's
    failure: `hamaster check`'s proof that the script can fail)."""
    (last,) = conn.execute("SELECT MAX(node_ns) FROM events WHERE kind = 'vrrp' AND minion = ? AND instance = ?"
                           " AND (state = 'FAULT' OR priority = ?)", (minion, instance, priority)).fetchone()
    return None if last is None else int(last)
