"""The probe bridge: the master's own VIP probes (`probes:` in master.yaml, see probe.py) become events.

A probe thread reports who answers on a VIP; `store_changes()`, called from the daemon's loop, writes each
change as an event of the pseudo-minion `@probe`, in the same store and order as the minions' events.
"""

import queue
from collections.abc import Callable
from typing import Any

from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError
from hamaster.core.events import Event, StoredEvent
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.intake.probe import VipProbe
from hamaster.master.store import events as stored_events

PROBE_MINION = "@probe"  # "@" cannot start a minion id made by `hamaster init`


class ProbeBridge:
    def __init__(self, cfg: MasterConfig, db: Any, on_stored: Callable[[list[StoredEvent]], None]) -> None:
        self.cfg, self.db, self.on_stored = cfg, db, on_stored
        self.changes: queue.SimpleQueue[tuple[str, int, str | None]] = queue.SimpleQueue()
        self.probes = [self._probe(i, p) for i, p in enumerate(cfg.probes)]
        self._seq = stored_events.last_seq(db, PROBE_MINION)

    def _probe(self, index: int, raw: Any) -> VipProbe:
        where = f"{self.cfg.path}: probes[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("vip"), str):
            raise ConfigError(f"{where}: expected a mapping with 'vip: ADDRESS'")
        unknown = set(raw) - {"vip", "port", "path", "interval_ms", "timeout_ms", "nodes"}
        if unknown:
            raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        vip = raw["vip"]
        return VipProbe(vip, port=int(raw.get("port", 80)), path=str(raw.get("path", "/")),
                        interval=float(raw.get("interval_ms", 50)) / 1000,
                        timeout=float(raw.get("timeout_ms", 100)) / 1000, nodes=raw.get("nodes"),
                        on_change=lambda ts, node: self.changes.put((vip, ts, node)))

    def start(self) -> None:
        for probe in self.probes:
            probe.start()

    def stop(self) -> None:
        for probe in self.probes:
            probe.stop()

    def store_changes(self) -> None:
        events = []
        while not self.changes.empty():
            vip, ts, node = self.changes.get()
            self._seq += 1
            answered = node or "nobody"
            events.append(Event(self._seq, ts, "beacon", f"beacon/probe/{vip}/{answered}", state=answered,
                                source="probe", data={"vip": vip}))
        if events:
            new = store.insert_events(self.db, PROBE_MINION, now_ns(), events)
            self.db.commit()
            self.on_stored(new)
