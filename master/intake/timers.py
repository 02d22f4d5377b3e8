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
        if now - self._last_tick >= TICK_S and not self.intake.health.full:
            seen = {**self.heard_before, **{m.id: m.last_seen_ns for m in self.intake.minions.values()}}
            ids = self.intake.health.write("incidents", lambda: self.correlator.tick(now_ns(), seen))
            self.on_incidents(ids or [])
            self._last_tick = now
        self.intake.refusals.flush()
        if not self.intake.health.full:
            self.intake.health.write("jobs", lambda: self.jobs.expire(now))
        if now - self._last_flush > FLUSH_S and not self.intake.health.full:
            self.intake.health.write("liveness", self._flush)
            self._last_flush = now

    def _flush(self) -> None:
        stored_minions.record_liveness(self.db, [(m.id, m.last_seen_ns, m.dropped)
                                                 for m in self.intake.minions.values()])
