"""Two masters' notifiers on one PostgreSQL store: an incident is routed by one, a delivery sent by one."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.store import incidents
from hamaster.master.store.outbox import OutboxStore
from hamaster.notify import config
from hamaster.notify.outbox import CLAIM_TIMEOUT_S, Outbox
from hamaster.notify.reactor import Reactor
from hamaster.notify.render import Renderer

S = 1_000_000_000


def outbox(conn: Any) -> Outbox:
    cfg = config.load({"targets": [{"url": "json://127.0.0.1:9/hook", "tags": ["chat"]}]}, "master.yaml", Path("."))
    return Outbox(OutboxStore(conn), cfg, Renderer({}), Reactor([], {r.name for r in cfg.routes}))


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[Any, Any]]:
    a, b = store.connect(pg_url), store.connect(pg_url)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def failover(conn: Any) -> int:
    iid = incidents.insert(conn, Incident("failover", "VI_1", now_ns(), "VI_1 moved node1 -> node2",
                                          "failover:VI_1:node2:7", nodes=["node1", "node2"]))
    conn.commit()
    assert iid is not None
    return iid


def test_an_incident_both_masters_route_gets_one_set_of_deliveries(two: tuple[Any, Any]) -> None:
    a, b = two
    iid = failover(a)
    box_a, box_b = outbox(a), outbox(b)
    assert box_a.route(iid, now_ns()) == 1
    assert box_b.route(iid, now_ns()) == 0
    (count,) = b.execute("SELECT COUNT(*) FROM deliveries").fetchone()
    assert count == 1


def test_a_delivery_is_claimed_by_one_notifier_and_given_back_when_its_sender_died(two: tuple[Any, Any]) -> None:
    a, b = two
    box_a, box_b = outbox(a), outbox(b)
    box_a.route(failover(a), now_ns())
    now = now_ns()
    mine = box_a.due(now, set())
    assert len(mine) == 1
    assert box_b.due(now, set()) == []  # claimed: b must not send it too
    assert box_b.next_due_ns() is None  # and does not spin on it

    later = now + (CLAIM_TIMEOUT_S + 1) * S  # a's process died mid-send
    (again,) = box_b.due(later, set())
    assert again.id == mine[0].id
    assert box_b.record(again.id, True, None, later) == "sent"
    assert box_a.due(later, set()) == []


def test_a_critical_delivery_given_up_falls_back_and_is_counted_on_postgresql(two: tuple[Any, Any]) -> None:
    from hamaster.master.store.outbox import failed_critical

    a, _ = two
    cfg = config.load({"targets": [{"url": "json://127.0.0.1:9/hook", "tags": ["chat"]},
                                   {"url": "json://127.0.0.1:9/pager", "tags": ["pager"]}],
                       "routes": [{"name": "oncall", "tags": ["chat"], "fallback": "pager"},
                                  {"name": "pager", "tags": ["pager"], "kinds": []}]}, "master.yaml", Path("."))
    box = Outbox(OutboxStore(a), cfg, Renderer({}), Reactor([], {r.name for r in cfg.routes}))
    iid = incidents.insert(a, Incident("split_brain", "VI_1", now_ns(), "VI_1: 2 MASTERs at once", "split:VI_1:1",
                                       nodes=["node1", "node2"], severity="critical"))
    a.commit()
    assert iid is not None and box.route(iid, now_ns()) == 1
    (due,) = box.due(now_ns(), set())
    assert box.record(due.id, False, "refused", now_ns(), final=True) == "failed"
    rows = a.execute("SELECT route, status, last_error FROM deliveries ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("oncall", "failed", "refused; fallback: route pager, 1 target(s)"),
                                        ("pager", "pending", None)]
    count, last = failed_critical(a)
    assert count == 1 and last is not None and last[4:7] == ("oncall", due.target.masked, rows[0][2])
