"""Feeds the correlator as the daemon does (store, commit, feed; tick), with beacons as well as transitions
and each node on its own clock: `clock_s` is how far that node's clock is ahead of the master's."""

import sqlite3
from typing import Any

from hamaster.core.events import Event, vrrp_tag
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store import incidents

T0 = 1_750_000_000 * 10**9
S = 10**9


class TruthFeed:
    def __init__(self, conn: sqlite3.Connection, clock_s: dict[str, float] | None = None, silent_after_s: float = 10,
                 **settings: Any) -> None:
        self.conn, self.settings, self.silent_after_s = conn, settings, silent_after_s
        self.c = Correlator(conn, settings, silent_after_s=silent_after_s)
        self.clock_s = clock_s or {}
        self.seq: dict[str, int] = {}
        self.new: list[int] = []

    def at(self, t: float) -> int:
        return T0 + round(t * S)

    def _store(self, t: float, minion: str, kind: str, tag: str, arrives: float | None = None,
               node_ns: int | None = None, **fields: Any) -> None:
        self.seq[minion] = self.seq.get(minion, 0) + 1
        if node_ns is None:
            node_ns = self.at(t + self.clock_s.get(minion, 0.0))
        ev = Event(self.seq[minion], node_ns, kind, tag, **fields)
        master_ns = self.at(arrives if arrives is not None else t + 0.002)
        ev = self.c.clocks.vet_event(minion, ev, master_ns)  # what the daemon does on intake
        stored = store.insert_events(self.conn, minion, master_ns, [ev])
        self.conn.commit()
        self.new += self.c.feed(stored)

    def vrrp(self, t: float, minion: str, state: str, prio: int = 100, source: str = "hook", **kw: Any) -> None:
        self._store(t, minion, "vrrp", vrrp_tag("VI_1", state), instance="VI_1", state=state, priority=prio,
                    source=source, **kw)

    def beacon(self, t: float, minion: str, tag: str, **data: Any) -> None:
        self._store(t, minion, "beacon", f"beacon/{tag}", source="beacon", data=data)

    def heartbeats(self, t: float, minion: str, n: int = 8, delay_s: float = 0.001) -> None:
        """`n` NTP exchanges with `minion` around master time t, as its pings and our pongs would make them."""
        off = round(self.clock_s.get(minion, 0.0) * S)
        for i in range(n):
            t1 = self.at(t + i * 0.05) + off
            t2 = t1 - off + round(delay_s / 2 * S)
            t3 = t2 + 50_000
            self.c.clocks.sample(minion, t1, t2, t3, t3 + off + round(delay_s / 2 * S))

    def restart(self) -> None:
        """The master restarted: a new correlator that replays the store."""
        self.c = Correlator(self.conn, self.settings, silent_after_s=self.silent_after_s)
        self.c.replay(0)

    def tick(self, t: float, seen: dict[str, float]) -> None:
        self.new += self.c.tick(self.at(t), {m: self.at(s) for m, s in seen.items()})

    def incidents(self, kind: str | None = None) -> list[Incident]:
        return [i for i in incidents.query(self.conn) if kind is None or i.kind == kind]
