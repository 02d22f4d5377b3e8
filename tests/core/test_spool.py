"""The node's spool: numbering, folding hook+FIFO doubles, and keeping only reconciliations that are news."""

from pathlib import Path

from hamaster.core.events import vrrp_tag
from hamaster.minion.spool import NewEvent, Spool


def vrrp(ns: int, state: str, source: str, instance: str = "VI_1") -> NewEvent:
    return NewEvent(ns, "vrrp", vrrp_tag(instance, state), instance, state, 100, source)


def rows(spool: Spool) -> list[tuple]:
    """The spool's VRRP events, numbered from 1 after the spool's own first event (minion/spool/new)."""
    first = spool.identity["first_seq"]
    return [(e.seq - first, e.state, e.source, {k: v - first if k == "duplicate_of" else v for k, v in e.data.items()})
            for e in spool.unacked(0) if e.kind == "vrrp"]


def test_reconciliation_keeps_only_what_disagrees_and_remembers_across_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.add([vrrp(1_000, "BACKUP", "fifo")])
    assert spool.add([vrrp(2_000, "BACKUP", "reconcile")]) == []  # keepalived agrees: nothing missed
    spool.close()
    spool = Spool(tmp_path)  # a daemon restart
    assert spool.add([vrrp(3_000, "BACKUP", "reconcile")]) == []
    assert spool.add([vrrp(4_000, "MASTER", "reconcile")]) == [spool.identity["first_seq"] + 2]  # one both missed
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
    s0 = spool.identity["first_seq"]  # the spool's own first event, minion/spool/new
    spool.add([vrrp(i, "BACKUP", "hook", f"VI_{i}") for i in range(1, 6)])
    spool.ack(0, [[s0, s0 + 5]])
    assert spool.backlog() == 6  # master 1 has not acked yet
    spool.ack(1, [[s0, s0 + 3]])
    assert [e.seq - s0 for e in spool.unacked(1)] == [4, 5] and list(spool.unacked(0)) == []
    spool.ack(1, [[s0 + 4, s0 + 5]])
    assert spool.backlog() == 0
    assert spool.add([vrrp(10, "MASTER", "hook", "VI_9")]) == [s0 + 6]
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


def test_a_new_spool_has_an_identity_numbers_from_its_birth_and_says_so_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ident = spool.identity
    assert ident["first_seq"] == ident["created_ns"] // 1000
    first = list(spool.unacked(0))
    assert [(e.seq, e.kind, e.tag, e.data) for e in first] == [
        (ident["first_seq"], "minion", "minion/spool/new", {"spool": ident["id"]})]
    assert spool.add([vrrp(1, "MASTER", "hook")]) == [ident["first_seq"] + 1]
    spool.close()
    again = Spool(tmp_path)  # a restart keeps the identity and does not announce itself again
    assert again.identity == ident and len(list(again.unacked(0))) == 2
    again.close()


def test_a_wiped_spool_is_a_new_incarnation_whose_seqs_never_meet_the_old_ones(tmp_path: Path) -> None:
    old = Spool(tmp_path / "spool")
    seqs = old.add([vrrp(i, "BACKUP", "hook", f"VI_{i}") for i in range(1, 11)])
    ident = old.identity
    old.close()
    for f in (tmp_path / "spool").iterdir():
        if f.is_file():
            f.unlink()
    new = Spool(tmp_path / "spool")
    assert new.identity["id"] != ident["id"]
    assert new.identity["first_seq"] > max(seqs)
    new.close()


def test_a_spool_from_before_identities_keeps_its_numbering(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "spool.db")  # the spool as the previous release made it, 3 events used
    db.execute("CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT UNIQUE, node_ns INTEGER NOT"
               " NULL, kind TEXT NOT NULL, tag TEXT NOT NULL, instance TEXT, state TEXT, priority INTEGER,"
               " source TEXT NOT NULL, data TEXT, acked INTEGER NOT NULL DEFAULT 0)")
    db.executemany("INSERT INTO spool (node_ns, kind, tag, source) VALUES (?, 'beacon', 'beacon/x/y', 'beacon')",
                   [(1,), (2,), (3,)])
    db.commit()
    db.close()
    spool = Spool(tmp_path)
    assert spool.identity["first_seq"] == 4
    assert [e.kind for e in spool.unacked(0)] == ["beacon"] * 3  # no minion/spool/new: it is not a new spool
    assert spool.add([vrrp(9, "MASTER", "hook")]) == [4]
    spool.close()
