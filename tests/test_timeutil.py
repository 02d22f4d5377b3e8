"""Times are integer ns since the epoch, UTC; converting to and from datetimes loses nothing."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hamaster.core.timeutil import from_datetime, human_duration, to_datetime

# 2024-05-14T02:00:09.110Z: a float timestamp makes this 1715652009.1099998 s
AT_110_MS = datetime(2024, 5, 14, 2, 0, 9, 110_000, tzinfo=UTC)
AT_110_MS_NS = 1_715_652_009_110_000_000


def test_from_datetime_keeps_every_microsecond() -> None:
    assert from_datetime(AT_110_MS) == AT_110_MS_NS
    for us in range(0, 1_000_000, 7919):  # a prime step visits every digit position
        assert from_datetime(AT_110_MS.replace(microsecond=us)) == 1_715_652_009_000_000_000 + us * 1000


def test_from_datetime_reads_the_offset() -> None:
    shanghai = AT_110_MS.astimezone(timezone(timedelta(hours=8)))
    assert shanghai.hour == 10
    assert from_datetime(shanghai) == AT_110_MS_NS


def test_from_datetime_before_the_epoch() -> None:
    assert from_datetime(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1000


def test_from_datetime_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        from_datetime(datetime(2024, 5, 14, 2, 0, 9))


def test_to_datetime_is_aware_utc_and_truncates_below_a_microsecond() -> None:
    assert to_datetime(AT_110_MS_NS) == AT_110_MS
    assert to_datetime(AT_110_MS_NS).tzinfo is UTC
    # rounding would carry into the next second
    assert to_datetime(1_715_652_009_999_999_999) == datetime(2024, 5, 14, 2, 0, 9, 999_999, tzinfo=UTC)


def test_round_trip() -> None:
    for ns in (0, AT_110_MS_NS, AT_110_MS_NS + 123_456_000, -86_400_000_000_000):
        assert from_datetime(to_datetime(ns)) == ns


@pytest.mark.parametrize(("seconds", "text"), [
    (0.62, "620 ms"), (3.4, "3.4 s"), (42, "42 s"), (192, "3 min 12 s"), (180, "3 min"),
    (7500, "2 h 5 min"), (7200, "2 h"), (-1, "0 ms"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text
