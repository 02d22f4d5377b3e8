"""Through the real master (ZeroMQ, CURVE, the store on disk): heartbeats measure a minion's clock, and an
accepted minion's impossible node times are replaced and marked instead of blinding its group."""

import math
import time
from typing import Any

import msgpack
import zmq
from sitelib import Site, dealer_of, wait_for

from hamaster.core import protocol

S = 10**9


class FakeMinion:
    """A minion on a clock `ahead_s` fast: pings as haminion does (with the last exchange), sends events."""

    def __init__(self, ctx: zmq.Context, site: Site, minion: str, ahead_s: float = 0.0) -> None:
        self.sock, self.ahead = dealer_of(ctx, site, minion), round(ahead_s * S)
        self.ntp: list[int] | None = None
        self.seq = 0

    def clock(self) -> int:
        return time.time_ns() + self.ahead

    def beat(self) -> None:
        self.sock.send(protocol.encode("ping", ts=self.clock(), **({"ntp": self.ntp} if self.ntp else {})))
        assert self.sock.poll(10_000), "no pong"
        msg = protocol.decode(self.sock.recv())
        while msg["t"] != "pong":
            msg = protocol.decode(self.sock.recv())
        self.ntp = [msg["ts"], msg["rx"], msg["tx"], self.clock()]

    def hello(self, started_ns: int, first_seq: int) -> None:
        self.sock.send(protocol.encode("hello", grains={"id": "x", "run": {"started_ns": started_ns,
                                                                           "first_seq": first_seq}}, backlog=0))

    def send(self, state: str, node_ns: Any = None, prio: int = 100, source: str = "hook") -> None:
        self.seq += 1
        event = {"seq": self.seq, "node_ns": self.clock() if node_ns is None else node_ns, "kind": "vrrp",
                 "tag": f"vrrp/VI_1/{state}", "instance": "VI_1", "state": state, "priority": prio,
                 "source": source, "data": {}}
        self.sock.send(msgpack.packb({"v": 1, "t": "events", "events": [event]}, use_bin_type=True))

    def close(self) -> None:
        self.sock.close()


def test_a_minion_5_s_fast_is_measured_from_its_heartbeats(site: Site) -> None:
    site.start_master()
    ctx = zmq.Context()
    fast = FakeMinion(ctx, site, "node2", ahead_s=5.0)
    try:
        for _ in range(10):
            fast.beat()
            time.sleep(0.05)
        fast.send("BACKUP")
        rows = wait_for(lambda: site.query("SELECT summary, data FROM incidents WHERE kind = 'clock_offset'"), 20,
                        "the clock_offset incident")
    finally:
        fast.close()
        ctx.term()
    import json

    [(summary, data)] = rows
    assert summary == "node node2's clock is 5.0 s fast"
    offset = json.loads(data)["offset_ns"]
    assert abs(offset - 5 * S) < S // 10, offset  # the error is at most half a loopback round trip
    stored = "SELECT node_ns, master_ns FROM events WHERE minion = 'node2'"
    [(node_ns, master_ns)] = wait_for(lambda: site.query(stored), 20, "node2's event")
    assert node_ns - master_ns > 4 * S  # stored in the node's own clock: corrected where nodes are compared


def test_far_future_and_nan_node_times_are_replaced_and_a_later_failover_still_alerts(site: Site) -> None:
    site.start_master()
    ctx = zmq.Context()
    a, b = FakeMinion(ctx, site, "node1"), FakeMinion(ctx, site, "node2")
    try:
        for m in (a, b):
            m.beat()
        a.send("MASTER", prio=150)
        b.send("BACKUP")
        wait_for(lambda: site.count() == 2, 20, "the first two transitions")
        a.send("MASTER", node_ns=time.time_ns() + 3600 * S, prio=150)  # a peer 1 h fast, for one event
        b.send("BACKUP", node_ns=math.nan)
        wait_for(lambda: site.count() == 4, 20, "the two events with impossible times")
        time.sleep(0.3)
        a.send("FAULT", prio=150)
        time.sleep(0.4)
        b.send("MASTER")
        failover = wait_for(lambda: site.query("SELECT summary FROM incidents WHERE kind = 'failover'"), 20,
                            "the failover")
    finally:
        a.close()
        b.close()
        ctx.term()
    assert "node1 -> node2" in failover[0][0]
    marked = site.query("SELECT minion, node_ns - master_ns, data FROM events WHERE data LIKE '%node_time_replaced%'"
                        " ORDER BY minion")
    assert [m for m, _, _ in marked] == ["node1", "node2"]
    assert all(abs(skew) < S for _, skew, _ in marked)
    assert "not a time" in marked[1][2] and "nan" in marked[1][2]


def test_what_a_minion_made_before_it_started_is_impossible_what_its_hook_spooled_meanwhile_is_not(site: Site) -> None:
    site.start_master()
    ctx = zmq.Context()
    m = FakeMinion(ctx, site, "node1")
    started = time.time_ns()
    hour_ago = started - 3600 * S
    try:
        m.beat()
        m.send("BACKUP", node_ns=hour_ago - S, source="fifo")  # seq 1: spooled by the run before this one
        m.hello(started, first_seq=2)
        m.send("BACKUP", node_ns=hour_ago, source="hook")  # the hook ran while the minion was down: fine
        m.send("MASTER", node_ns=hour_ago + S, source="fifo")  # a FIFO line of this run, an hour before it
        wait_for(lambda: site.count() == 3, 20, "the three events")
    finally:
        m.close()
        ctx.term()
    rows = site.query("SELECT seq, node_ns, master_ns, data FROM events WHERE minion = 'node1' ORDER BY seq")
    assert [(seq, node_ns) for seq, node_ns, _, _ in rows[:2]] == [(1, hour_ago - S), (2, hour_ago)]
    _, node_ns, master_ns, data = rows[2]
    assert abs(node_ns - master_ns) < S and "before its minion started" in data and str(hour_ago + S) in data
