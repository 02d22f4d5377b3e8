"""The reads of the web dashboard (master/web): the latest word of every node, cheaply, then what is new.

The dashboard keeps the site's state in memory (master/web/state.py): it starts from `latest_*` (one
grouped scan each, at start-up) and then folds in `events_after` every few hundred ms, an indexed range
read of the few events that arrived since. Incidents are few: read whole each time (`incidents_shown`).
"""

import json
from typing import Any

from hamaster.core.incidents import Incident
from hamaster.master.store import incidents
from hamaster.master.store.connection import Connection
from hamaster.master.store.incidents import _COLUMNS as INCIDENT_COLUMNS
from hamaster.master.store.where import Where

# the dashboard's columns of an event: what it folds (no seq, no source)
_COLUMNS = "id, minion, node_ns, master_ns, kind, tag, instance, state, priority, data"
# the kinds the dashboard follows: transitions, beacons (keepalived, nginx, vip, probe) and the minion's own
# (its keepalived.conf facts: minion/keepalived/config)
FOLLOWED = ("vrrp", "beacon", "minion")

Row = tuple[int, str, int, int, str, str, str | None, str | None, int | None, str | None]


def latest_vrrp(conn: Connection) -> list[Row]:
    """The last VRRP event of each (minion, instance), in id order."""
    return conn.execute(
        f"SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))} FROM events e JOIN ("
        "  SELECT minion, instance, MAX(node_ns) AS t FROM events WHERE kind = 'vrrp' GROUP BY minion, instance"
        ") last ON e.minion = last.minion AND e.instance = last.instance AND e.node_ns = last.t"
        " WHERE e.kind = 'vrrp' ORDER BY e.id").fetchall()


def latest_by_tag(conn: Connection) -> list[Row]:
    """The last beacon and minion event of each (minion, tag), in id order: a beacon's tag ends in its value
    (beacon/nginx/up, beacon/nginx/down), so the caller keeps the latest of each family."""
    return conn.execute(
        f"SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))} FROM events e JOIN ("
        "  SELECT minion, tag, MAX(id) AS last_id FROM events WHERE kind IN ('beacon', 'minion')"
        "  GROUP BY minion, tag) last ON e.id = last.last_id ORDER BY e.id").fetchall()


def events_after(conn: Connection, after_id: int, *, since_master_ns: int | None = None,
                 limit: int = 20_000) -> list[Row]:
    """Followed events stored after `after_id`, in id order. On a shared store (PostgreSQL, several masters)
    ids do not grow in commit order: give `since_master_ns` too, and the caller skips the ids it has."""
    w = Where().any_of("kind", FOLLOWED)
    if since_master_ns is not None:
        w.add("(id > ? OR master_ns >= ?)", after_id, since_master_ns)
    else:
        w.gt("id", after_id)
    return conn.execute(f"SELECT {_COLUMNS} FROM events{w.sql} ORDER BY id LIMIT {int(limit)}", w.args).fetchall()


def last_event_id(conn: Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


def incident_marks(conn: Connection) -> tuple[int, int]:
    """(highest incident id, incidents closed): either moves when an incident is stored or closed."""
    top, closed = conn.execute("SELECT COALESCE(MAX(id), 0), COUNT(ended_ns) FROM incidents").fetchone()
    return int(top), int(closed)


def incidents_shown(conn: Connection, recent_since_ns: int, open_kinds: tuple[str, ...]) -> list[Incident]:
    """Incidents still open (ended_ns NULL, of a kind that lasts) and those started since `recent_since_ns`,
    newest first."""
    kinds = ",".join("?" * len(open_kinds))
    sql = (f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE started_ns >= ?"
           f" OR (ended_ns IS NULL AND kind IN ({kinds})) ORDER BY started_ns DESC, id DESC LIMIT 200")
    return [incidents.from_row(r) for r in conn.execute(sql, (recent_since_ns, *open_kinds))]


def liveness(conn: Connection) -> dict[str, int | None]:
    """{minion: last_seen_ns} as the master last wrote it (every 2 s while it runs)."""
    return {m: seen for m, seen in conn.execute("SELECT id, last_seen_ns FROM minions")}


def data_of(row: Row) -> dict[str, Any]:
    """An event row's data map ({} when absent or not a map)."""
    try:
        data = json.loads(row[9]) if row[9] else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
