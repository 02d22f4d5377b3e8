"""Each minion's clock offset to the master, from its heartbeats, as NTP estimates it.

A heartbeat is an NTP exchange: the minion's ping carries t1 (its clock when it sent the ping), the master
notes t2 (its clock on receipt) and puts t2 and t3 (its clock when it answers) in the pong, the minion notes
t4 on receipt and sends all four in its next ping. Then

    offset = ((t1 - t2) + (t4 - t3)) / 2      node clock minus master clock (positive: the node is fast)
    delay  = (t4 - t1) - (t3 - t2)            the round trip on the wire

and the error of `offset` is at most delay / 2, so of the last WINDOW samples the one with the lowest delay
is kept (NTP's clock filter). Until a full sample exists, a ping alone gives t1 - t2, off by the one-way
transit (milliseconds here), which beats assuming 0 for a node whose clock is seconds off.

The estimates are stored (master/store/minions.py, save_clocks) and restored at the master's start.

Corrected time = node time - offset: the master's timeline, where events of two nodes can be compared.
An event of a node whose offset is over the bound carries it (data.clock_offset_ns), for the timeline.
A node time that cannot be true once corrected (after its own receipt, before 2001, not a number, or before
the minion started for what that minion made itself: its hello says when it started, and from which seq) is
replaced by the receipt time in the node's clock and the event is marked (`vet`): one far-future stamp must
not push its group's history into the future, where every later real transition would look late.
"""

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from hamaster.core.events import Event

S = 1_000_000_000
WINDOW = 8  # samples the lowest delay is chosen from: 8 heartbeats, as NTP's filter
FUTURE_SLACK_NS = S // 2  # a corrected node time this far after its own receipt is impossible
EPOCH_FLOOR_NS = 978_307_200 * S  # 2001-01-01: an earlier node time is a clock that was never set
OFFSET_BOUND_NS = S  # an offset beyond this is an incident of its own (clock_offset)
STARTED_SLACK_NS = S  # what a running minion made, this far before its start (/proc, to 10 ms), is impossible


@dataclass(slots=True)
class Clock:
    offset_ns: int = 0
    delay_ns: int | None = None  # None: only one-way estimates so far
    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=WINDOW))  # (delay, offset)
    one_way: bool = False  # offset_ns is a ping-only estimate (t1 - t2, at most the true offset)
    reported: str | None = None  # dedup key of the open clock_offset incident


class Clocks:
    def __init__(self) -> None:
        self.clocks: dict[str, Clock] = {}
        self.changed: set[str] = set()  # minions with a new full sample since clock incidents were looked at
        self.unsaved: set[str] = set()  # minions whose estimate moved since it was stored
        self.runs: dict[str, tuple[int, int]] = {}  # minion -> (its process start, first seq of that run)

    def minion_run(self, minion: str, run: Any) -> None:
        """The hello's grains `run`: {started_ns, first_seq}. What that run made itself (beacons, FIFO lines,
        dumps: seq >= first_seq and not from the hook, which runs while the minion is down) is later."""
        if isinstance(run, dict) and type(run.get("started_ns")) is int and type(run.get("first_seq")) is int:
            self.runs[minion] = (run["started_ns"], run["first_seq"])

    def restore(self, saved: dict[str, tuple[int, int]]) -> None:
        """The estimates stored by the last run, {minion: (offset, delay)}: at a restart the events replayed
        and those that come before the first new exchange are corrected as before (an offset over the bound
        also goes with each event; one under it is known only from here). It stays one sample among the
        next WINDOW: a better one replaces it, and it leaves the window like any other."""
        for minion, (offset, delay) in saved.items():
            clock = self.clocks.setdefault(minion, Clock())
            if clock.delay_ns is None:
                clock.samples.append((delay, offset))
                clock.delay_ns, clock.offset_ns, clock.one_way = delay, offset, False

    def ping(self, minion: str, t1: int, t2: int, exchange: Any = None) -> None:
        """A ping sent at node time t1 arrived at master time t2; `exchange` is the last full [t1, t2, t3, t4]."""
        clock = self.clocks.setdefault(minion, Clock())
        if (isinstance(exchange, list) and len(exchange) == 4 and all(type(t) is int for t in exchange)):
            self.sample(minion, *exchange)
        elif clock.delay_ns is None:
            # t1 - t2 is the offset minus the one-way transit: the largest seen is the nearest
            clock.offset_ns = max(clock.offset_ns, t1 - t2) if clock.one_way else t1 - t2
            clock.one_way = True

    def sample(self, minion: str, t1: int, t2: int, t3: int, t4: int) -> None:
        delay = (t4 - t1) - (t3 - t2)
        if delay < 0 or t3 < t2 or t4 < t1:
            return  # not a real exchange (a forged or mixed-up one): it says nothing
        clock = self.clocks.setdefault(minion, Clock())
        clock.samples.append((delay, ((t1 - t2) + (t4 - t3)) // 2))
        best = min(clock.samples)
        if best != (clock.delay_ns, clock.offset_ns):
            self.unsaved.add(minion)
        clock.delay_ns, clock.offset_ns = best
        clock.one_way = False
        self.changed.add(minion)

    def offset(self, minion: str) -> int:
        clock = self.clocks.get(minion)
        return clock.offset_ns if clock is not None else 0

    def corrected(self, minion: str, node_ns: int) -> int:
        """Node time -> master time."""
        return node_ns - self.offset(minion)

    def vet(self, minion: str, node_ns: Any, master_ns: int, made_by_run: bool = False) -> tuple[int, str | None]:
        """(node time to keep, why it was replaced or None): an impossible node time becomes the master's
        receipt time expressed in the node's clock. `made_by_run`: the running minion made the event itself."""
        off = self.offset(minion)
        why = None
        started = self.runs[minion][0] if made_by_run and minion in self.runs else None
        if type(node_ns) is not int:
            why = "not a number" if isinstance(node_ns, float) and math.isnan(node_ns) else "not an integer"
        elif node_ns - off > master_ns + FUTURE_SLACK_NS:
            why = f"{(node_ns - off - master_ns) / S:.1f} s after its own receipt"
        elif node_ns < EPOCH_FLOOR_NS:
            why = "before 2001: a clock never set"
        elif started is not None and node_ns < started - STARTED_SLACK_NS:
            why = f"{(started - node_ns) / S:.1f} s before its minion started"
        return (master_ns + off, why) if why else (node_ns, None)

    def made_by_run(self, minion: str, ev: Event) -> bool:
        run = self.runs.get(minion)
        return run is not None and ev.seq >= run[1] and ev.source != "hook"

    def vet_event(self, minion: str, ev: Event, master_ns: int) -> Event:
        """`ev` as the store should keep it: an impossible node time replaced and the reason in its data
        (`node_time_replaced`, with the time it came with in `node_ns_sent`)."""
        sent = ev.data.get("node_ns_sent")  # the protocol found no time at all (NaN, a string ...)
        node_ns, why = self.vet(minion, ev.node_ns, master_ns, self.made_by_run(minion, ev))
        if sent is not None:
            node_ns, why = master_ns + self.offset(minion), f"{sent} is not a time"
        off = self.offset(minion)
        if why is None:
            # a clock over the bound: its offset goes with the event, so the timeline corrects it as we do
            return replace(ev, data={**ev.data, "clock_offset_ns": off}) if abs(off) > OFFSET_BOUND_NS else ev
        return replace(ev, node_ns=node_ns, data={**ev.data, "node_time_replaced": why,
                                                  "node_ns_sent": sent if sent is not None else ev.node_ns})


def describe(minion: str, offset_ns: int) -> str:
    """"node a2's clock is 5.0 s fast"."""
    side = "fast" if offset_ns > 0 else "slow"
    return f"node {minion}'s clock is {abs(offset_ns) / S:.1f} s {side}"
