"""Correlator scenarios as data: a sequence of steps -> the incidents it must derive, no more, no fewer.

Steps (times in seconds from T0, node time and master time alike unless said):
    ("ev", t, minion, STATE, priority)     a keepalived transition arriving now
    ("late", t, minion, STATE, priority)   the same, but delivered after later events (from a spool)
    ("tick", now, {minion: last_seen})     the daemon's 0.5 s timer, with each minion's last heartbeat
Expected: (kind, {field: value}) where a field is an Incident attribute or a key of its data; a str value
of `summary` only has to be contained in the summary.
"""

START = [("ev", 0.0, "node1", "MASTER", 101), ("ev", 0.1, "node2", "BACKUP", 100)]

SCENARIOS = {
    "fault_on_node1_then_master_on_node2": (
        [*START, ("ev", 5.0, "node1", "FAULT", 101), ("ev", 5.6, "node2", "MASTER", 100)],
        [("failover", {"old_holder": "node1", "new_holder": "node2", "gap_ns": 600_000_000,
                       "cause_state": "FAULT", "summary": "VI_1 moved node1 -> node2 in 600 ms; node1 FAULT"})],
    ),
    "new_master_reported_before_the_old_one_steps_down": (
        [*START, ("ev", 5.6, "node2", "MASTER", 100), ("ev", 5.61, "node1", "BACKUP", 99)],
        [("split_brain", {"severity": "info", "duration_ns": 10_000_000}),
         ("failover", {"old_holder": "node1", "new_holder": "node2", "gap_ns": 0,
                       "summary": "node1 BACKUP (priority 99 vs 100)"})],
    ),
    "node1_silent_while_node2_takes_over": (
        [*START, ("tick", 1.0, {"node1": 1.0, "node2": 1.0}), ("ev", 4.0, "node2", "MASTER", 100),
         ("tick", 5.0, {"node1": 1.0, "node2": 5.0}), ("tick", 11.5, {"node1": 1.0, "node2": 11.5})],
        [("node_silent", {"nodes": ["node1"]}),
         ("failover", {"old_holder": "node1", "new_holder": "node2", "cause_state": None,
                       "summary": "node1 silent"})],
    ),
    "two_masters_then_heal": (
        [*START, ("ev", 5.0, "node2", "MASTER", 100), ("tick", 7.0, {"node1": 7.0, "node2": 7.0}),
         ("tick", 9.0, {"node1": 9.0, "node2": 9.0}), ("ev", 20.0, "node2", "BACKUP", 100)],
        [("split_brain", {"severity": "critical", "ended_ns": "set", "duration_ns": 15_000_000_000}),
         ("recovered", {"holder": "node1", "summary": "back to one MASTER: node1"})],
    ),
    "twenty_transitions_in_ten_seconds": (
        [*START, *[("ev", 1.0 + i * 0.5 + j * 0.01, n, st, 100) for i in range(10)
                   for j, (n, st) in enumerate((("node1", "BACKUP"), ("node2", "MASTER")) if i % 2 == 0
                                               else (("node2", "BACKUP"), ("node1", "MASTER")))],
         ("tick", 30.0, {"node1": 30.0, "node2": 30.0})],
        [("failover", {"new_holder": "node2"}), ("failover", {"new_holder": "node1"}),
         ("failover", {"new_holder": "node2"}),
         ("flapping", {"ended_ns": "set", "transitions": 20}),
         ("recovered", {"summary": "calm again after 20 transitions; held by node1"})],
    ),
    "late_fault_is_placed_by_node_time": (
        [*START, ("ev", 5.6, "node2", "MASTER", 100), ("late", 5.0, "node1", "FAULT", 101),
         ("tick", 8.0, {"node1": 8.0, "node2": 8.0})],
        [("failover", {"old_holder": "node1", "new_holder": "node2", "gap_ns": 600_000_000,
                       "cause_state": "FAULT"})],
    ),
    "no_master_over_the_threshold_then_recovered": (
        [*START, ("ev", 5.0, "node1", "FAULT", 101), ("tick", 11.0, {"node1": 11.0, "node2": 11.0}),
         ("ev", 12.0, "node2", "MASTER", 100)],
        [("no_master", {"severity": "critical", "ended_ns": "set", "summary": "node1 FAULT"}),
         ("recovered", {"holder": "node2", "gap_ns": 7_000_000_000}),
         ("failover", {"old_holder": "node1", "new_holder": "node2", "gap_ns": 7_000_000_000})],
    ),
    "a_takeover_within_vrrps_own_time_is_one_failover": (  # the holder dies: 3 x advert_int + skew, ~3.6 s
        [*START, ("ev", 5.0, "node1", "FAULT", 101), ("tick", 8.0, {"node1": 8.0, "node2": 8.0}),
         ("ev", 8.6, "node2", "MASTER", 100)],
        [("failover", {"old_holder": "node1", "new_holder": "node2", "gap_ns": 3_600_000_000})],
    ),
    "same_transition_via_hook_and_fifo_counts_once": (
        [*START, ("ev", 5.0, "node1", "FAULT", 101), ("dup", 5.001, "node1", "FAULT", 101),
         ("ev", 5.6, "node2", "MASTER", 100)],
        [("failover", {"old_holder": "node1", "new_holder": "node2"})],
    ),
    "node_back_after_silence": (
        [*START, ("tick", 20.0, {"node1": 20.0, "node2": 5.0}), ("tick", 21.0, {"node1": 21.0, "node2": 21.0})],
        [("node_silent", {"nodes": ["node2"]}), ("node_back", {"nodes": ["node2"]})],
    ),
}
