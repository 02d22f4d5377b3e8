"""Time as hamaster keeps it: integer nanoseconds since the epoch, UTC; aware datetimes for people.

Conversions are integer arithmetic on timedelta's days, seconds and microseconds: a float holds only about
a quarter of a microsecond at today's epoch, so `dt.timestamp() * 1e9` turns .110 s into .109999872 s.
"""

import time
from datetime import UTC, datetime, timedelta

now_ns = time.time_ns

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ns: int) -> datetime:
    """ns since the epoch -> an aware UTC datetime, truncated to the microsecond (datetime holds no finer)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def from_datetime(dt: datetime) -> int:
    """An aware datetime -> ns since the epoch, exactly."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: hamaster only takes timezone-aware times")
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


# the words of a duration: (ms, s, min before seconds, min alone, h); Chinese says 3 分 12 秒 but 3 分钟
EN_UNITS = ("ms", "s", "min", "min", "h")


def human_duration(seconds: float, units: tuple[str, str, str, str, str] = EN_UNITS) -> str:
    """620 ms, 3.4 s, 3 min 12 s, 2 h 5 min: durations as people read them (in `units`' words)."""
    ms, s, min_s, min_, h = units
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} {ms}"
    if seconds < 60:
        return f"{seconds:.1f} {s}" if seconds < 10 else f"{seconds:.0f} {s}"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} {min_s} {sec} {s}" if sec else f"{minutes} {min_}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} {h} {minutes} {min_}" if minutes else f"{hours} {h}"


def human_span(lo_s: float, hi_s: float, units: tuple[str, str, str, str, str] = EN_UNITS) -> str:
    """3.1-3.6 s, 620 ms-1.1 s: a duration known only within bounds."""
    lo, hi = human_duration(lo_s, units), human_duration(hi_s, units)
    if lo == hi:
        return lo
    number, unit = lo.rsplit(" ", 1) if lo.count(" ") == 1 else (lo, "")
    return f"{number}-{hi}" if unit and hi.count(" ") == 1 and hi.endswith(f" {unit}") else f"{lo}-{hi}"
