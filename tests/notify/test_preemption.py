"""master/correlate/preemption.py: who should hold the VIP against who holds it, under nopreempt and
preempt_delay, and `hamaster check`'s findings from it."""

from hamaster.master.correlate.preemption import Member, assess, site

S = 10**9
T0 = 1_800_000_000 * S


def test_held_by_choice_pending_and_overdue() -> None:
    members = [Member("node1", "BACKUP", 100, T0), Member("node2", "MASTER", 90, T0 - S)]
    assert assess("VI_1", members, {"node1": {"nopreempt": True}}, T0 + 600 * S).kind == "held_by_choice"
    delayed = {"node1": {"preempt_delay": 10, "advert_int": 1}}
    pending = assess("VI_1", members, delayed, T0 + 5 * S)
    assert (pending.kind, pending.until_ns, pending.holder, pending.preferred) == ("pending", T0 + 14 * S,
                                                                                  "node2", "node1")
    assert assess("VI_1", members, delayed, T0 + 15 * S) is None  # its moment: the news is on its way
    assert assess("VI_1", members, delayed, T0 + 20 * S).kind == "overdue"
    # plain preemption is keepalived's within moments, and said nothing of: without the FIFO's priority lines
    # (the tree renders them only with nopreempt or preempt_delay) the priorities known may be stale
    assert assess("VI_1", members, {}, T0 + 60 * S) is None


def test_nothing_to_say_when_the_holder_is_the_highest_or_unknown() -> None:
    assert assess("VI_1", [Member("node1", "MASTER", 100, T0), Member("node2", "BACKUP", 90, T0)], {},
                  T0 + 60 * S) is None
    silent = [Member("node1", "BACKUP", 100, T0, believed=False), Member("node2", "MASTER", 90, T0)]
    assert assess("VI_1", silent, {}, T0 + 60 * S) is None  # a silent node's word does not count
    two = [Member("node1", "MASTER", 100, T0), Member("node2", "MASTER", 90, T0), Member("node3", "BACKUP", 110, T0)]
    assert assess("VI_1", two, {}, T0 + 60 * S) is None  # a split brain is the correlator's to say


def test_the_site_takes_the_live_priority_when_newer_and_the_configured_one_without_any() -> None:
    vrrp = {"node1": {"VI_1": ("BACKUP", None, T0)}, "node2": {"VI_1": ("MASTER", None, T0)}}
    configs = {"node1": {"instances": {"VI_1": {"priority": 100, "nopreempt": True}}},
               "node2": {"instances": {"VI_1": {"priority": 90, "nopreempt": True}}}}
    [found] = site(vrrp, {}, configs, {}, T0 + 60 * S)
    assert (found.kind, found.preferred_priority, found.holder_priority) == ("held_by_choice", 100, 90)
    lowered = {("node1", "VI_1"): (80, T0 + S)}  # keepalived's BACKUP_PRIORITY 80: its check failed
    assert site(vrrp, lowered, configs, {}, T0 + 60 * S) == []
    assert site(vrrp, {("node1", "VI_1"): (80, T0 - S)}, configs, {}, T0 + 60 * S) != []  # older: not now's


def test_check_says_held_by_choice_as_info_and_overdue_as_a_warning() -> None:
    from hamaster.core.timeutil import now_ns
    from hamaster.master.drills.checks import findings
    from hamaster.master.drills.snapshot import Snapshot

    now = now_ns()
    back = now - 60 * S  # node1 (100) back in BACKUP a minute ago, node2 (90) MASTER before that
    vrrp = {"node1": {"VI_1": ("BACKUP", 100, back)}, "node2": {"VI_1": ("MASTER", 90, back - S)}}

    def check(**own: object) -> list[tuple[str, str | None, str]]:
        configs = {m: {"instances": {"VI_1": {"priority": p, **own}}} for m, p in (("node1", 100), ("node2", 90))}
        snap = Snapshot(vrrp, {"node1": True, "node2": True}, {"node1": {}, "node2": {}}, {}, configs, [], {}, [])
        return [(f.severity, f.node, f.problem) for f in findings(snap, now) if "take" in f.problem
                or "choice" in f.problem]

    [(severity, node, problem)] = check(nopreempt=True)
    assert (severity, node) == ("info", "node1") and "by choice" in problem
    [(severity, node, problem)] = check(preempt_delay=300)
    assert (severity, node) == ("info", "node1") and "takes over from node2" in problem
    [(severity, node, problem)] = check(preempt_delay=5)
    assert (severity, node) == ("warning", "node1") and "should have taken over" in problem
