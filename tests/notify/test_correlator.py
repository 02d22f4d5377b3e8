"""The correlator, specified by scenarios (scenarios.py): events in, incidents out, on a real SQLite store."""

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scenarios import SCENARIOS

from hamaster.errors import ConfigError
from hamaster.events import Event, vrrp_tag
from hamaster.master import incidents, store
from hamaster.master.correlator import Correlator
from hamaster.master.incidents import Incident

T0 = 1_750_000_000 * 10**9
S = 10**9


def ns(seconds: float) -> int:
    return T0 + round(seconds * S)


class Feeder:
    """Stores events as the daemon does (one commit per batch) and hands them to the correlator."""

    def __init__(self, conn: sqlite3.Connection, correlator: Correlator) -> None:
        self.conn, self.c = conn, correlator
        self.seq: dict[str, int] = {}
        self.new: list[int] = []

    def event(self, t: float, minion: str, state: str, prio: int | None, data: dict[str, Any] | None = None) -> None:
        self.seq[minion] = self.seq.get(minion, 0) + 1
        ev = Event(self.seq[minion], ns(t), "vrrp", vrrp_tag("VI_1", state), "VI_1", state, prio, "hook",
                   data or {})
        stored = store.insert_events(self.conn, minion, ns(t), [ev])
        self.conn.commit()
        self.new += self.c.feed(stored)

    def run(self, steps: list[tuple[Any, ...]]) -> None:
        for kind, *args in steps:
            if kind in ("ev", "late"):
                self.event(*args)
            elif kind == "dup":
                self.event(*args, data={"duplicate_of": self.seq[args[1]]})
            else:
                now, seen = args
                self.new += self.c.tick(ns(now), {m: ns(t) for m, t in seen.items()})


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(tmp_path / "store.db")
    yield c
    c.close()


def field_of(inc: Incident, name: str) -> Any:
    return getattr(inc, name) if hasattr(inc, name) else inc.data.get(name)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(conn: sqlite3.Connection, name: str) -> None:
    steps, expected = SCENARIOS[name]
    feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10))
    feeder.run(steps)
    got = sorted(incidents.query(conn), key=lambda i: i.id)  # in the order they were derived
    assert [i.kind for i in got] == [kind for kind, _ in expected], [i.summary for i in got]
    assert sorted(feeder.new) == [i.id for i in got], "every incident is announced exactly once"
    for inc, (_, fields) in zip(got, expected, strict=True):
        for key, want in fields.items():
            value = field_of(inc, key)
            if want == "set":
                assert value is not None, (key, inc)
            elif key == "summary":
                assert want in value, inc.summary
            else:
                assert value == want, (key, inc)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rederiving_history_adds_nothing(conn: sqlite3.Connection, name: str) -> None:
    """A restarted master (or a second one) replays the same events: same rows, no new ids to alert."""
    steps, _ = SCENARIOS[name]
    Feeder(conn, Correlator(conn, {}, silent_after_s=10)).run(steps)
    before = [(i.id, i.dedup_key, i.ended_ns) for i in incidents.query(conn)]
    again = Correlator(conn, {}, silent_after_s=10)
    again.replay(0)
    assert again.feed(list(store.query_events(conn))) == []
    assert [(i.id, i.dedup_key, i.ended_ns) for i in incidents.query(conn)] == before


def test_replay_marks_old_incidents_routed_and_leaves_recent_ones(conn: sqlite3.Connection) -> None:
    steps, _ = SCENARIOS["fault_on_node1_then_master_on_node2"]
    feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10))
    feeder.c.feed = lambda events: []  # type: ignore[method-assign]  # store only: the master died before correlating
    feeder.run(steps)
    Correlator(conn, {}, silent_after_s=10).replay(0)
    (failover,) = incidents.query(conn)
    assert failover.routed_ns is not None, "an incident from 2025 is history, not news"


def test_incident_during_apply_job_is_planned(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO jobs (jid, started_ns, finished_ns, targets, test) VALUES (?,?,?,?,0)",
                 ("20250615-abc", ns(4), ns(5.2), '["node1"]'))
    steps, _ = SCENARIOS["fault_on_node1_then_master_on_node2"]
    Feeder(conn, Correlator(conn, {}, silent_after_s=10)).run(steps)
    (failover,) = incidents.query(conn)
    assert failover.planned and failover.job_id == "20250615-abc"


def test_group_by_vip_joins_differently_named_instances(conn: sqlite3.Connection) -> None:
    settings = {"group_by": "vip", "instances": {"VI_1": {"vip": "10.0.0.100"}}}
    feeder = Feeder(conn, Correlator(conn, settings, silent_after_s=10))
    feeder.run(SCENARIOS["fault_on_node1_then_master_on_node2"][0])
    (failover,) = incidents.query(conn)
    assert failover.instance == "10.0.0.100"
    assert failover.summary.startswith("VIP 10.0.0.100 moved node1 -> node2")


@pytest.mark.parametrize(("settings", "message"), [
    ({"group_by": "mac"}, "correlator.group_by"),
    ({"flapping_window_s": "ten"}, "correlator.flapping_window_s"),
    ({"thresholds": 1}, "correlator.thresholds: unknown field"),
])
def test_bad_settings_are_named(conn: sqlite3.Connection, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Correlator(conn, settings, silent_after_s=10)
