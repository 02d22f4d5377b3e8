"""Timers of the master's loop: time-based incidents, key changes, job deadlines, liveness for `status`."""

import time
from collections.abc import Callable
from typing import Any

from hamaster.core.timeutil import now_ns
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.intake.intake import Intake
from hamaster.master.intake.jobs import JobBook
from hamaster.master.store import minions as stored_minions

TICK_S = 0.5  # node silent, no master, flapping calmed
FLUSH_S = 2.0  # last_seen written for `hamaster status` when the daemon is down


class Timers:
    def __init__(self, db: Any, intake: Intake, correlator: Correlator, jobs: JobBook,
                 heard_before: dict[str, int], on_incidents: Callable[[list[int]], None]) -> None:
        self.db, self.intake, self.correlator, self.jobs = db, intake, correlator, jobs
        self.heard_before, self.on_incidents = heard_before, on_incidents
        self._last_tick = 0.0
        self._last_flush = time.monotonic()

    def run_due(self, now: float) -> None:
        if now - self._last_tick >= TICK_S:
            seen = {**self.heard_before, **{m.id: m.last_seen_ns for m in self.intake.minions.values()}}
            self.on_incidents(self.correlator.tick(now_ns(), seen))
            self._last_tick = now
        self.intake.refusals.flush()
        self.jobs.expire(now)
        if now - self._last_flush > FLUSH_S:
            stored_minions.record_liveness(self.db, [(m.id, m.last_seen_ns, m.dropped)
                                                     for m in self.intake.minions.values()])
            self._last_flush = now
