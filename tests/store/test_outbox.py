"""notify's outbox on the store (hamaster.master.store.outbox.OutboxStore) on both engines: claims that only
one connection wins, each target's deliveries in order, attempts and back-off as the outbox asks."""

from collections.abc import Callable

from hamaster.core.incidents import Incident
from hamaster.master import store
from hamaster.master.store import incidents, outbox, silences
from hamaster.master.store.outbox import OutboxStore

S = 1_000_000_000
T0 = 1_700_000_000 * S
CHAT, MAIL = "json://chat/hook", "mailto://ops"


def incident(conn: store.Connection, key: str, kind: str = "failover", at_s: float = 0, **kw: object) -> int:
    iid = incidents.insert(conn, Incident(kind, kw.pop("instance", "VI_1"), T0 + int(at_s * S),  # type: ignore[arg-type]
                                          f"{kind} happened", key, nodes=kw.pop("nodes", ["node1", "node2"]), **kw))
    conn.commit()
    assert iid is not None
    return iid


def route(box: OutboxStore, iid: int, now: int, *targets: tuple[str, str, str | None]) -> None:
    """What Outbox.route does: claim, then one row per (route, target, reason)."""
    assert box.claim_routing(iid, now)
    box.add_deliveries([(iid, r, t, "suppressed" if why else "pending", why, None if why else "title",
                         None if why else "body", now, now, None if why else now) for r, t, why in targets])


def test_an_incident_is_claimed_for_routing_once(opened: Callable[..., store.Connection]) -> None:
    a, b = OutboxStore(opened()), OutboxStore(opened())
    iid = incident(a.conn, "f:1")
    assert a.claim_routing(iid, T0)
    a.add_deliveries([(iid, "oncall", CHAT, "pending", None, "t", "b", T0, T0, T0)])  # commits the claim
    assert not b.claim_routing(iid, T0 + 1)
    b.abandon()
    routed = a.incident(iid)
    assert routed is not None and routed.routed_ns == T0


def test_each_target_gets_its_oldest_delivery_first_and_a_claim_is_won_once(
        opened: Callable[..., store.Connection]) -> None:
    a, b = OutboxStore(opened()), OutboxStore(opened())
    first, second = incident(a.conn, "f:1"), incident(a.conn, "f:2", at_s=1)
    route(a, first, T0, ("oncall", CHAT, None), ("oncall", MAIL, None))
    route(a, second, T0 + S, ("oncall", CHAT, None))
    due = a.due(T0 + S)
    assert sorted((d[1], d[2], d[6]) for d in due) == [(first, CHAT, "warning"), (first, MAIL, "warning")]
    chat = next(d[0] for d in due if d[2] == CHAT)
    assert a.claim_delivery(chat, T0 + S) and not b.claim_delivery(chat, T0 + S)
    assert [d[2] for d in b.due(T0 + S)] == [MAIL]  # the chat target waits for its delivery in flight
    assert b.next_due_ns() == T0

    def retry_in_5s(attempts: int) -> tuple[str, int | None]:
        return "pending", T0 + 5 * S

    assert a.record_attempt(chat, False, "HTTP 500", T0 + 2 * S, retry_in_5s) == "pending"
    assert a.due(T0 + 3 * S) == [d for d in a.due(T0 + 3 * S) if d[2] == MAIL]  # not due before its next try
    assert a.claim_delivery(chat, T0 + 6 * S)
    assert a.record_attempt(chat, True, None, T0 + 6 * S, lambda n: ("sent", None)) == "sent"
    assert [(d[1], d[2], d[5]) for d in a.due(T0 + 6 * S) if d[2] == CHAT] == [(second, CHAT, 0)]
    attempts = a.conn.execute("SELECT ok, error FROM delivery_attempts ORDER BY id").fetchall()
    assert [tuple(r) for r in attempts] == [(0, "HTTP 500"), (1, None)]
    assert sorted(outbox.counts(a.conn)) == [("pending", 2), ("sent", 1)]


def test_a_claim_whose_sender_died_is_given_back(conn: store.Connection) -> None:
    box = OutboxStore(conn)
    iid = incident(conn, "f:1")
    route(box, iid, T0, ("oncall", CHAT, None))
    (due,) = box.due(T0)
    assert box.claim_delivery(due[0], T0)
    assert box.due(T0 + S) == [] and box.next_due_ns() is None
    box.requeue_claimed_before(T0 + 1)
    assert [d[0] for d in box.due(T0 + S)] == [due[0]]


def test_what_routing_reads(conn: store.Connection) -> None:
    box = OutboxStore(conn)
    failover = incident(conn, "f:1", data={"old_holder": "node1"})
    flap = incident(conn, "fl:1", kind="flapping", at_s=2)
    incident(conn, "ns:1", kind="node_silent", at_s=3, instance=None, nodes=["node1"])
    incident(conn, "nb:1", kind="node_back", at_s=4, instance=None, nodes=["node1"])
    incident(conn, "ns:2", kind="node_silent", at_s=5, instance=None, nodes=["node2"])
    route(box, failover, T0, ("oncall", CHAT, None), ("quiet", MAIL, "silenced"))
    assert box.routes_delivered(failover) == {"oncall"}
    assert box.open_flapping("VI_1", other_than=failover) == flap
    assert box.open_flapping("VI_1", other_than=flap) is None
    assert box.open_flapping("VI_1", other_than=None) == flap
    assert box.open_flapping("VI_2", other_than=None) is None
    assert box.incidents_alerted_since("oncall", T0 - 1) == 1 and box.incidents_alerted_since("quiet", T0 - 1) == 0
    assert box.failovers_since(T0) == [(failover, {"old_holder": "node1"})]
    assert box.failovers_since(T0 + 1) == []
    assert (box.last_liveness("node1"), box.last_liveness("node2"), box.last_liveness("node3")) == (
        "node_back", "node_silent", None)
    sid = silences.add(conn, None, "node1", T0, T0 + 10 * S, "maintenance", T0)
    assert box.silences_in_force(T0 + S) == [(sid, None, "node1", T0 + 10 * S, "maintenance")]
    assert box.take_unrouted(T0 + 3 * S) == [incidents.id_of(conn, k) for k in ("ns:1", "nb:1", "ns:2")]
    rows = list(outbox.timeline_rows(conn, T0, T0 + S))
    assert sorted((r[2], r[3], r[4], r[10]) for r in rows) == [("oncall", CHAT, "pending", '["node1", "node2"]'),
                                                               ("quiet", MAIL, "suppressed", '["node1", "node2"]')]
