"""The `minions` table: who greeted the master (with its grains), when it was last heard, frames dropped."""

import json
from typing import Any

from hamaster.master.store.connection import Connection


def greet(conn: Connection, master_ns: int, hellos: dict[str, str]) -> None:
    """Minions' hellos (grains as JSON), in minion order (no commit: intake's transaction holds them)."""
    if hellos:
        conn.executemany(
            "INSERT INTO minions (id, first_seen_ns, last_seen_ns, grains) VALUES (?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET last_seen_ns = excluded.last_seen_ns, grains = excluded.grains",
            [(who, master_ns, master_ns, grains) for who, grains in sorted(hellos.items())])


def record_liveness(conn: Connection, seen: list[tuple[str, int, int]]) -> None:
    """(minion, last_seen_ns, dropped) as the daemon knows them, for `hamaster status` while it is down."""
    conn.executemany("UPDATE minions SET last_seen_ns = ?, dropped = ? WHERE id = ?",
                     [(last_seen, dropped, who) for who, last_seen, dropped in sorted(seen)])
    conn.commit()


def heard_since(conn: Connection, since_ns: int) -> dict[str, int]:
    """{minion: last_seen_ns} of the minions heard since `since_ns`."""
    return dict(conn.execute("SELECT id, last_seen_ns FROM minions WHERE last_seen_ns >= ?", (since_ns,)))


def liveness(conn: Connection) -> dict[str, tuple[int | None, int]]:
    """{minion: (last_seen_ns, frames dropped)}."""
    return {m: (seen, dropped) for m, seen, dropped in conn.execute("SELECT id, last_seen_ns, dropped FROM minions")}


def grains(conn: Connection) -> dict[str, dict[str, Any]]:
    """Grains each minion reported on its last connect."""
    return {m: json.loads(g) if g else {} for m, g in conn.execute("SELECT id, grains FROM minions")}


def greeted(conn: Connection) -> list[str]:
    """The minions that said hello (with their grains) at least once."""
    return [m for (m,) in conn.execute("SELECT id FROM minions WHERE grains IS NOT NULL ORDER BY id")]


def save_clocks(conn: Connection, clocks: list[tuple[str, int, int, int]]) -> None:
    """(minion, offset_ns, delay_ns, sampled_ns): the correlator's clock estimates, for its next start."""
    conn.executemany(
        "INSERT INTO minion_clocks (minion, offset_ns, delay_ns, sampled_ns) VALUES (?,?,?,?) ON CONFLICT (minion)"
        " DO UPDATE SET offset_ns = excluded.offset_ns, delay_ns = excluded.delay_ns, sampled_ns = excluded.sampled_ns",
        sorted(clocks))
    conn.commit()


def clocks(conn: Connection) -> dict[str, tuple[int, int]]:
    """{minion: (offset_ns, delay_ns)} as last saved."""
    return {m: (off, delay) for m, off, delay in conn.execute("SELECT minion, offset_ns, delay_ns FROM minion_clocks")}
