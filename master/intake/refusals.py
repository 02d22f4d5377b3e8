"""Refused input, counted by reason and logged at most once per interval per reason.

Whatever a peer can send in bulk (bad frames, revoked keys, unknown keys, handshakes) must not turn into a
log line each: the first refusal of a reason is logged at once, the rest of the interval is summed into one
line ("... and 4,312 more in 10 s"). The counts are shown by `hamaster status` and the metrics endpoint.
Thread-safe: the ZAP thread refuses keys while the loop refuses frames.
"""

import logging
import threading
import time
from collections import Counter

log = logging.getLogger("hamaster")
INTERVAL_S = 10.0


class Refusals:
    def __init__(self, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}  # reason -> when its last line was written (monotonic)
        self._quiet: Counter[str] = Counter()  # refusals not logged since that line

    def refuse(self, reason: str, who: str, detail: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[reason] += 1
            if now - self._logged.get(reason, -self.interval) < self.interval:
                self._quiet[reason] += 1
                return
            self._logged[reason] = now
        log.warning("refused (%s) from %s: %s", reason, who, detail)

    def flush(self) -> None:
        """One line per reason with refusals that were not logged, once their interval is over."""
        now = time.monotonic()
        with self._lock:
            due = [(r, n) for r, n in self._quiet.items() if n and now - self._logged[r] >= self.interval]
            for reason, _ in due:
                self._quiet[reason] = 0
                self._logged[reason] = now
        for reason, n in due:
            log.warning("refused (%s): %d more in the last %.0f s", reason, n, self.interval)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
