"""The store's disk filled up: stop acking, say so, and resume by ourselves when space returns.

A write that fails for lack of space is rolled back; nothing of its round is acked, so the minions keep
those events in their spools and send them again (at-least-once delivery does the rest). While the store
is full, only intake tries again, every RETRY_S; `hamaster status`, the metrics and the log say why.
"""

import errno
import logging
import time
from typing import Any

from hamaster.core.errors import StoreFull
from hamaster.core.timeutil import now_ns

log = logging.getLogger("hamaster")
RETRY_S = 1.0


def is_disk_full(exc: BaseException) -> bool:
    """The store says so (SQLite's SQLITE_FULL, PostgreSQL's disk_full), or a file write did."""
    return isinstance(exc, StoreFull) or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))


class StoreHealth:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.full_since_ns: int | None = None
        self.error = ""
        self._retry_at = 0.0

    @property
    def full(self) -> bool:
        return self.full_since_ns is not None

    def retry_due(self) -> bool:
        """Intake's turn to try again. Other writes wait until intake has succeeded: a small write that fits
        in space SQLite already holds would otherwise declare the store writable while events still fail."""
        return self.full_since_ns is None or time.monotonic() >= self._retry_at

    def write(self, what: str, action: Any) -> Any:
        """Run `action()` (a write that commits); on a full disk roll back and return None instead of raising."""
        try:
            result = action()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            try:
                self.db.rollback()
            except Exception:  # a rollback on a full disk may fail too; the transaction is gone all the same
                pass
            self._retry_at = time.monotonic() + RETRY_S
            if self.full_since_ns is None:
                self.full_since_ns, self.error = now_ns(), str(exc)
                log.error("store full (%s: %s): not acking until space returns; minions keep their events",
                          what, exc)
            return None
        if self.full_since_ns is not None:
            log.warning("store writable again after %.1f s: acking resumes",
                        (now_ns() - self.full_since_ns) / 1e9)
            self.full_since_ns, self.error = None, ""
        return result

    def status(self) -> dict[str, Any]:
        if self.full_since_ns is None:
            return {"writable": True}
        return {"writable": False, "full_since_ns": self.full_since_ns, "error": self.error}
