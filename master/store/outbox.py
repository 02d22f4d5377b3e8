"""notify's outbox on the store: the `deliveries` and `delivery_attempts` tables, and the reads of incidents
and silences that routing needs. `OutboxStore` implements hamaster.notify.outbox.OutboxStore.

Claims are single conditional UPDATEs that only one of several masters can win (see notify/outbox.py), and
each names its owner: the run of a master (`masters.id`, host:pid:random) whose notifier beats in `masters`
on every round (at least once a second). A claim whose owner's beat is older than LEASE_S is the claim of a
dead master, and the next master that looks for due deliveries takes it back: a surviving master within
seconds, never while its owner lives. The beats are compared with the reader's clock: masters that share a
store must agree on the time within a few seconds (NTP). A claim without an owner (made before schema
version 2) is taken back after notify's CLAIM_TIMEOUT_S, as before. A SQLite store is one master's: every
claim in it is this run's, or a dead run's taken back at start (take_back_claims), so it needs no beats (and
an idle master writes nothing to a full disk).
"""

import json
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hamaster.core.errors import StoreError
from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
from hamaster.master.store import incidents, silences
from hamaster.master.store.connection import Connection, Cursor, connect
from hamaster.master.store.where import Where

# the oldest unfinished delivery of each target; while it is in flight (`sending`) the target waits
_HEADS = "SELECT MIN(id) FROM deliveries WHERE status IN ('pending', 'sending') GROUP BY target"
S = 1_000_000_000
LEASE_S = 5  # a master's notifier beats every round (at most 1 s apart): 5 s of silence is a dead master
FORGET_S = 24 * 3600  # a dead master's row is removed after this (its claims went back long before)


def instance_id() -> str:
    """A name for this run of a master, unique among the masters of a store: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class OutboxStore:
    def __init__(self, conn: Connection, owner: str | None = None) -> None:
        self.conn = conn
        self.owner = owner or instance_id()

    def incident(self, incident_id: int) -> Incident | None:
        return incidents.get(self.conn, incident_id)

    def routes_delivered(self, incident_id: int) -> set[str]:
        return {r for (r,) in self.conn.execute(
            "SELECT DISTINCT route FROM deliveries WHERE incident_id = ? AND status != 'suppressed'", (incident_id,))}

    def silences_in_force(self, now: int) -> list[tuple[int, str | None, str | None, int, str | None]]:
        return [(sid, instance, node, ends, comment)
                for sid, instance, node, _starts, ends, comment in silences.in_force(self.conn, now)]

    def open_flapping(self, instance: str, other_than: int | None) -> int | None:
        w = Where().add("kind = 'flapping' AND ended_ns IS NULL").eq("instance", instance)
        if other_than is not None:
            w.add("id != ?", other_than)
        row = self.conn.execute(f"SELECT id FROM incidents{w.sql} ORDER BY id", w.args).fetchone()
        return None if row is None else int(row[0])

    def incidents_alerted_since(self, route: str, since_ns: int) -> int:
        (count,) = self.conn.execute("SELECT COUNT(DISTINCT incident_id) FROM deliveries WHERE route = ?"
                                     " AND created_ns > ? AND status != 'suppressed'", (route, since_ns)).fetchone()
        return int(count)

    def failovers_since(self, since_ns: int) -> list[tuple[int, dict[str, Any]]]:
        return [(fid, json.loads(data or "{}")) for fid, data in self.conn.execute(
            "SELECT id, data FROM incidents WHERE kind = 'failover' AND started_ns >= ? ORDER BY id", (since_ns,))]

    def last_liveness(self, node: str) -> str | None:
        row = self.conn.execute(
            "SELECT kind FROM incidents WHERE kind IN ('node_silent', 'node_back') AND nodes = ?"
            " ORDER BY started_ns DESC, id DESC LIMIT 1", (json.dumps([node]),)).fetchone()
        return None if row is None else str(row[0])

    def claim_routing(self, incident_id: int, now: int) -> bool:
        cur = self.conn.execute("UPDATE incidents SET routed_ns = ? WHERE id = ? AND routed_ns IS NULL",
                                (now, incident_id))
        return cur.rowcount == 1

    def add_deliveries(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            "INSERT INTO deliveries (incident_id, route, target, status, last_error, title, body, created_ns,"
            " updated_ns, next_ns) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        self.conn.commit()

    def abandon(self) -> None:
        self.conn.rollback()

    def take_unrouted(self, older_ns: int) -> list[int]:
        self.conn.execute("UPDATE incidents SET routed_ns = started_ns WHERE routed_ns IS NULL AND started_ns < ?",
                          (older_ns,))
        self.conn.commit()
        return [i for (i,) in self.conn.execute("SELECT id FROM incidents WHERE routed_ns IS NULL ORDER BY id")]

    def beat(self, now: int) -> None:
        if not self.conn.dialect.shared:
            return
        self.conn.execute("DELETE FROM masters WHERE beat_ns < ?", (now - FORGET_S * S,))  # long dead
        self.conn.execute("INSERT INTO masters (id, started_ns, beat_ns) VALUES (?, ?, ?)"
                          " ON CONFLICT (id) DO UPDATE SET beat_ns = excluded.beat_ns", (self.owner, now, now))
        self.conn.commit()

    def take_back_lost_claims(self, now: int, unowned_before_ns: int) -> int:
        if not self.conn.dialect.shared:
            cur = self.conn.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'"
                                    " AND claimed_by IS NULL AND updated_ns < ?", (unowned_before_ns,))
            self.conn.commit()
            return cur.rowcount
        cur = self.conn.execute(
            "UPDATE deliveries SET status = 'pending', claimed_by = NULL WHERE status = 'sending' AND ("
            " (claimed_by IS NULL AND updated_ns < ?)"
            " OR (claimed_by IS NOT NULL AND claimed_by NOT IN (SELECT id FROM masters WHERE beat_ns >= ?)))",
            (unowned_before_ns, now - LEASE_S * S))
        self.conn.commit()
        return cur.rowcount

    def due(self, now: int) -> list[tuple[int, int, str, str | None, str | None, int, str]]:
        return self.conn.execute(
            "SELECT d.id, d.incident_id, d.target, d.title, d.body, d.attempts, i.severity FROM deliveries d"
            f" JOIN incidents i ON i.id = d.incident_id WHERE d.id IN ({_HEADS}) AND d.status = 'pending'"
            " AND d.next_ns <= ?", (now,)).fetchall()

    def claim_delivery(self, delivery_id: int, now: int) -> bool:
        cur = self.conn.execute("UPDATE deliveries SET status = 'sending', updated_ns = ?, claimed_by = ?"
                                " WHERE id = ? AND status = 'pending'", (now, self.owner, delivery_id))
        self.conn.commit()
        return cur.rowcount == 1

    def next_due_ns(self) -> int | None:
        (ns,) = self.conn.execute(f"SELECT MIN(next_ns) FROM deliveries WHERE id IN ({_HEADS})"
                                  " AND status = 'pending'").fetchone()
        return None if ns is None else int(ns)

    def record_attempt(self, delivery_id: int, ok: bool, error: str | None, now: int,
                       status: Callable[[int], tuple[str, int | None]]) -> str:
        (attempts,) = self.conn.execute("SELECT attempts FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        attempts += 1
        new_status, next_ns = status(attempts)
        self.conn.execute("INSERT INTO delivery_attempts (delivery_id, at_ns, ok, error) VALUES (?,?,?,?)",
                          (delivery_id, now, int(ok), error))
        self.conn.execute("UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, updated_ns = ?,"
                          " next_ns = ?, claimed_by = NULL WHERE id = ?",
                          (new_status, attempts, error, now, next_ns, delivery_id))
        self.conn.commit()
        return new_status

    def close(self) -> None:
        """The notifier stops: what it still holds (a send abandoned in a hung service) is pending again at
        once, and this run is no longer among the masters."""
        try:
            self.conn.rollback()
            self.conn.execute("UPDATE deliveries SET status = 'pending', claimed_by = NULL"
                              " WHERE status = 'sending' AND claimed_by = ?", (self.owner,))
            self.conn.execute("DELETE FROM masters WHERE id = ?", (self.owner,))
            self.conn.commit()
        except StoreError:  # a full or gone store: the lease runs out by itself
            pass
        finally:
            self.conn.close()


def open_outbox(path: str | Path) -> OutboxStore:
    """The outbox on its own connection to the store (the notifier's worker thread opens one), as a new run."""
    return OutboxStore(connect(path))


def take_back_claims(conn: Connection) -> int:
    """At a master's start: deliveries a dead run left `sending` are pending again. At once on a store of one
    master's (SQLite); on a shared one only the claims of masters whose lease ran out (the notifier's first
    round takes the rest when theirs does). -> deliveries taken back (commit)."""
    if conn.dialect.shared:
        return OutboxStore(conn, owner="").take_back_lost_claims(now_ns(), 0)
    cur = conn.execute("UPDATE deliveries SET status = 'pending', claimed_by = NULL WHERE status = 'sending'")
    conn.commit()
    return cur.rowcount


# -- what the rest of the master reads ------------------------------------------------------------------------

def counts(conn: Connection) -> list[tuple[str, int]]:
    """(status, deliveries)."""
    return conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()


def timeline_rows(conn: Connection, since_ns: int | None, until_ns: int | None) -> Cursor:
    """(id, incident_id, route, target, status, attempts, last_error, title, created_ns, updated_ns, nodes,
    instance) of the deliveries created in the window, with their incident's nodes and instance."""
    w = Where().ge("d.created_ns", since_ns).lt("d.created_ns", until_ns)
    return conn.execute(
        "SELECT d.id, d.incident_id, d.route, d.target, d.status, d.attempts, d.last_error, d.title,"
        " d.created_ns, d.updated_ns, i.nodes, i.instance"
        f" FROM deliveries d LEFT JOIN incidents i ON i.id = d.incident_id{w.sql}", w.args)
