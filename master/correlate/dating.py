"""When did a holder that went silent die? Every bound there is, intersected.

Nobody saw the death (its minion died with it, or the node lost power), so it is bracketed by `Bound`s, each
a range the death lies in and the name of what says so:

- **heartbeat** (the master's own observation, always kept): the master last heard the node at `last_heard`
  (a heartbeat or anything else it said), and its next heartbeat, due at most one interval later, never came:
  dead in [last_heard, last_heard + interval].
- **advert**: keepalived on the new MASTER took over when it had heard no advert for its master-down interval,
  3 x advert_int + (256 - priority) / 256 x advert_int (RFC 3768/5798's skew, the new MASTER's own priority and
  advert_int). So the old holder's last advert was heard at `new MASTER - master-down`, and its next one, due
  advert_int later, never came: dead in [that, that + advert_int].
- **connection**: the minion's process died with its kernel alive (keepalived and the minion killed -9, the OOM
  killer): the kernel closed its TCP connection at once and the master's connection guard read the EOF
  (guard.py). Dead in [close - CLOSE_LAG_NS, close]. Only a close after the last thing the node said counts.
- **probe**: the master's own VIP probe (probe.py) saw the holder answer last at T1 (the answer read, after
  `answer_took`) and the first request, sent at T2, fail: dead in [T1 - answer_took, T2 + answer_took]. A
  power-off gives no close (the cable goes dark first), but the probe sees it. Only when the probe's node
  names are minion ids.

The death is dated by the middle of the intersection; its worst-case error is half the intersection's width,
which is why a range and not a point is shown ("gap 3.1-3.6 s"). With the heartbeat and advert bounds alone
(init's heartbeat of 0.5 s, advert_int 1 s) the intersection is up to 0.5 s wide; a close makes it 50 ms, a
probe outage about its interval (docs/benchmarks.md has the measured figures). Bounds that do not meet (the
new MASTER was late for another reason, a lost advert, a minion that died alone while keepalived lived on) are
dropped: the largest set of bounds that meets, always with the master's own observation, dates the death.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

S = 1_000_000_000
BEAT_SLACK_NS = 20_000_000  # a heartbeat's own lateness (the minion's loop under load)
ADVERT_SLACK_NS = 20_000_000  # keepalived's timers and the new MASTER's own report are this loose (the lab: ~5 ms)
# The close is stamped when the master's loop read the guard's monitor event: after the kernel's FIN, libzmq's
# I/O thread and one turn of the loop (a store commit, an intake batch), which on a loaded 2-core host takes
# a few ms and rarely tens; and keepalived dies within ms of its minion when both are killed together (one
# `kill -9` of both, the OOM killer's kills). 50 ms covers both without widening the range much.
CLOSE_LAG_NS = 50_000_000
MAX_WITNESSES = 8  # bounds beyond the heartbeat tried together (2^8 subsets at most: cheap, and never more)


@dataclass(frozen=True, slots=True)
class Bound:
    lo_ns: int  # dead no earlier than this (corrected time)
    hi_ns: int  # and no later
    name: str  # what says so: "heartbeat", "advert", "connection", "probe"


@dataclass(frozen=True, slots=True)
class Dating:
    lo_ns: int  # dead no earlier than this (corrected time)
    hi_ns: int  # and no later
    by: str  # which bounds dated it: "heartbeat", "advert", "heartbeat and advert", "heartbeat and connection"...

    @property
    def at_ns(self) -> int:
        """The estimate with the smallest worst-case error: the middle."""
        return (self.lo_ns + self.hi_ns) // 2


def master_down_ns(priority: int, advert_int_s: float) -> int:
    """keepalived's master-down interval for a BACKUP of `priority`."""
    return round((3 + (256 - priority) / 256) * advert_int_s * S)


def heartbeat_bound(last_heard_ns: int, heartbeat_ns: int, new_master_ns: int | None = None) -> Bound:
    hi = last_heard_ns + heartbeat_ns + BEAT_SLACK_NS
    if new_master_ns is not None and hi > new_master_ns >= last_heard_ns:
        hi = new_master_ns  # it was gone by the time another took over
    return Bound(last_heard_ns, hi, "heartbeat")


def advert_bound(new_master_ns: int, priority: int | None, advert_int_s: float | None) -> Bound | None:
    if priority is None or not advert_int_s or not 0 < priority < 256:
        return None
    heard = new_master_ns - master_down_ns(priority, advert_int_s)
    return Bound(heard - ADVERT_SLACK_NS, heard + round(advert_int_s * S) + ADVERT_SLACK_NS, "advert")


def connection_bound(closed_ns: int) -> Bound:
    return Bound(closed_ns - CLOSE_LAG_NS, closed_ns, "connection")


def probe_bound(last_answer_ns: int, answer_took_ns: int, failed_ns: int) -> Bound:
    """The first failed request started at `failed_ns`: a node alive for one answer's time after it would have
    answered, so it was dead by then (not by the start: a death in the request's first ms fails it too)."""
    took = max(0, answer_took_ns)
    return Bound(last_answer_ns - took, failed_ns + took, "probe")


def intersect(anchor: Bound, others: Sequence[Bound]) -> Dating:
    """The intersection of `anchor` (always kept) and the largest set of `others` that meets it (of two such
    sets, the narrower); `by` names the bounds that give its edges."""
    others = [b for b in others if b.lo_ns <= b.hi_ns][-MAX_WITNESSES:]
    for size in range(len(others), 0, -1):
        best: tuple[int, list[Bound]] | None = None
        for chosen in combinations(others, size):
            bounds = [anchor, *chosen]
            lo, hi = max(b.lo_ns for b in bounds), min(b.hi_ns for b in bounds)
            if lo <= hi and (best is None or hi - lo < best[0]):
                best = (hi - lo, bounds)
        if best is not None:
            return _dating(best[1])
    return _dating([anchor])


def _dating(bounds: list[Bound]) -> Dating:
    lo, hi = max(b.lo_ns for b in bounds), min(b.hi_ns for b in bounds)
    edges = {next(b.name for b in bounds if b.lo_ns == lo), next(b.name for b in bounds if b.hi_ns == hi)}
    names = [b.name for b in bounds if b.name in edges]
    names = list(dict.fromkeys(names))  # (in the bounds' order, once each)
    return Dating(lo, hi, names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}")


def date_silent_death(last_heard_ns: int, heartbeat_ns: int, new_master_ns: int | None = None,
                      priority: int | None = None, advert_int_s: float | None = None,
                      witnesses: Iterable[Bound] = ()) -> Dating:
    """The bounds of a silent holder's death; the advert bound needs the new MASTER's time, priority and
    advert_int (without them the heartbeat alone dates it, with whatever `witnesses` say: connection, probe)."""
    beat = heartbeat_bound(last_heard_ns, heartbeat_ns, new_master_ns)
    others = [] if new_master_ns is None else [b for b in [advert_bound(new_master_ns, priority, advert_int_s)] if b]
    return intersect(beat, [*others, *list(witnesses)[-(MAX_WITNESSES - len(others)):]])  # (the newest witnesses)
