"""The correlator, specified by scenarios (scenarios.py): events in, incidents out, on a real SQLite store."""

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from feeder import Feeder, ns
from scenarios import SCENARIOS

from hamaster.core.errors import ConfigError
from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store import incidents


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
