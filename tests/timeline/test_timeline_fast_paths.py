"""The quick ways the timeline takes for its bulk (raw events) say exactly what the plain ways say."""

import json
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from hamaster.core.events import Event, vrrp_tag
from hamaster.master import store
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl

S = 1_000_000_000
T0 = 1_715_652_000 * S  # 2024-05-14T02:00:00Z


def vrrp(seq: int, at_s: float, state: str, source: str = "hook", dup: int | None = None) -> Event:
    data = {"duplicate_of": dup} if dup is not None else {}
    return Event(seq, T0 + int(at_s * S), "vrrp", vrrp_tag("VI_1", state), "VI_1", state, 100, source, data)


def beacon(seq: int, at_s: float) -> Event:
    return Event(seq, T0 + int(at_s * S), "beacon", "beacon/nginx/up", source="beacon")


@pytest.fixture
def store_of(tmp_path: Path) -> Callable[..., list[tl.EventRow]]:
    """store_of(events of node1) -> the timeline's event rows of a fresh store holding just them."""
    def rows(events: list[Event]) -> list[tl.EventRow]:
        db = tmp_path / "store.db"
        conn = store.connect(db)
        try:
            store.insert_events(conn, "node1", T0 + 3600 * S, events)
            conn.commit()
        finally:
            conn.close()
        ro = store.connect(db, readonly=True)
        try:
            return [r for r in tl.timeline(ro, tl.Query()) if isinstance(r, tl.EventRow)]
        finally:
            ro.close()
    return rows


def test_a_second_report_is_folded_across_busy_seconds(store_of) -> None:
    # the FIFO's report of seq 1 comes 1.9 s later, after beacons that push older rows out of the fold
    rows = store_of([vrrp(1, 0.0, "MASTER"), beacon(2, 0.5), beacon(3, 1.2), beacon(4, 1.8),
                     vrrp(5, 1.9, "MASTER", "fifo", dup=1), beacon(6, 2.1), beacon(7, 4.5)])
    assert [(r.kind, r.sources, r.ids) for r in rows] == [
        ("vrrp", ("hook", "fifo"), (1, 5)), ("beacon", ("beacon",), (2,)), ("beacon", ("beacon",), (3,)),
        ("beacon", ("beacon",), (4,)), ("beacon", ("beacon",), (6,)), ("beacon", ("beacon",), (7,)),
    ]


def test_a_report_marked_duplicate_more_than_two_seconds_later_is_a_row_of_its_own(store_of) -> None:
    rows = store_of([vrrp(1, 0.0, "BACKUP"), beacon(2, 1.5), vrrp(3, 2.5, "BACKUP", "fifo", dup=1)])
    assert [(r.to_state, r.sources, r.ids) for r in rows if r.kind == "vrrp"] == [
        ("BACKUP", ("hook",), (1,)), ("BACKUP", ("fifo",), (3,)),
    ]


def test_the_same_source_twice_is_listed_once(store_of) -> None:
    rows = store_of([vrrp(1, 0.0, "FAULT", "hook"), vrrp(2, 0.1, "FAULT", "hook", dup=1)])
    assert [(r.sources, r.ids) for r in rows] == [(("hook",), (1, 2))]


ODD_NAMES = ["node1", "ноут-二号", 'quote"and\\back', "tab\there", "\u2028line", "emoji\U0001f525"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_event_line_is_what_json_dumps_writes(name: str) -> None:
    row = tl.EventRow(T0, name, "vrrp", f"vrrp/{name}/MASTER", name, None, "MASTER", 101, (name, "fifo"),
                      T0 + 7 * S, True, -3 * S, (17, 18))
    line = tf.event_json(row, tf._JsonText())
    assert line == json.dumps(tf.to_json(row), separators=(",", ":")) + "\n"
    assert json.loads(line)["node"] == name


def test_an_event_line_with_every_optional_field_empty() -> None:
    row = tl.EventRow(T0, "node1", "minion", "minion/start", None, None, None, None, ("minion",), T0, False,
                      None, (1,))
    line = tf.event_json(row, tf._JsonText())
    assert line == json.dumps(tf.to_json(row), separators=(",", ":")) + "\n"


ZONES = ["UTC", "+08:00", "-03:30", "+05:45", "Asia/Shanghai", "America/New_York"]


@pytest.mark.parametrize("zone", ZONES)
def test_times_row_after_row_read_as_fmt_time_reads_each(zone: str) -> None:
    tz = tf.parse_tz(zone)
    fmt = tf.time_formatter(tz)
    # across midnight, a year end, before the epoch, and every millisecond digit
    starts = [T0, 1_704_067_170 * S, -90 * S, 0]
    for ns in (start + k * 7_777_777_777 + k for start in starts for k in range(-40, 40)):
        assert fmt(ns) == tf.fmt_time(ns, tz), ns


def test_a_fixed_offset_with_seconds_is_written_as_isoformat_writes_it() -> None:
    tz = timezone(timedelta(hours=5, seconds=30))
    assert tf.time_formatter(tz)(T0 + 123_456_789) == tf.fmt_time(T0 + 123_456_789, tz) == \
        "2024-05-14 07:00:30.123+05:00:30"


def test_an_event_whose_data_is_not_json_is_a_row_like_any_other(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    conn = store.connect(db)
    try:
        store.insert_events(conn, "node1", T0, [vrrp(1, 0.0, "MASTER"), vrrp(2, 0.1, "MASTER", "fifo", dup=1)])
        conn.execute("UPDATE events SET data = '{\"duplicate_of\": 1' WHERE seq = 2")  # cut short by hand
        conn.commit()
    finally:
        conn.close()
    ro = store.connect(db, readonly=True)
    try:
        assert [(r.sources, r.ids) for r in tl.timeline(ro, tl.Query())] == [(("hook",), (1,)), (("fifo",), (2,))]
    finally:
        ro.close()
