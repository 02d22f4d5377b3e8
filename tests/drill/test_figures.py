"""A drill's figures from the probe's change points and the nodes' transitions (pure functions)."""

from hamaster.master.drills import figures

MS = 1_000_000


def test_the_outage_is_the_time_nobody_answered_inside_the_window() -> None:
    answers = [(0, "node1"), (100 * MS, None), (400 * MS, "node2"), (900 * MS, None)]
    assert figures.outage_ns(answers, 50 * MS, 600 * MS) == 300 * MS
    assert figures.outage_ns(answers, 200 * MS, 300 * MS) == 100 * MS  # nobody all along the window
    assert figures.outage_ns(answers, 800 * MS, 1000 * MS) == 100 * MS  # still nobody at the end
    assert figures.outage_ns([(0, "node1"), (10 * MS, "node2")], 0, 20 * MS) == 0  # a direct handover
    assert figures.answered_at(answers, 99 * MS) == "node1" and figures.answered_at(answers, -1) is None
    assert figures.first_answer(answers, 1, "node2") == 400 * MS and figures.first_answer(answers, 0, "x") is None


def test_the_vrrp_gap_runs_from_the_old_holder_leaving_to_the_new_one_taking_over() -> None:
    t = [("node1", "VI_1", "MASTER", 100, 0), ("node1", "VI_1", "BACKUP", 52, 10 * MS),
         ("node2", "VI_2", "MASTER", 101, 11 * MS), ("node2", "VI_1", "MASTER", 101, 12 * MS)]
    assert figures.vrrp_gap_ns(t, "VI_1", "node1", "node2", 1) == 2 * MS
    # the new one first, the old one stepping down after: both were MASTER for a while (negative)
    t2 = [("node2", "VI_1", "MASTER", 101, 5 * MS), ("node1", "VI_1", "BACKUP", 52, 8 * MS)]
    assert figures.vrrp_gap_ns(t2, "VI_1", "node1", "node2", 0) == -3 * MS
    assert figures.vrrp_gap_ns(t2, "VI_1", "node1", "node3", 0) is None
