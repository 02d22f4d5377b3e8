"""The `silences` table: maintenance windows (`hamaster silence`) that keep alerts quiet."""

from hamaster.master.store.connection import Connection
from hamaster.master.store.where import Where

Silence = tuple[int, str | None, str | None, int, int, str | None]  # id, instance, node, starts_ns, ends_ns, comment


def add(conn: Connection, instance: str | None, node: str | None, starts_ns: int, ends_ns: int, comment: str,
        created_ns: int) -> int:
    (sid,) = conn.execute("INSERT INTO silences (instance, node, starts_ns, ends_ns, comment, created_ns)"
                          " VALUES (?,?,?,?,?,?) RETURNING id",
                          (instance, node, starts_ns, ends_ns, comment, created_ns)).fetchone()
    conn.commit()
    return int(sid)


def listed(conn: Connection, active_at: int | None = None) -> list[Silence]:
    """Every silence, or those still running at `active_at`, by id."""
    w = Where().gt("ends_ns", active_at)
    return conn.execute(f"SELECT id, instance, node, starts_ns, ends_ns, comment FROM silences{w.sql} ORDER BY id",
                        w.args).fetchall()


def in_force(conn: Connection, now: int) -> list[Silence]:
    """The silences that hold at `now` (started, not ended)."""
    return conn.execute("SELECT id, instance, node, starts_ns, ends_ns, comment FROM silences"
                        " WHERE starts_ns <= ? AND ends_ns > ? ORDER BY id", (now, now)).fetchall()


def expire(conn: Connection, silence_id: int, now: int) -> bool:
    """End an active silence now; False if there is no active silence of that id."""
    cur = conn.execute("UPDATE silences SET ends_ns = ? WHERE id = ? AND ends_ns > ?", (now, silence_id, now))
    conn.commit()
    return cur.rowcount == 1
