"""Late transitions (older than their group's newest): placed by node time, cheaply, with the incidents the
whole history gives, and history bounded by node time.

The specification of a late transition is the simple algorithm: put it in its place and rebuild the group
from all of its history (the transitions of one intake batch together, then one rebuild). `Rebuilt` is that
algorithm over the same state machine; the group's snapshots must store what it stores, on any stream."""

import random
import sqlite3
import sys
from collections import deque
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from feeder import Feeder, ns

from hamaster.core.events import Event, StoredEvent, vrrp_tag
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.correlate.vrrp_group import SNAPSHOT_EVERY, Group, Op, Transition

NODES = ("node1", "node2", "node3")


class Rebuilt(Group):
    """The reference: a late transition rebuilds the group from a fresh state over the whole history."""

    def add(self, trs: list[Transition]) -> list[Op]:
        new = sorted(set(trs) - set(self.history))
        if self.history and new and new[0] < self.history[-1]:
            self.history = sorted(self.history + new)
            self.members, self.holder, self.lost, self.split = {}, None, None, None
            self.flaps, self.flapping, self.flap_total = deque(), None, 0
            return [op for tr in self.history for op in self.apply(tr)]
        self.history += new
        return [op for tr in new for op in self.apply(tr)]


class Reference(Correlator):
    def _group_of(self, minion: str, instance: str, data: dict) -> Group:
        if instance not in self.groups:
            self.groups[instance] = Rebuilt(instance, None, self.s, self.known)
        return self.groups[instance]


def stream(rng: random.Random, count: int) -> list[StoredEvent]:
    """Events of three nodes about 0.4 s apart (a busy, flapping group)."""
    seqs = dict.fromkeys(NODES, 0)
    out, t = [], ns(0)
    for i in range(count):
        t += rng.randrange(1, 800_000_000)
        node = rng.choice(NODES)
        seqs[node] += 1
        state = rng.choice(("MASTER", "MASTER", "BACKUP", "BACKUP", "FAULT"))
        ev = Event(seqs[node], t, "vrrp", vrrp_tag("VI_1", state), "VI_1", state, rng.choice((99, 100, 101)))
        out.append(StoredEvent(i + 1, node, t, ev))
    return out


def arrivals(rng: random.Random, events: list[StoredEvent], displacement: int, batch: int) -> list[list[StoredEvent]]:
    """`events` arriving out of order (each up to `displacement` places later) in batches of up to `batch`."""
    shuffled = sorted(events, key=lambda se: se.id + rng.uniform(0, displacement))
    out = []
    while shuffled:
        n = rng.randint(1, batch)
        out.append(shuffled[:n])
        del shuffled[:n]
    return out


def derived(conn: sqlite3.Connection) -> list[tuple]:
    return sorted(conn.execute("SELECT dedup_key, kind, severity, started_ns, ended_ns, nodes, summary, data"
                               " FROM incidents"))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("displacement", "batch"), [(3, 1), (40, 1), (200, 1), (40, 8), (200, 50)])
def test_snapshots_store_what_a_full_rebuild_stores(tmp_path: Path, seed: int, displacement: int,
                                                     batch: int) -> None:
    rng = random.Random(seed)
    batches = arrivals(rng, stream(rng, 6 * SNAPSHOT_EVERY), displacement, batch)
    fast_db, slow_db = store.connect(tmp_path / "fast.db"), store.connect(tmp_path / "slow.db")
    try:
        fast, slow = Correlator(fast_db, {}, silent_after_s=10), Reference(slow_db, {}, silent_after_s=10)
        for events in batches:
            fast.feed(events)
            slow.feed(events)
        assert derived(fast_db) == derived(slow_db)
        (group,), (reference,) = fast.groups.values(), slow.groups.values()
        assert group.history == reference.history
        assert (group.members, group.holder, group.lost, group.split, group.flapping) == (
            reference.members, reference.holder, reference.lost, reference.split, reference.flapping)
    finally:
        fast_db.close()
        slow_db.close()


def long_history(handovers: int) -> list[tuple]:
    """A pair handing the VIP over cleanly every 30 s (a failover each time, never flapping)."""
    steps: list[tuple] = [("ev", 0.0, "node1", "MASTER", 101), ("ev", 0.1, "node2", "BACKUP", 100)]
    for i in range(1, handovers + 1):
        old, new = ("node1", "node2") if i % 2 else ("node2", "node1")
        steps += [("ev", 30.0 * i, old, "BACKUP", 99), ("ev", 30.0 * i + 0.5, new, "MASTER", 100)]
    return steps


def stored(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT dedup_key, kind, started_ns, summary, data FROM incidents ORDER BY id").fetchall()


def test_a_late_fault_after_a_long_history_gives_what_in_order_gives(tmp_path: Path) -> None:
    start = 30.0 * 201 + 60  # node1 holds after 200 handovers, 100 minutes of them
    tail = [("ev", start + 5.0, "node1", "FAULT", 101), ("ev", start + 5.6, "node2", "MASTER", 100)]
    results = []
    for name, last in (("in_order", tail), ("late", tail[::-1])):
        conn = store.connect(tmp_path / f"{name}.db")
        try:
            feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10))
            feeder.run(long_history(200) + last)
            (group,) = feeder.c.groups.values()
            # trimmed a snapshot at a time: the late window (600 s) and up to two snapshots' worth (15 s each)
            span = group.history[-1].node_ns - group.history[0].node_ns
            assert span <= (600 + 2 * SNAPSHOT_EVERY * 15) * 10**9 and len(group.history) < 404 / 3
            results.append(stored(conn))
        finally:
            conn.close()
    assert results[0] == results[1]
    *_, failover = results[1]
    assert "node1 FAULT" in failover[3] and "in 600 ms" in failover[3]


def test_a_transition_older_than_the_late_window_is_stored_but_decides_nothing(conn: sqlite3.Connection) -> None:
    feeder = Feeder(conn, Correlator(conn, {"late_window_s": 60}, silent_after_s=10))
    feeder.run([*long_history(10), ("late", 30.0 * 10 + 0.2, "node2", "FAULT", 100)])  # 0.3 s late: placed
    (group,) = feeder.c.groups.values()
    assert group.members["node2"].state == "FAULT"
    before, state = stored(conn), (dict(group.members), group.holder, group.history[:])
    feeder.run([("late", 200.0, "node1", "FAULT", 101)])  # 100 s older than the newest: too late
    assert stored(conn) == before
    assert (group.members, group.holder, group.history) == state
    assert conn.execute("SELECT count(*) FROM events WHERE minion = 'node1' AND state = 'FAULT'").fetchone() == (1,)
