"""Feeds scenario steps to a correlator the way the master daemon does: store, commit, feed; tick."""

import sqlite3
from typing import Any

from hamaster.core.events import Event, vrrp_tag
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator

T0 = 1_750_000_000 * 10**9
S = 10**9


def ns(seconds: float) -> int:
    return T0 + round(seconds * S)


class Feeder:
    """Stores events as the daemon does (one commit per batch) and hands them to the correlator."""

    def __init__(self, conn: sqlite3.Connection, correlator: Correlator, t0: int = T0,
                 data: dict[str, Any] | None = None) -> None:
        self.conn, self.c, self.t0 = conn, correlator, t0
        self.data = data or {}  # what every vrrp event carries (the minion's keepalived.conf facts: vrid, vips)
        self.seq: dict[str, int] = {}
        self.new: list[int] = []

    def event(self, t: float, minion: str, state: str, prio: int | None, data: dict[str, Any] | None = None) -> None:
        self.seq[minion] = self.seq.get(minion, 0) + 1
        ev = Event(self.seq[minion], self.at(t), "vrrp", vrrp_tag("VI_1", state), "VI_1", state, prio, "hook",
                   {**self.data, **(data or {})})
        stored = store.insert_events(self.conn, minion, self.at(t), [ev])
        self.conn.commit()
        self.new += self.c.feed(stored)

    def at(self, seconds: float) -> int:
        return self.t0 + round(seconds * S)

    def run(self, steps: list[tuple[Any, ...]]) -> None:
        for kind, *args in steps:
            if kind in ("ev", "late"):
                self.event(*args)
            elif kind == "dup":
                self.event(*args, data={"duplicate_of": self.seq[args[1]]})
            else:
                now, seen = args
                self.new += self.c.tick(self.at(now), {m: self.at(t) for m, t in seen.items()})
