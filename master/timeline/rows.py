"""The timeline: what happened, when, on which node, read back from the event store.

Four streams, each read in time order with an indexed query, merged lazily (nothing is held in memory but
a few seconds of events, for the fold below, and the window's deliveries):

    EventRow     a raw event: a VRRP transition (from -> to, where `from` is that node's previous state of that
                 instance), a beacon, a minion or job event. Placed by node time; `late` when it reached the
                 master long after it happened (a spool flushed after an outage). A node whose clock is over a
                 second off the master's is placed by corrected time (node time + its offset, the row says
                 "clock 5.0 s fast"), as the correlator dates incidents: never an alert before its cause.
    IncidentRow  what the correlator derived: failover (with its gap), split brain, flapping, node silent ...
    AlertRow     one delivery of notify/: sent, failed, suppressed or still pending; placed when it ended.
    ApplyRow     an apply job and the changes it made per minion.
    DrainRow     `hamaster drain` / `undrain` of a node; DrillRow: a `hamaster drill` and its figures.

The same transition reported twice on a node (keepalived's notify hook and its FIFO) arrives as two events,
the second with data["duplicate_of"] = seq of the first: it is folded into the first row, sources listed;
the row has the earlier node time of the two (a second report dated earlier takes the original in).

A busy day is some 40,000 events (bench/timeline.py): the event path reads plain tuples in index order
(events_in_order) and does as little per row as it can; the formats do the same on their side.
"""

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import from_datetime
from hamaster.master import store
from hamaster.master.store import drills, events, incidents, jobs, outbox

EVENT_KINDS = ("vrrp", "beacon", "minion", "job")
DERIVED_KINDS = ("incident", "alert", "apply", "drain", "drill")
ALL_KINDS = EVENT_KINDS + DERIVED_KINDS

LATE_NS = 5_000_000_000  # arrived this long after it happened (beyond the node's clock offset): from a spool
SKEW_SHOWN_NS = 1_000_000_000  # a node clock this far off the master's is shown on its rows
FOLD_NS = 2_000_000_000  # the minion folds hook+FIFO reports within 2 s (minion/spool.py SOURCE_MERGE_NS)
_ALERT_LOOKBACK_NS = 3600 * 10**9  # a delivery created up to 1 h before the window may end inside it

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")


@dataclass(slots=True)
class EventRow:
    """Not frozen: a frozen __init__ costs a microsecond a row (40 ms of a busy day), and the fold adds
    sources and ids to a held row. Rows are complete when yielded, and nothing changes them after."""

    at_ns: int  # node time; corrected (+ clock_skew_ns) for a node whose clock is over SKEW_SHOWN_NS off
    node: str
    kind: str  # vrrp | beacon | minion | job
    tag: str
    instance: str | None
    from_state: str | None
    to_state: str | None
    priority: int | None
    sources: tuple[str, ...]
    master_ns: int
    late: bool
    clock_skew_ns: int | None  # the node's clock offset (master - node), only when over SKEW_SHOWN_NS
    ids: tuple[int, ...]

    @property
    def skew_ns(self) -> int:
        """master_ns - at_ns of this event: transit + time spent in a spool (+ the clock offset, when it is
        under SKEW_SHOWN_NS and so not corrected)."""
        return self.master_ns - self.at_ns


@dataclass(frozen=True, slots=True)
class IncidentRow:
    at_ns: int  # started
    id: int
    kind: str
    instance: str | None
    severity: str
    ended_ns: int | None
    nodes: tuple[str, ...]
    summary: str
    gap_ns: int | None  # failover: how long no node held the VIP
    planned: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertRow:
    at_ns: int  # when the delivery ended (sent or failed), else when it was queued
    id: int
    incident_id: int | None
    route: str
    target: str  # already masked by notify/ (privacy=True)
    status: str  # pending | sent | failed | suppressed
    attempts: int
    error: str | None
    title: str | None
    nodes: tuple[str, ...] = ()
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class ApplyRow:
    at_ns: int  # started
    jid: str
    finished_ns: int | None
    targets: tuple[str, ...]
    test: bool
    changes: dict[str, dict[str, int]]  # minion -> {"changed": n, "failed": n, ...} as the job recorded it


@dataclass(frozen=True, slots=True)
class DrainRow:
    at_ns: int
    node: str
    drained: bool
    jid: str | None
    held: tuple[str, ...]  # drained: the instances it was MASTER of


@dataclass(frozen=True, slots=True)
class DrillRow:
    at_ns: int  # started
    id: int
    ended_ns: int
    instance: str | None
    holder: str | None
    peer: str | None
    ok: bool
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)  # outage_ms, vrrp_gap_ms, total_s ...


Row = EventRow | IncidentRow | AlertRow | ApplyRow | DrainRow | DrillRow


@dataclass(frozen=True)
class Query:
    since_ns: int | None = None
    until_ns: int | None = None
    nodes: tuple[str, ...] = ()  # empty: every node
    instance: str | None = None
    kinds: tuple[str, ...] = ALL_KINDS


def parse_when(text: str, now_ns: int, *, option: str = "--since") -> int:
    """'2h', '30m', '1d', '90s' (that long before now) or an ISO time with its offset -> ns since the epoch."""
    text = text.strip()
    if m := _RELATIVE.match(text):
        return now_ns - int(float(m.group(1)) * _UNITS[m.group(2)] * 1_000_000_000)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        raise ConfigError(f"{option} {text!r}: expected a duration like 30m, 2h, 1d"
                          " or an ISO time with its UTC offset like 2024-05-14T10:00:00+08:00")
    return from_datetime(dt)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    if not text:
        return ALL_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if bad := [k for k in kinds if k not in ALL_KINDS]:
        raise ConfigError(f"--kind {','.join(bad)}: expected some of {','.join(ALL_KINDS)}")
    return kinds


def incident_query(conn: store.Connection, incident_id: int, context_ns: int) -> Query:
    """The window of an incident, widened by `context_ns` on both sides, on the nodes it involved."""
    inc = incidents.get(conn, incident_id)
    if inc is None:
        raise ConfigError(f"incident {incident_id}: no such incident in the store")
    return Query(since_ns=inc.started_ns - context_ns, until_ns=(inc.ended_ns or inc.started_ns) + context_ns,
                 nodes=tuple(inc.nodes))


def timeline(conn: store.Connection, q: Query) -> Iterator[Row]:
    """Every row of the window in time order; derived rows follow the event at the same instant."""
    derived: list[Iterable[Row]] = []
    if "incident" in q.kinds:
        derived.append(_incident_rows(conn, q))
    if "alert" in q.kinds:
        derived.append(_alert_rows(conn, q))
    if "apply" in q.kinds:
        derived.append(_apply_rows(conn, q))
    if "drain" in q.kinds:
        derived.append(DrainRow(m.at_ns, m.minion, m.drained, m.jid, m.held)
                       for m in drills.drain_rows(conn, q.since_ns, q.until_ns) if not q.nodes or m.minion in q.nodes)
    if "drill" in q.kinds:
        derived.append(DrillRow(d.started_ns, d.id or 0, d.ended_ns, d.instance, d.holder, d.peer, d.ok, d.summary,
                                d.data.get("figures", {}))
                       for d in drills.drill_rows(conn, q.since_ns, q.until_ns)
                       if _touches(tuple(n for n in (d.holder, d.peer) if n), d.instance, q))
    event_kinds = [k for k in q.kinds if k in EVENT_KINDS]
    events = _event_rows(conn, q, event_kinds) if event_kinds else iter(())
    return _in_line(events, heapq.merge(*derived, key=attrgetter("at_ns")))


def _event_rows(conn: store.Connection, q: Query, kinds: list[str]) -> Iterator[EventRow]:
    """Event rows in time order: node time, or corrected time for a node with a clock shown as off. Only
    then are they sorted in memory (the index gives node-time order, and that is the usual case)."""
    clocks = {node: (offset + LATE_NS, offset if abs(offset) >= SKEW_SHOWN_NS else None)
              for node, offset in _clock_offsets(conn, q).items()}
    rows = _folded_rows(conn, q, kinds, clocks)
    if any(skew is not None for _, skew in clocks.values()):
        return iter(sorted(rows, key=attrgetter("at_ns")))
    return rows


def _in_line(events: Iterator[EventRow], derived: Iterator[Row]) -> Iterator[Row]:
    """Events with the derived rows put in line, each after the events of its instant.

    heapq.merge of all the streams says the same, at a heap operation per event; derived rows are a
    handful to a thousand events, so here an event costs one comparison.
    """
    pending = next(derived, None)
    for event in events:
        while pending is not None and pending.at_ns < event.at_ns:
            yield pending
            pending = next(derived, None)
        yield event
    if pending is not None:
        yield pending
        yield from derived


# -- raw events ------------------------------------------------------------------------------------------


def _folded_rows(conn: store.Connection, q: Query, kinds: list[str],
                 clocks: dict[str, tuple[int, int | None]]) -> Iterator[EventRow]:
    """Events as rows, in node-time order, with second reports folded into the first (see the module docstring).

    A row is held back until no later event can be its duplicate: rows live in two generations, each
    spanning FOLD_NS of node time, and the older one is let go when an event comes FOLD_NS after the newer
    one began. That costs a list append and a dict entry per row, where a sliding window costs a pop and a
    delete more; a duplicate is folded only if it is within FOLD_NS of its original, as with a window.
    """
    last_state: dict[tuple[str, str], str | None] = {}
    older: list[EventRow] = []
    newer: list[EventRow] = []
    older_by_id: dict[int, EventRow] = {}
    newer_by_id: dict[int, EventRow] = {}
    newer_since: int | None = None
    # plain tuples in index order (events_in_order), each with the id of the event it repeats, if any
    raw = events.timeline_rows(conn, since_ns=q.since_ns, until_ns=q.until_ns, nodes=q.nodes, instance=q.instance,
                               kinds=kinds if len(kinds) < len(EVENT_KINDS) else None)
    for id_, minion, node_ns, master_ns, kind, tag, instance, state, priority, source, original_id in raw:
        if newer_since is None or node_ns - newer_since >= FOLD_NS:
            yield from older  # every one of them is over FOLD_NS before this event, and so before any later one
            older, older_by_id = newer, newer_by_id
            newer, newer_by_id, newer_since = [], {}, node_ns
        late_after, clock_skew = clocks.get(minion, (LATE_NS, None))
        at = node_ns + (clock_skew or 0)
        if original_id is not None:
            original = newer_by_id.get(original_id) or older_by_id.get(original_id)
            if original is not None and at - original.at_ns <= FOLD_NS:
                if source not in original.sources:
                    original.sources += (source,)
                original.ids += (id_,)
                continue
        twin = newer_by_id.get(-id_) or older_by_id.get(-id_)  # its second report came first in node time
        if twin is not None and at - twin.at_ns <= FOLD_NS:
            if source not in twin.sources:
                twin.sources += (source,)
            twin.ids += (id_,)  # the row keeps the earlier time: the nearer of the two (correlate does too)
            continue
        from_state = None
        if kind == "vrrp" and instance:
            vrrp = (minion, instance)
            from_state = last_state[vrrp] if vrrp in last_state else state_before(conn, minion, instance, q.since_ns)
            last_state[vrrp] = state
        row = EventRow(at, minion, kind, tag, instance, from_state, state, priority, (source,), master_ns,
                       master_ns - node_ns > late_after, clock_skew, (id_,))
        newer.append(row)
        newer_by_id[id_] = row
        if original_id is not None:
            newer_by_id[-original_id] = row  # (ids are positive: the negative one is "the twin of")
    yield from older
    yield from newer


def state_before(conn: store.Connection, minion: str, instance: str, before_ns: int | None) -> str | None:
    """The node's last state of the instance before the window opened (None: never seen, or no window)."""
    return None if before_ns is None else events.state_before(conn, minion, instance, before_ns)


def _clock_offsets(conn: store.Connection, q: Query) -> dict[str, int]:
    """Each node's clock offset, master - node, estimated as the smallest receive delay around the window.

    Events that came straight through arrive within milliseconds, so the minimum is the clock offset
    (the way NTP reads it); anything far above it sat in a spool. The window is widened by an hour so a
    short window made only of spooled events still finds some that came straight through.
    """
    hour = 3600 * 10**9
    since, until = None if q.since_ns is None else q.since_ns - hour, None if q.until_ns is None else q.until_ns + hour
    offsets = events.smallest_delays(conn, since, until)
    for minion, offset in offsets.items():
        if abs(offset) >= SKEW_SHOWN_NS:  # the master's own estimate (heartbeats, NTP-style) where it has one
            measured = events.measured_clock_offset(conn, minion, q.since_ns, q.until_ns)
            offsets[minion] = offset if measured is None else -measured
    return offsets


# -- derived rows -----------------------------------------------------------------------------------------


def _in_window(ns: int, q: Query) -> bool:
    return (q.since_ns is None or ns >= q.since_ns) and (q.until_ns is None or ns < q.until_ns)


def _touches(nodes: tuple[str, ...], instance: str | None, q: Query) -> bool:
    if q.nodes and not set(nodes) & set(q.nodes):
        return False
    return q.instance is None or instance == q.instance


def _incident_rows(conn: store.Connection, q: Query) -> Iterator[IncidentRow]:
    rows = incidents.timeline_rows(conn, q.since_ns, q.until_ns)
    for iid, kind, instance, severity, started, ended, nodes, summary, data, planned in rows:
        node_list = tuple(json.loads(nodes) if nodes else ())
        if not _touches(node_list, instance, q):
            continue
        extra = json.loads(data) if data else {}
        gap = extra.get("gap_ns")
        yield IncidentRow(started, iid, kind, instance, severity, ended, node_list, summary,
                          int(gap) if isinstance(gap, int | float) else None, bool(planned), extra)


def _alert_rows(conn: store.Connection, q: Query) -> Iterator[AlertRow]:
    # Placed when the delivery ended: a message sent 40 s late after retries shows 40 s late.
    since = None if q.since_ns is None else q.since_ns - _ALERT_LOOKBACK_NS
    rows = []
    for did, iid, route, target, status, attempts, error, title, created, updated, nodes, inst in (
            outbox.timeline_rows(conn, since, q.until_ns)):
        at = updated if status in ("sent", "failed", "suppressed") else created
        node_list = tuple(json.loads(nodes) if nodes else ())
        if _in_window(at, q) and _touches(node_list, inst, q):
            rows.append(AlertRow(at, did, iid, route, target, status, attempts, error, title, node_list, inst))
    rows.sort(key=lambda r: (r.at_ns, r.id))  # deliveries are few (one per incident and target)
    return iter(rows)


def _apply_rows(conn: store.Connection, q: Query) -> Iterator[ApplyRow]:
    for jid, started, finished, targets, test, summary in jobs.timeline_rows(conn, q.since_ns, q.until_ns):
        target_list = tuple(json.loads(targets) if targets else ())
        if q.nodes and not set(target_list) & set(q.nodes):
            continue  # an apply concerns every instance of its targets: --instance keeps it
        changes = json.loads(summary) if summary else {}
        yield ApplyRow(started, jid, finished, target_list, bool(test),
                       {m: c for m, c in changes.items() if isinstance(c, dict)})
