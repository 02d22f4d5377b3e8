"""The probe bridge: the master's own VIP probes (`probes:` in master.yaml, see probe.py) become events.

A probe thread reports who answers on a VIP; `store_changes()`, called from the daemon's loop, writes each
change as an event of the pseudo-minion `@probe`, in the same store and order as the minions' events.
"Nobody answers" carries who answered last (`last_answer`), when its answer was read (`last_answer_ns`) and
how long that request took (`answer_took_ns`): the correlator dates a silent holder's death by it, when the
probe's `nodes` are the minions' ids (nodes.py).
"""

import queue
from collections.abc import Callable
from typing import Any

from hamaster.core.config import MasterConfig
from hamaster.core.events import Event, StoredEvent
from hamaster.core.schema import Probe as ProbeSettings
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.intake.probe import VipProbe
from hamaster.master.store import events as stored_events

PROBE_MINION = "@probe"  # "@" cannot start a minion id made by `hamaster init`


class ProbeBridge:
    def __init__(self, cfg: MasterConfig, db: Any, on_stored: Callable[[list[StoredEvent]], None]) -> None:
        self.cfg, self.db, self.on_stored = cfg, db, on_stored
        self.changes: queue.SimpleQueue[tuple[str, int, str | None, tuple[str, int, int] | None]] = queue.SimpleQueue()
        self.probes = [self._probe(p) for p in cfg.probes]
        self._seq = stored_events.last_seq(db, PROBE_MINION)

    def _probe(self, p: ProbeSettings) -> VipProbe:
        """A VIP probe as master.yaml's `probes:` describes it (checked by the schema, core/schema.py)."""
        probe = VipProbe(p.vip, port=p.port, path=p.path, interval=p.interval_ms / 1000,
                         timeout=p.timeout_ms / 1000, nodes=p.nodes,
                         # (called in the probe's thread, right after the request: last_answer is that of before)
                         on_change=lambda ts, node: self.changes.put((p.vip, ts, node, probe.last_answer)))
        return probe

    def start(self) -> None:
        for probe in self.probes:
            probe.start()

    def stop(self) -> None:
        for probe in self.probes:
            probe.stop()

    def store_changes(self) -> None:
        events = []
        while not self.changes.empty():
            vip, ts, node, last = self.changes.get()
            self._seq += 1
            answered = node or "nobody"
            data: dict[str, Any] = {"vip": vip}
            if node is None and last is not None:
                data.update(last_answer=last[0], last_answer_ns=last[1], answer_took_ns=last[2])
            events.append(Event(self._seq, ts, "beacon", f"beacon/probe/{vip}/{answered}", state=answered,
                                source="probe", data=data))
        if events:
            new = store.insert_events(self.db, PROBE_MINION, now_ns(), events)
            self.db.commit()
            self.on_stored(new)
