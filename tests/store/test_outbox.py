"""notify's outbox on the store (hamaster.master.store.outbox.OutboxStore) on both engines: claims that only
one connection wins, each target's deliveries in order, attempts and back-off as the outbox asks."""

from collections.abc import Callable

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
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


def claimed_by(conn: store.Connection) -> list[tuple[str, str | None]]:
    return [tuple(r) for r in conn.execute("SELECT status, claimed_by FROM deliveries ORDER BY id")]


def test_a_claim_names_its_master_and_is_taken_back_once_that_master_stops_beating(
        opened: Callable[..., store.Connection]) -> None:
    a, b = OutboxStore(opened(), owner="a"), OutboxStore(opened(), owner="b")
    iid = incident(a.conn, "f:1")
    route(a, iid, T0, ("oncall", CHAT, None))
    a.beat(T0)
    (due,) = a.due(T0)
    assert a.claim_delivery(due[0], T0)
    assert claimed_by(b.conn) == [("sending", "a")]
    lease = outbox.LEASE_S * S
    for now in (T0 + S, T0 + lease, T0 + 3 * lease):  # a lives: its claim stays, however long its send takes
        a.beat(now)
        b.beat(now)
        assert b.take_back_lost_claims(now + lease, T0 - 1) == 0  # at the lease's last moment too
        assert b.due(now) == [] and claimed_by(b.conn) == [("sending", "a")]
    dead = T0 + 3 * lease + 1  # a's last beat was at 3 leases: it dies there
    b.beat(dead + lease)
    if not b.conn.dialect.shared:  # one master's store: claims go back when the next run starts, not before
        assert b.take_back_lost_claims(dead + lease, T0 - 1) == 0
        assert outbox.take_back_claims(b.conn) == 1
    else:
        assert b.take_back_lost_claims(dead + lease, T0 - 1) == 1
    assert claimed_by(b.conn) == [("pending", None)]
    assert [d[0] for d in b.due(dead + lease)] == [due[0]] and b.claim_delivery(due[0], dead + lease)
    assert claimed_by(a.conn) == [("sending", "b")]


def test_a_master_that_stops_gives_back_its_claims_and_leaves_the_masters(
        opened: Callable[..., store.Connection]) -> None:
    a, b = OutboxStore(opened(), owner="a"), OutboxStore(opened(), owner="b")
    iid = incident(a.conn, "f:1")
    route(a, iid, T0, ("oncall", CHAT, None), ("oncall", MAIL, None))
    a.beat(T0)
    b.beat(T0)
    chat, mail = sorted(d[0] for d in a.due(T0))
    assert a.claim_delivery(chat, T0) and b.claim_delivery(mail, T0)
    a.close()
    assert claimed_by(b.conn) == [("pending", None), ("sending", "b")]
    beating = [r[0] for r in b.conn.execute("SELECT id FROM masters")]
    assert beating == (["b"] if b.conn.dialect.shared else [])  # SQLite: one master's, nobody beats


def test_a_claim_that_names_no_master_waits_for_its_timeout(conn: store.Connection) -> None:
    box = OutboxStore(conn, owner="a")
    iid = incident(conn, "f:1")
    route(box, iid, T0, ("oncall", CHAT, None))
    (due,) = box.due(T0)
    assert box.claim_delivery(due[0], T0)
    conn.execute("UPDATE deliveries SET claimed_by = NULL")  # claimed by a hamaster of schema version 1
    conn.commit()
    assert box.due(T0 + S) == [] and box.next_due_ns() is None
    assert box.take_back_lost_claims(T0 + S, T0) == 0  # nobody beats: still not taken before its timeout
    assert box.take_back_lost_claims(T0 + S, T0 + 1) == 1
    assert [d[0] for d in box.due(T0 + S)] == [due[0]]


def test_at_start_a_store_of_one_master_takes_back_every_claim(conn: store.Connection) -> None:
    box = OutboxStore(conn, owner="a")
    iid = incident(conn, "f:1")
    route(box, iid, T0, ("oncall", CHAT, None))
    box.beat(now_ns())
    (due,) = box.due(T0)
    assert box.claim_delivery(due[0], T0)
    # on PostgreSQL "a" beats (it lives), so its claim is kept; on SQLite only one master runs: it is over
    assert outbox.take_back_claims(conn) == (0 if conn.dialect.shared else 1)


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
