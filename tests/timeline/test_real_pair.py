"""The timeline of a run of the real keepalived pair (fixtures/real_pair.yaml, recorded from `hamaster demo`
by record_fixture.py): golden table, json and markdown, and the facts an operator reads in it.

What happened (node1 priority 102 with its check script's weight, node2 101; both start BACKUP):
  02:07:08  apply states/ to both; node2 MASTER first, node1 preempts 92 ms later (a planned split brain)
  02:07:17  nginx stopped on node1: the check script starts it again, the VIP stays
  02:07:19  node1 switched off: node2 takes the VIP 2.9 s after node1 was last heard; node1's FAULT,
            spooled in the dark, arrives when it boots (3.4 s late)
  02:07:22  node1 boots, comes back BACKUP, preempts at 02:07:26
  02:07:38  keepalived stopped on node1 (STOP): node2 MASTER 606 ms later

Regenerate the golden files after an intended change of output, and read their diff before committing:

    HAMASTER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/timeline/test_real_pair.py
"""

import io
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from record_fixture import Shift, load, record
from scenario import at

from hamaster.master import store
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "real_pair.yaml"
UPDATE = os.environ.get("HAMASTER_UPDATE_GOLDEN") == "1"
SUFFIX = {"table": "txt", "json": "jsonl", "markdown": "md"}
DAY = "2024-05-14"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    load(FIXTURE, tmp_path / "store.db")
    c = store.connect(tmp_path / "store.db", readonly=True)
    yield c
    c.close()


@pytest.fixture
def rows(conn: sqlite3.Connection) -> list[tl.Row]:
    return list(tl.timeline(conn, tl.Query()))


def incident(rows: list[tl.Row], iid: int) -> tl.IncidentRow:
    return next(r for r in rows if isinstance(r, tl.IncidentRow) and r.id == iid)


def vrrp(rows: list[tl.Row], node: str, to_state: str) -> list[tl.EventRow]:
    return [r for r in rows if isinstance(r, tl.EventRow) and r.kind == "vrrp" and r.node == node
            and r.to_state == to_state]


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_output_matches_golden(conn: sqlite3.Connection, fmt: str) -> None:
    out = io.StringIO()
    tf.write(tl.timeline(conn, tl.Query()), out, fmt, tf.parse_tz("+08:00"), title="Timeline: the real pair")
    golden = HERE / "golden" / f"real_pair.{SUFFIX[fmt]}"
    if UPDATE:
        golden.write_text(out.getvalue(), encoding="utf-8")
    assert out.getvalue() == golden.read_text(encoding="utf-8")


def test_each_node_went_through_its_transitions_in_order(rows: list[tl.Row]) -> None:
    def transitions(node: str) -> list[tuple[str | None, str | None]]:
        return [(r.from_state, r.to_state) for r in rows
                if isinstance(r, tl.EventRow) and r.kind == "vrrp" and r.node == node]

    assert transitions("node1") == [
        (None, "BACKUP"), ("BACKUP", "MASTER"),  # start; preempts node2
        ("MASTER", "FAULT"),  # switched off: its interface went dark first
        ("FAULT", "BACKUP"), ("BACKUP", "MASTER"),  # booted; preempts again
        ("MASTER", "STOP"),  # keepalived stopped
    ]
    assert transitions("node2") == [
        (None, "BACKUP"), ("BACKUP", "MASTER"), ("MASTER", "BACKUP"),  # the short split brain at start
        ("BACKUP", "MASTER"), ("MASTER", "BACKUP"),  # holds the VIP while node1 is off
        ("BACKUP", "MASTER"),  # takes over from the stopped keepalived
    ]


def test_hook_and_fifo_reports_of_one_transition_are_one_row(rows: list[tl.Row]) -> None:
    doubled = [r for r in rows if isinstance(r, tl.EventRow) and r.kind == "vrrp" and len(r.ids) == 2]
    assert [(r.node, r.to_state) for r in doubled if r.sources == ("hook", "fifo")] == [("node1", "BACKUP")]
    assert len(doubled) == 12 - 1  # all 12 transitions but node1's FAULT (the node was off); FIFO first in 10


def test_the_fault_spooled_while_node1_was_off_is_placed_by_node_time(rows: list[tl.Row]) -> None:
    (fault,) = vrrp(rows, "node1", "FAULT")
    assert fault.sources == ("fifo",)  # the hook's report never ran: the node was off
    assert fault.at_ns == at(DAY, "02:07:19.321309") and fault.master_ns == at(DAY, "02:07:22.731349")
    takeover = vrrp(rows, "node2", "MASTER")[1]
    assert rows.index(fault) < rows.index(takeover)  # before node2's takeover, though it arrived after it
    assert not fault.late  # 3.4 s in the spool is under the 5 s (tl.LATE_NS) from which a row is marked late


def test_the_dead_node_failover_gap_runs_from_node1_last_heard_to_node2_master(rows: list[tl.Row]) -> None:
    silent, failover = incident(rows, 3), incident(rows, 6)
    assert (silent.kind, failover.kind) == ("node_silent", "failover")
    takeover = vrrp(rows, "node2", "MASTER")[1]
    assert failover.at_ns == takeover.at_ns
    assert failover.gap_ns is not None
    assert abs(failover.gap_ns - (takeover.at_ns - silent.at_ns)) < 1000  # fixture times are whole µs
    assert 2.5e9 < failover.gap_ns < 3.5e9  # 3 x advert_int, less the time node1 was already silent
    assert failover.data["old_holder"] == "node1" and failover.data["new_holder"] == "node2"


def test_the_stop_failover_gap_runs_from_node1_stop_to_node2_master(rows: list[tl.Row]) -> None:
    failover = incident(rows, 10)
    (stop,) = vrrp(rows, "node1", "STOP")
    last = vrrp(rows, "node2", "MASTER")[-1]
    assert failover.gap_ns is not None
    assert abs(failover.gap_ns - (last.at_ns - stop.at_ns)) < 1000
    assert failover.data["cause_state"] == "STOP"


def test_one_failover_alert_per_failover_and_route(rows: list[tl.Row]) -> None:
    failovers = [r for r in rows if isinstance(r, tl.IncidentRow) and r.kind == "failover"]
    assert [(f.id, f.planned) for f in failovers] == [(2, True), (6, False), (9, False), (10, False)]
    alerts = [r for r in rows if isinstance(r, tl.AlertRow)]
    for f in failovers:
        mine = sorted((a.route, a.status) for a in alerts if a.incident_id == f.id)
        if f.planned:  # caused by the apply job: recorded, not sent
            assert mine == [("chat", "suppressed"), ("mail", "suppressed")]
        else:  # the last mail was still queued (apprise's mail rate limit) when the demo ended
            assert [route for route, _ in mine] == ["chat", "mail"]
            assert all(status in ("sent", "pending") for _, status in mine)
    (folded,) = [a for a in alerts if a.incident_id == 3]  # node_silent: no alert of its own
    assert folded.status == "suppressed" and folded.error == "folded into failover #6: its alert names the silent node"


def test_the_fixture_holds_what_the_store_holds(conn: sqlite3.Connection) -> None:
    """Recorded again from the store it was loaded into, the fixture is the same: nothing was lost on the way."""
    assert yaml.safe_load(record(conn)) == yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def test_delivery_targets_in_the_fixture_hold_no_secret() -> None:
    fx = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    assert fx["deliveries"] and all("@" not in d["target"].split("/")[2] for d in fx["deliveries"])


def test_recording_moves_times_in_text_once(tmp_path: Path) -> None:
    s = Shift(-17 * 3600 * 10**9)
    assert s.text("no MASTER since 19:07:19 UTC (incident at 2026-11-24 19:07:19 UTC), apply job "
                  "20261124190708-60835f, key silent@1795547239285794327, 3 s") == (
        "no MASTER since 02:07:19 UTC (incident at 2026-11-24 02:07:19 UTC), apply job "
        "20261124020708-60835f, key silent@1795486039285794327, 3 s")


def test_recording_refuses_a_target_with_a_password_in_clear(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "store.db")
    try:
        conn.execute("INSERT INTO deliveries (id, route, target, status, created_ns, updated_ns)"
                     " VALUES (1, 'mail', 'mailto://ops:hunter2@mail.example.com', 'sent', ?, ?)",
                     (at(DAY, "02:00:00"), at(DAY, "02:00:01")))
        with pytest.raises(ValueError, match="password in clear") as caught:
            record(conn)
        assert "hunter2" not in str(caught.value)
    finally:
        conn.close()
