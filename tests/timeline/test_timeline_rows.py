"""What the timeline says about raw events and derived rows, read from real stores on disk."""

import pytest
from scenario import at

from hamaster.core.errors import ConfigError
from hamaster.master.timeline import rows as tl

DAY = "2024-05-14"
NOW = at(DAY, "12:00:00")


def events(rows: list[tl.Row]) -> list[tl.EventRow]:
    return [r for r in rows if isinstance(r, tl.EventRow)]


def test_hook_and_fifo_reports_of_one_transition_are_one_row(open_scenario) -> None:
    rows = events(tl.timeline(open_scenario("failover"), tl.Query()))
    node1 = [(r.from_state, r.to_state, r.sources) for r in rows if r.node == "node1" and r.kind == "vrrp"]
    assert node1 == [
        (None, "BACKUP", ("hook", "fifo")),
        ("BACKUP", "MASTER", ("hook", "fifo")),
        ("MASTER", "FAULT", ("fifo", "hook")),  # the FIFO line came first this time
        ("FAULT", "BACKUP", ("hook",)),
        ("BACKUP", "MASTER", ("hook",)),
    ]
    assert len(rows) == 18 - 4  # 18 stored events, 4 of them second reports


def test_from_state_comes_from_before_the_window(open_scenario) -> None:
    conn = open_scenario("failover")
    q = tl.Query(since_ns=at(DAY, "03:12:09.500"), until_ns=at(DAY, "03:12:10"), kinds=("vrrp",))
    (row,) = events(tl.timeline(conn, q))
    assert (row.node, row.from_state, row.to_state) == ("node2", "BACKUP", "MASTER")


def test_spooled_events_are_placed_by_node_time_and_marked_late(open_scenario) -> None:
    rows = list(tl.timeline(open_scenario("split_brain_late"), tl.Query()))
    ev = events(rows)
    late = [(r.node, r.tag) for r in ev if r.late]
    assert late == [("node2", "vrrp/VI_1/MASTER"), ("node2", "beacon/vip/held"),
                    ("node2", "vrrp/VI_1/BACKUP"), ("node2", "beacon/vip/lost")]
    # placed where they happened on the node, not when they arrived (05:06:01): before node1's reconnect
    assert [r.at_ns for r in rows] == sorted(r.at_ns for r in rows)
    first_late = next(r for r in ev if r.late)
    # node2's clock is 2.5 s behind: 05:00:01.150 on the node, corrected to the true 05:00:03.650 (+ 3 ms transit)
    assert first_late.at_ns == at(DAY, "05:00:03.653")
    assert first_late.master_ns == at(DAY, "05:06:01.200")


def test_a_slow_node_clock_is_shown_but_is_not_lateness(open_scenario) -> None:
    ev = events(tl.timeline(open_scenario("split_brain_late"), tl.Query()))
    node2_on_time = [r for r in ev if r.node == "node2" and not r.late]
    assert node2_on_time and all(r.clock_skew_ns == 2_503_000_000 for r in node2_on_time)  # 2.5 s + 3 ms transit
    assert all(r.clock_skew_ns is None for r in ev if r.node == "node1")  # 3 ms transit is not worth showing


def test_derived_rows_sit_in_line_after_the_event_that_started_them(open_scenario) -> None:
    rows = list(tl.timeline(open_scenario("failover"), tl.Query()))
    i = next(k for k, r in enumerate(rows) if isinstance(r, tl.IncidentRow) and r.kind == "failover")
    assert isinstance(rows[i - 1], tl.EventRow) and rows[i - 1].to_state == "FAULT"
    failover = rows[i]
    assert failover.gap_ns == 620_000_000 and failover.nodes == ("node1", "node2")
    alerts = [(r.route, r.status, r.attempts) for r in rows if isinstance(r, tl.AlertRow)]
    assert alerts == [("ops-mail", "sent", 1), ("chat", "failed", 3)]  # placed when each ended
    (apply,) = [r for r in rows if isinstance(r, tl.ApplyRow)]
    assert rows[0] is apply and apply.changes["node1"]["changed"] == 3


def test_filters_by_node_instance_and_kind(open_scenario) -> None:
    conn = open_scenario("failover")
    node2 = list(tl.timeline(conn, tl.Query(nodes=("node2",), kinds=("vrrp", "beacon"))))
    assert {r.node for r in events(node2)} == {"node2"} and len(node2) == 6
    only_incidents = list(tl.timeline(conn, tl.Query(kinds=("incident",))))
    assert [r.id for r in only_incidents] == [1, 2, 3]
    assert list(tl.timeline(conn, tl.Query(instance="VI_9"))) == [
        r for r in tl.timeline(conn, tl.Query(kinds=("apply",)))]  # an apply concerns every instance


def test_incident_window_covers_it_with_context_on_its_nodes(open_scenario) -> None:
    conn = open_scenario("failover")
    q = tl.incident_query(conn, 2, 60 * 10**9)
    assert (q.since_ns, q.until_ns, q.nodes) == (at(DAY, "03:11:09.104"), at(DAY, "03:13:09.724"),
                                                 ("node1", "node2"))
    with pytest.raises(ConfigError, match="incident 99: no such incident"):
        tl.incident_query(conn, 99, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", NOW - 7200 * 10**9), ("30m", NOW - 1800 * 10**9), ("1d", NOW - 86400 * 10**9),
    ("2024-05-14T10:00:00+08:00", at(DAY, "02:00:00")), ("2024-05-14T02:00:00.250Z", at(DAY, "02:00:00.250")),
])
def test_when_is_a_duration_ago_or_an_iso_time_with_offset(text: str, expected: int) -> None:
    assert tl.parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-05-14T10:00:00", "5x", ""])
def test_when_without_a_zone_or_unit_is_refused_with_the_forms_we_take(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--since .*expected a duration like 30m, 2h, 1d or an ISO time"):
        tl.parse_when(text, NOW)


def test_a_second_report_dated_before_its_original_is_one_row_at_the_earlier_time(tmp_path) -> None:
    from hamaster.core.events import Event
    from hamaster.master import store

    conn = store.connect(tmp_path / "store.db")
    t = at(DAY, "03:00:00")
    store.insert_events(conn, "node1", t + 50_000_000, [
        Event(1, t + 20_000_000, "vrrp", "vrrp/VI_1/MASTER", "VI_1", "MASTER", 100, "hook"),
        Event(2, t + 5_000_000, "vrrp", "vrrp/VI_1/MASTER", "VI_1", "MASTER", 100, "fifo", {"duplicate_of": 1})])
    conn.commit()
    (row,) = events(tl.timeline(conn, tl.Query()))
    assert (row.at_ns, row.sources, len(row.ids)) == (t + 5_000_000, ("fifo", "hook"), 2)
    conn.close()
