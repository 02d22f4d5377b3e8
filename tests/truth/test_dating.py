"""Dating a silent holder's death: every bound intersected, one that contradicts the others dropped (the
master's own heartbeat kept); the connection's close and the probe's outage as witnesses (real SQLite store,
the correlator fed as the daemon feeds it)."""

import sqlite3
from pathlib import Path

import pytest
from truthfeed import S, TruthFeed

from hamaster.core.events import vrrp_tag
from hamaster.master import store
from hamaster.master.correlate import dating as d

MS = 1_000_000


def test_bounds_are_intersected_and_the_edges_name_who_dated_it() -> None:
    beat = d.Bound(0, 500 * MS, "heartbeat")
    dating = d.intersect(beat, [d.Bound(100 * MS, 900 * MS, "advert"), d.connection_bound(300 * MS)])
    assert (dating.lo_ns, dating.hi_ns) == (300 * MS - d.CLOSE_LAG_NS, 300 * MS)
    assert dating.by == "connection"
    dating = d.intersect(beat, [d.Bound(100 * MS, 900 * MS, "advert")])
    assert (dating.lo_ns, dating.hi_ns, dating.by) == (100 * MS, 500 * MS, "heartbeat and advert")
    assert dating.at_ns == 300 * MS


def test_a_bound_that_contradicts_the_others_is_dropped_and_the_heartbeat_always_kept() -> None:
    beat = d.Bound(0, 500 * MS, "heartbeat")
    # a close long before the heartbeat's range (a minion that died alone, keepalived alive): not believed
    dating = d.intersect(beat, [d.Bound(200 * MS, 900 * MS, "advert"), d.connection_bound(-S)])
    assert (dating.lo_ns, dating.hi_ns, dating.by) == (200 * MS, 500 * MS, "heartbeat and advert")
    # two witnesses that agree outvote one that does not
    dating = d.intersect(beat, [d.Bound(0, 90 * MS, "advert"), d.probe_bound(400 * MS, 2 * MS, 450 * MS),
                              d.connection_bound(440 * MS)])
    assert (dating.lo_ns, dating.hi_ns, dating.by) == (398 * MS, 440 * MS,
                                                       "probe and connection")
    # nothing meets the heartbeat: the heartbeat alone
    dating = d.intersect(beat, [d.Bound(600 * MS, 700 * MS, "advert"), d.connection_bound(2 * S)])
    assert (dating.lo_ns, dating.hi_ns, dating.by) == (0, 500 * MS, "heartbeat")


def test_the_probe_bound_runs_from_the_last_answers_request_to_the_first_failure() -> None:
    # ... and one answer's time past the failed request's start: a death in its first ms fails it too
    bound = d.probe_bound(1_000 * MS, 3 * MS, 1_049 * MS)
    assert (bound.lo_ns, bound.hi_ns, bound.name) == (997 * MS, 1_052 * MS, "probe")
    dating = d.date_silent_death(900 * MS, 500 * MS, 4 * S, witnesses=[bound])
    assert (dating.lo_ns, dating.hi_ns, dating.by) == (997 * MS, 1_052 * MS, "probe")


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = store.connect(tmp_path / "store.db")
    yield c
    c.close()


def crash(f: TruthFeed, witness: str) -> None:
    """a1 (MASTER) dies at 10.300 s, last heard at 9.99 s; a2 takes over at 13.9 s; `witness`: what the master
    saw of the death besides the silence."""
    vips = {"vips": ["10.9.0.100"]}
    f.vrrp(0.0, "a1", "MASTER", 150, data=vips)
    f.vrrp(0.1, "a2", "BACKUP", 100, data=vips)
    f.tick(0.5, {"a1": 0.5, "a2": 0.5})
    if witness == "connection":
        f.c.connection_closed("a1", f.at(10.302))  # the kernel closed its socket: EOF read 2 ms later
    elif witness == "probe":  # the master's probe: a1 answered (request 10.280-10.283), nothing from 10.330
        f._store(10.330, "@probe", "beacon", "beacon/probe/10.9.0.100/nobody", source="probe",
                 data={"vip": "10.9.0.100", "last_answer": "a1", "last_answer_ns": f.at(10.283),
                       "answer_took_ns": 3 * 1_000_000})
    elif witness == "probe of another node":
        f._store(10.330, "@probe", "beacon", "beacon/probe/10.9.0.100/nobody", source="probe",
                 data={"vip": "10.9.0.100", "last_answer": "web1", "last_answer_ns": f.at(10.283),
                       "answer_took_ns": 3 * 1_000_000})
    f.tick(12.6, {"a1": 9.99, "a2": 12.6})
    f.vrrp(13.9, "a2", "MASTER", 100, data=vips)
    for t in (14.0, 20.5):
        f.tick(t, {"a1": 9.99, "a2": t})


@pytest.mark.parametrize(("witness", "by", "lo", "hi"), [
    ("connection", "connection", 10.252, 10.302),
    ("probe", "probe", 10.280, 10.333),
    ("probe of another node", "heartbeat", 9.99, 10.51),  # its names are not minion ids: it bounds nothing
])
def test_a_silent_death_is_dated_by_its_witness(conn, witness: str, by: str, lo: float, hi: float) -> None:
    f = TruthFeed(conn, silent_after_s=2.5)
    crash(f, witness)
    [failover] = f.incidents("failover")
    assert failover.data["death_dated_by"] == by
    takeover = f.at(13.9)
    assert failover.data["gap_range_ns"] == [takeover - f.at(hi), takeover - f.at(lo)]
    assert f"(death dated by the {by})" in failover.summary


def test_a_close_before_the_last_thing_the_node_said_is_no_witness(conn) -> None:
    f = TruthFeed(conn, silent_after_s=2.5)
    f.c.connection_closed("a1", f.at(5.0))  # it reconnected and spoke after that
    crash(f, "none")
    [failover] = f.incidents("failover")
    assert failover.data["death_dated_by"] == "heartbeat"


def test_a_sync_groups_silent_death_is_dated_by_its_witness_too(conn) -> None:
    """keepalived notifies the vrrp_sync_group's own transitions (GROUP lines): its group is dated like an
    instance's (it had no witnesses: a kill of keepalived and the minion was dated by the heartbeat alone)."""
    f = TruthFeed(conn, silent_after_s=2.5)
    vips = {"vips": ["10.9.0.100"]}

    def both(t: float, minion: str, state: str, prio: int) -> None:
        f.vrrp(t, minion, state, prio, data=vips)
        f._store(t, minion, "vrrp", vrrp_tag("VG_1", state), instance="VG_1", state=state, priority=prio,
                 source="hook", data={"type": "GROUP"})

    both(0.0, "a1", "MASTER", 150)
    both(0.1, "a2", "BACKUP", 100)
    f.tick(0.5, {"a1": 0.5, "a2": 0.5})
    f.c.connection_closed("a1", f.at(10.302))
    f.tick(12.6, {"a1": 9.99, "a2": 12.6})
    both(13.9, "a2", "MASTER", 100)
    for t in (14.0, 20.5):
        f.tick(t, {"a1": 9.99, "a2": t})
    moves = f.incidents("failover")
    assert moves and all(m.data["death_dated_by"] == "connection" for m in moves), [m.summary for m in moves]
