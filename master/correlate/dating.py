"""When did a holder that went silent die? Every bound there is, intersected.

Nobody saw the death (its minion died with it, or the node lost power), so it is bracketed:

- **heartbeat**: the master last heard the node at `last_heard` (a heartbeat or anything else it said), and
  its next heartbeat, due at most one interval later, never came: dead in [last_heard, last_heard + interval].
- **advert**: keepalived on the new MASTER took over when it had heard no advert for its master-down interval,
  3 x advert_int + (256 - priority) / 256 x advert_int (RFC 3768/5798's skew, the new MASTER's own priority and
  advert_int). So the old holder's last advert was heard at `new MASTER - master-down`, and its next one, due
  advert_int later, never came: dead in [that, that + advert_int].

The death is dated by the middle of the intersection; its worst-case error is half the intersection's width,
which is why a range and not a point is shown ("gap 3.1-3.6 s"). With init's heartbeat of 0.5 s and advert_int
1 s the intersection is at most 0.5 s wide: the kill falls anywhere in it, so no estimate is better than
+-0.25 s in the worst case (docs/benchmarks.md has the measured figures). Bounds that do not meet (the new
MASTER was late for another reason, a lost advert) leave the master's own observation, the heartbeat, alone.
"""

from dataclasses import dataclass

S = 1_000_000_000
BEAT_SLACK_NS = 20_000_000  # a heartbeat's own lateness (the minion's loop under load)
ADVERT_SLACK_NS = 20_000_000  # keepalived's timers and the new MASTER's own report are this loose (the lab: ~5 ms)


@dataclass(frozen=True, slots=True)
class Dating:
    lo_ns: int  # dead no earlier than this (corrected time)
    hi_ns: int  # and no later
    by: str  # which bounds dated it: "heartbeat", "advert" or "heartbeat and advert"

    @property
    def at_ns(self) -> int:
        """The estimate with the smallest worst-case error: the middle."""
        return (self.lo_ns + self.hi_ns) // 2


def master_down_ns(priority: int, advert_int_s: float) -> int:
    """keepalived's master-down interval for a BACKUP of `priority`."""
    return round((3 + (256 - priority) / 256) * advert_int_s * S)


def date_silent_death(last_heard_ns: int, heartbeat_ns: int, new_master_ns: int | None = None,
                      priority: int | None = None, advert_int_s: float | None = None) -> Dating:
    """The bounds of a silent holder's death; the advert bound needs the new MASTER's time, priority and
    advert_int (without them the heartbeat alone dates it)."""
    beat = Dating(last_heard_ns, last_heard_ns + heartbeat_ns + BEAT_SLACK_NS, "heartbeat")
    if new_master_ns is not None and beat.hi_ns > new_master_ns >= beat.lo_ns:
        beat = Dating(beat.lo_ns, new_master_ns, "heartbeat")  # it was gone by the time another took over
    if new_master_ns is None or priority is None or not advert_int_s or not 0 < priority < 256:
        return beat
    heard = new_master_ns - master_down_ns(priority, advert_int_s)
    advert = Dating(heard - ADVERT_SLACK_NS, heard + round(advert_int_s * S) + ADVERT_SLACK_NS, "advert")
    lo, hi = max(beat.lo_ns, advert.lo_ns), min(beat.hi_ns, advert.hi_ns)
    if lo > hi:
        return beat  # they contradict each other: keep what the master saw itself
    if (lo, hi) == (beat.lo_ns, beat.hi_ns):
        return beat  # the advert bound adds nothing
    if (lo, hi) == (advert.lo_ns, advert.hi_ns):
        return advert
    return Dating(lo, hi, "heartbeat and advert")
