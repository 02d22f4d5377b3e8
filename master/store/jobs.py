"""The `jobs` table: state runs on minions (`hamaster apply`, the reactor's `state:` rules) and their summaries."""

import json
from typing import Any

from hamaster.master.store.connection import Connection, Cursor
from hamaster.master.store.where import Where


def start(conn: Connection, jid: str, started_ns: int, targets: list[str], test: bool) -> None:
    conn.execute("INSERT INTO jobs (jid, started_ns, targets, test) VALUES (?,?,?,?)",
                 (jid, started_ns, json.dumps(sorted(targets)), int(test)))
    conn.commit()


def finish(conn: Connection, jid: str, finished_ns: int, summary: dict[str, Any]) -> None:
    conn.execute("UPDATE jobs SET finished_ns = ?, summary = ? WHERE jid = ?", (finished_ns, json.dumps(summary), jid))
    conn.commit()


def running_at(conn: Connection, at_ns: int, grace_ns: int) -> list[tuple[str, str | None]]:
    """(jid, targets JSON) of the jobs, not --test, running at `at_ns` or finished at most `grace_ns` before;
    the latest first."""
    return conn.execute(
        "SELECT jid, targets FROM jobs WHERE test = 0 AND started_ns <= ?"
        " AND (finished_ns IS NULL OR finished_ns + ? >= ?) ORDER BY started_ns DESC", (at_ns, grace_ns, at_ns)
    ).fetchall()


def timeline_rows(conn: Connection, since_ns: int | None, until_ns: int | None) -> Cursor:
    """(jid, started_ns, finished_ns, targets, test, summary) of the jobs started in the window, in order."""
    w = Where().ge("started_ns", since_ns).lt("started_ns", until_ns)
    return conn.execute(f"SELECT jid, started_ns, finished_ns, targets, test, summary FROM jobs{w.sql}"
                        " ORDER BY started_ns, jid", w.args)
