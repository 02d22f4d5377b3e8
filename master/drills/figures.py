"""A drill's figures: what users saw (the master's VIP probe) and what VRRP said (the nodes' transitions).

    outage_ns(answers, since, until)   time the VIP answered nobody in the window (the probe's ground truth)
    vrrp_gap_ns(transitions, instance, old, new, since)   old holder leaving MASTER -> new one MASTER
"""

from collections.abc import Sequence


def answered_at(answers: Sequence[tuple[int, str | None]], at_ns: int) -> str | None:
    """Who answered at `at_ns`: the last observation at or before it."""
    who = None
    for ts, node in answers:
        if ts > at_ns:
            break
        who = node
    return who


def outage_ns(answers: Sequence[tuple[int, str | None]], since_ns: int, until_ns: int) -> int:
    """Total time in [since, until) the VIP answered nobody (observations are change points, in order)."""
    total, current, from_ns = 0, answered_at(answers, since_ns), since_ns
    for ts, node in answers:
        if ts <= since_ns:
            continue
        if ts >= until_ns:
            break
        if current is None:
            total += ts - from_ns
        current, from_ns = node, ts
    if current is None:
        total += until_ns - from_ns
    return total


def first_answer(answers: Sequence[tuple[int, str | None]], since_ns: int, node: str) -> int | None:
    """When `node` first answered after `since_ns` (None: not yet)."""
    return next((ts for ts, who in answers if ts >= since_ns and who == node), None)


def vrrp_gap_ns(transitions: Sequence[tuple[str, str | None, str, int | None, int]], instance: str, old: str,
                new: str, since_ns: int) -> int | None:
    """From `old` leaving MASTER of `instance` to `new` becoming MASTER, after `since_ns`, from the VRRP
    events (minion, instance, state, priority, node_ns); negative when both were MASTER for a while (the old
    one stepped down after the new one took over). None when either transition is missing."""
    left = next((ts for m, i, s, _, ts in transitions if ts >= since_ns and m == old and i == instance
                 and s != "MASTER"), None)
    took = next((ts for m, i, s, _, ts in transitions if ts >= since_ns and m == new and i == instance
                 and s == "MASTER"), None)
    return None if left is None or took is None else took - left
