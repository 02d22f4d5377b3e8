"""The drains and drills tables, and the reads drain/drill/check make of the events, on both engines."""

from hamaster.core.events import Event
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.store import drills, incidents

S = 1_000_000_000
T0 = 1_700_000_000 * S


def test_the_latest_drain_mark_of_each_minion_is_its_state(conn: store.Connection) -> None:
    assert drills.drained_now(conn) == {}
    drills.record_drain(conn, drills.DrainMark("node1", True, T0, "j1", ("VI_1", "VI_2")))
    drills.record_drain(conn, drills.DrainMark("node2", True, T0 + S, "j2", ()))
    drills.record_drain(conn, drills.DrainMark("node1", False, T0 + 2 * S, "j3", ()))
    now = drills.drained_now(conn)
    assert (now["node1"].drained, now["node1"].jid, now["node2"].drained) == (False, "j3", True)
    marks = drills.drain_rows(conn, T0, T0 + 2 * S)  # the window's end is open
    assert [(m.minion, m.drained, m.held) for m in marks] == [("node1", True, ("VI_1", "VI_2")), ("node2", True, ())]


def test_drills_are_stored_with_their_figures_and_read_back_in_time_order(conn: store.Connection) -> None:
    assert drills.last_drill(conn) is None
    late = drills.insert_drill(conn, drills.Drill(T0 + 60 * S, T0 + 67 * S, "VI_1", "node1", "node2", True,
                                                  "node1 -> node2", {"figures": {"outage_ms": 0.0, "total_s": 7}}))
    early = drills.insert_drill(conn, drills.Drill(T0, T0 + S, "VI_1", "node1", None, False, "refused: x"))
    got = drills.drill_rows(conn, None, None)
    assert [(d.id, d.ok, d.summary) for d in got] == [(early, False, "refused: x"), (late, True, "node1 -> node2")]
    assert got[1].data == {"figures": {"outage_ms": 0.0, "total_s": 7}} and got[0].data == {}
    last = drills.last_drill(conn)
    assert last is not None and last.id == late
    assert [d.id for d in drills.drill_rows(conn, T0 + S, None)] == [late]


def test_probe_answers_keep_each_vip_apart_and_config_facts_are_the_latest(conn: store.Connection) -> None:
    probe = [Event(1, T0, "beacon", "beacon/probe/10.0.0.100/node1", state="node1", source="probe"),
             Event(2, T0 + S, "beacon", "beacon/probe/10.0.0.200/node2", state="node2", source="probe"),
             Event(3, T0 + 2 * S, "beacon", "beacon/probe/10.0.0.100/nobody", state="nobody", source="probe"),
             Event(4, T0 + 3 * S, "beacon", "beacon/probe/10.0.0.1000/node2", state="node2", source="probe")]
    store.insert_events(conn, "@probe", T0, probe)
    config = [Event(1, T0, "minion", "minion/keepalived/config", source="minion", data={"sha256": "a"}),
              Event(2, T0 + S, "minion", "minion/keepalived/config", source="minion",
                    data={"sha256": "b", "path": "/etc/keepalived/keepalived.conf"})]
    store.insert_events(conn, "node1", T0, config)
    conn.commit()
    assert drills.probe_answers(conn, "10.0.0.100") == [(T0, "node1"), (T0 + 2 * S, None)]
    assert drills.probe_answers(conn, "10.0.0.100", since_ns=T0 + S) == [(T0 + 2 * S, None)]
    assert drills.keepalived_configs(conn) == {"node1": {"sha256": "b", "path": "/etc/keepalived/keepalived.conf"}}


def test_check_reads_the_incidents_still_open_and_a_drills_deliveries(conn: store.Connection) -> None:
    stale = Incident("stale_vip", "VI_1", T0, "node2 still holds VIP 10.0.0.100", "sv:1", nodes=["node2"])
    off = Incident("clock_offset", None, T0 + S, "node1's clock is 5 s fast", "co:1", nodes=["node1"])
    gone = Incident("stale_vip", "VI_1", T0 + 2 * S, "node1 still holds VIP 10.0.0.100", "sv:2", nodes=["node1"])
    for inc in (stale, off, gone):
        incidents.insert(conn, inc)
    incidents.close(conn, "sv:2", T0 + 3 * S)
    conn.commit()
    assert [i.dedup_key for i in incidents.still_open(conn, ["stale_vip", "clock_offset"])] == ["sv:1", "co:1"]
    assert [i.dedup_key for i in incidents.still_open(conn, ["stale_vip"])] == ["sv:1"]
    assert drills.deliveries_of(conn, []) == [] and drills.deliveries_of(conn, [stale.id or 0]) == []
