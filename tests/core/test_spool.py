"""The node's spool: numbering, folding hook+FIFO doubles, and keeping only reconciliations that are news."""

from pathlib import Path

from hamaster.core.events import vrrp_tag
from hamaster.minion.spool import NewEvent, Spool


def vrrp(ns: int, state: str, source: str, instance: str = "VI_1") -> NewEvent:
    return NewEvent(ns, "vrrp", vrrp_tag(instance, state), instance, state, 100, source)


def rows(spool: Spool) -> list[tuple]:
    return [(e.seq, e.state, e.source, e.data) for e in spool.unacked(0)]


def test_reconciliation_keeps_only_what_disagrees_and_remembers_across_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add([vrrp(1_000, "BACKUP", "fifo")])
    assert spool.add([vrrp(2_000, "BACKUP", "reconcile")]) == []  # keepalived agrees: nothing missed
    spool.close()
    spool = Spool(tmp_path)  # a daemon restart
    assert spool.add([vrrp(3_000, "BACKUP", "reconcile")]) == []
    assert spool.add([vrrp(4_000, "MASTER", "reconcile")]) == [2]  # a transition the hook and FIFO missed
    assert rows(spool)[-1] == (2, "MASTER", "reconcile", {"missed_after": "BACKUP"})
    spool.close()


def test_hook_and_fifo_reports_of_one_transition_are_linked(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add([vrrp(1_000_000_000, "MASTER", "fifo")])
    spool.add([vrrp(1_020_000_000, "MASTER", "hook")])  # the hook process starts 20 ms later
    spool.add([vrrp(9_000_000_000, "MASTER", "hook")])  # 8 s later: a new report, not the same transition
    assert rows(spool) == [(1, "MASTER", "fifo", {}), (2, "MASTER", "hook", {"duplicate_of": 1}),
                           (3, "MASTER", "hook", {})]
    spool.close()


def test_acked_events_leave_and_seqs_are_never_reused(tmp_path: Path) -> None:
    spool = Spool(tmp_path, n_masters=2)
    spool.add([vrrp(i, "BACKUP", "hook", f"VI_{i}") for i in range(1, 6)])
    spool.ack(0, [[1, 5]])
    assert spool.backlog() == 5  # master 1 has not acked yet
    spool.ack(1, [[1, 3]])
    assert [e.seq for e in spool.unacked(1)] == [4, 5] and list(spool.unacked(0)) == []
    spool.ack(1, [[4, 5]])
    assert spool.backlog() == 0
    assert spool.add([vrrp(10, "MASTER", "hook", "VI_9")]) == [6]
    spool.close()


def test_a_hook_that_comes_late_is_folded_into_the_fifo_transition_it_reports(tmp_path: Path) -> None:
    """keepalived runs notify scripts concurrently: node2's MASTER hook ran after its BACKUP hook (seen for real
    at start-up). The FIFO has the order; the late hook must not make node2 MASTER again."""
    spool = Spool(tmp_path)
    ms = 1_000_000
    spool.add([vrrp(4_304 * ms, "MASTER", "fifo")])
    spool.add([vrrp(4_322 * ms, "BACKUP", "fifo")])
    spool.add([vrrp(4_351 * ms, "BACKUP", "hook")])
    spool.add([vrrp(4_365 * ms, "MASTER", "hook")])
    assert rows(spool) == [(1, "MASTER", "fifo", {}), (2, "BACKUP", "fifo", {}),
                           (3, "BACKUP", "hook", {"duplicate_of": 2}), (4, "MASTER", "hook", {"duplicate_of": 1})]
    assert spool.add([vrrp(9_000 * ms, "BACKUP", "reconcile")]) == []  # the last word stays BACKUP
    spool.close()


def test_hook_transitions_in_quick_succession_ask_for_a_reconciliation(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add([vrrp(1_000_000_000, "MASTER", "hook")])
    assert not spool.hooks_raced
    spool.add([vrrp(5_000_000_000, "BACKUP", "hook")])  # 4 s later: plainly in order
    assert not spool.hooks_raced
    spool.add([vrrp(5_300_000_000, "MASTER", "hook")])  # 0.3 s later: the two may have run in either order
    assert spool.hooks_raced
    spool.close()
