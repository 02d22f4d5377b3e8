"""Time as hamaster keeps it: integer nanoseconds since the epoch, UTC; aware datetimes for people."""

import time
from datetime import UTC, datetime

now_ns = time.time_ns


def to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def from_datetime(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: hamaster only takes timezone-aware times")
    return int(dt.timestamp() * 1e9)


def human_duration(seconds: float) -> str:
    """620 ms, 3.4 s, 3 min 12 s, 2 h 5 min: durations as people read them."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
