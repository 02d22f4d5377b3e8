"""The postmortem's content, made from the store: the window around an incident, one lane of states per node,
the probe's lanes and the impact. postmortem.py writes it as documents, picture.py draws it.

The window is zoomed on the incident (`incident_report`): from the steady state before it (the first of the
transitions that led to it, chained at most CHAIN_NS apart) to its recovery (and the transitions that
followed at once), with a margin; `context` widens it. Lanes stop at the present. A node that is silent (no
heartbeat) or whose keepalived died is unknown there (SILENT, DEAD: drawn hatched), not in its last state.
The impact is counted over the incident alone: the start-up before anyone was MASTER is not a failover's gap.
"""

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import now_ns
from hamaster.master.store import Connection, events, incidents
from hamaster.master.timeline import rows as tl

APPLIES_BEFORE_NS = 3600 * 10**9  # config changes this close before an incident are listed as suspects
CHAIN_NS = 5 * 10**9  # transitions this close before (after) an incident led to it (followed it)
MARGIN_MIN_NS = 2 * 10**9  # the picture shows at least this much of the steady state on each side
LOOK_NS = 10 * 60 * 10**9  # how far around an incident its chain of transitions is looked for
PROBE_MINION = "@probe"
UNKNOWN, SILENT, DEAD = "UNKNOWN", "SILENT", "DEAD"  # never seen; no heartbeat; keepalived died
HATCHED = (UNKNOWN, SILENT, DEAD)
MOMENTS = ("failover", "recovered", "node_back")  # incidents that are a moment, never "still going"
COLORS = {"MASTER": "#2e7d32", "BACKUP": "#90a4ae", "FAULT": "#c62828", "STOP": "#424242", "DELETED": "#424242"}
NOBODY = "nobody"


@dataclass(frozen=True, slots=True)
class Segment:
    state: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Report:
    title: str
    since_ns: int
    until_ns: int  # the picture's end; its lanes stop at min(until_ns, now_ns)
    incident: tl.IncidentRow | None
    rows: list[tl.Row]
    lanes: dict[str, list[Segment]]  # node -> its states over the window, in order
    no_owner_ns: int  # time with no node MASTER (every lane known), over the incident alone
    two_owner_ns: int  # time with two or more MASTERs: split brain
    alerts: list[tl.AlertRow]
    applies: list[tl.ApplyRow]  # in the hour before the window, and inside it
    now_ns: int = 0  # when the report was made
    span: tuple[int, int] | None = None  # the incident alone: what the impact is counted over
    probes: dict[str, list[Segment]] = field(default_factory=dict)  # VIP -> who answered (node, nobody)
    probe_outage_ns: int | None = None  # time in the window the probe saw nobody answer (None: no probe)


# -- the window -----------------------------------------------------------------------------------------


def incident_span(inc: tl.IncidentRow | Any, now: int) -> tuple[int, int]:
    """The incident alone: a failover from its old holder's loss (start - gap) to the new MASTER; a lasting
    incident from its start to its end, or to now while it goes on."""
    started = inc.started_ns if hasattr(inc, "started_ns") else inc.at_ns
    gap = inc.data.get("gap_ns") if isinstance(inc.data, dict) else None
    gap = gap if isinstance(gap, int) and gap > 0 else 0
    if inc.kind == "failover" and (inc.ended_ns is None or inc.ended_ns <= started):
        return started - gap, started
    if inc.ended_ns is None:
        return started, started if inc.kind in MOMENTS else max(now, started)
    return started, max(inc.ended_ns, started)


def incident_report(conn: Connection, incident_id: int, context: str | None = None,
                    now: int | None = None) -> Report:
    """The report of one incident, zoomed on it (`context`, e.g. "5m", widens the window on both sides)."""
    now = now_ns() if now is None else now
    inc = incidents.get(conn, incident_id)
    if inc is None:
        raise ConfigError(f"incident {incident_id}: no such incident in the store")
    context_ns = now - tl.parse_when(context, now, option="--context") if context else 0
    start, end = incident_span(inc, now)
    nodes = tuple(inc.nodes)
    around = tl.Query(since_ns=start - LOOK_NS, until_ns=end + LOOK_NS, nodes=nodes, instance=inc.instance,
                      kinds=("vrrp",))
    times = sorted(r.at_ns for r in tl.timeline(conn, around) if isinstance(r, tl.EventRow))
    first, last = start, end
    for t in reversed([t for t in times if t < start]):  # the transitions that led to it
        if first - t > CHAIN_NS:
            break
        first = t
    for t in [t for t in times if t > end]:  # and those that followed at once
        if t - last > CHAIN_NS:
            break
        last = t
    margin = max((last - first) // 4, MARGIN_MIN_NS)
    q = tl.Query(since_ns=first - margin - context_ns, until_ns=last + margin + context_ns, nodes=nodes)
    return build_report(conn, q, incident_id, now=now, span=(start, end))


def build_report(conn: Connection, q: tl.Query, incident_id: int | None = None, *, now: int | None = None,
                 span: tuple[int, int] | None = None) -> Report:
    now = now_ns() if now is None else now
    until = q.until_ns if q.until_ns is not None else max(q.since_ns or 0, min(events.end_ns(conn), now))
    q = tl.Query(since_ns=q.since_ns, until_ns=until, nodes=q.nodes, instance=q.instance, kinds=q.kinds)
    since = q.since_ns if q.since_ns is not None else 0
    rows = list(tl.timeline(conn, q))
    incident = next((r for r in rows if isinstance(r, tl.IncidentRow) and r.id == incident_id), None)
    if incident is None and incident_id is not None:
        found = incidents.get(conn, incident_id)
        if found is not None:  # started before the window (a lasting one, widened to its end)
            incident = tl.IncidentRow(found.started_ns, incident_id, found.kind, found.instance, found.severity,
                                      found.ended_ns, tuple(found.nodes), found.summary,
                                      found.data.get("gap_ns") if isinstance(found.data.get("gap_ns"), int) else None,
                                      found.planned, found.data)
    if span is None and incident is not None:
        span = incident_span(incident, now)
    instance = q.instance or (incident.instance if incident else None) or _first_instance(rows)
    present = min(until, max(now, since))
    lanes = _lanes(conn, rows, instance, q.nodes, since, present)
    _hatch(conn, lanes, rows, since, present)
    impact_from, impact_to = span if span is not None else (since, present)
    no_owner, two_owner = _impact(lanes, max(impact_from, since), min(impact_to, present))
    vips = _vips(incident)
    probes = _probe_lanes(conn, vips, since, present)
    outage = None
    if probes:
        outage = sum(s.end_ns - s.start_ns for segs in probes.values() for s in segs if s.state == NOBODY)
    before = tl.Query(since_ns=since - APPLIES_BEFORE_NS, until_ns=since, nodes=q.nodes, kinds=("apply",))
    applies = [r for r in tl.timeline(conn, before) if isinstance(r, tl.ApplyRow)]
    applies += [r for r in rows if isinstance(r, tl.ApplyRow)]
    if incident:
        where = incident.instance or ", ".join(incident.nodes)
        title = f"Postmortem: {incident.kind} of {where} (incident {incident.id})"
    else:
        title = "Postmortem: " + (instance or "all instances")
    alerts = [r for r in rows if isinstance(r, tl.AlertRow)]
    if incident is not None:  # every alert of the incident, also one retried long after the window
        later = tl.Query(since_ns=incident.at_ns, until_ns=None, nodes=q.nodes, kinds=("alert",))
        alerts = [r for r in tl.timeline(conn, later) if isinstance(r, tl.AlertRow) and r.incident_id == incident.id]
    return Report(title, since, until, incident, rows, lanes, no_owner, two_owner, alerts, applies, now, span,
                  probes, outage)


def _first_instance(rows: list[tl.Row]) -> str | None:
    return next((r.instance for r in rows if isinstance(r, tl.EventRow) and r.kind == "vrrp"), None)


def _vips(incident: tl.IncidentRow | None) -> list[str]:
    if incident is None:
        return []
    data = incident.data or {}
    found = [*(data.get("vips") or ()), data.get("vip")]
    return sorted({str(v).split("/")[0] for v in found if v})


# -- the lanes ----------------------------------------------------------------------------------------------


def _lanes(conn: Connection, rows: list[tl.Row], instance: str | None, nodes: tuple[str, ...], since: int,
           until: int) -> dict[str, list[Segment]]:
    """Cut each node's window into segments at its transitions; before the first, the state it was in.

    A node with no transition in the window still gets its lane: the staying MASTER of a healed split
    brain fires nothing at all, and its lane must still say MASTER.
    """
    changes: dict[str, list[tuple[int, str]]] = {}
    for node in nodes:
        changes[node] = [(since, (instance and tl.state_before(conn, node, instance, since)) or UNKNOWN)]
    for r in rows:
        if isinstance(r, tl.EventRow) and r.kind == "vrrp" and r.instance == instance and r.to_state:
            points = changes.setdefault(r.node, [(since, r.from_state or UNKNOWN)])
            points.append((min(max(r.at_ns, since), until), r.to_state))
    return {node: _segments(changes[node], until) for node in sorted(changes)}


def _segments(points: list[tuple[int, str]], until: int) -> list[Segment]:
    out: list[Segment] = []
    for (start, state), (end, _) in zip(points, [*points[1:], (until, "")], strict=True):
        if end > start:
            if out and out[-1].state == state and out[-1].end_ns == start:
                out[-1] = Segment(state, out[-1].start_ns, end)
            else:
                out.append(Segment(state, start, end))
    return out


def _overlay(segments: list[Segment], start: int, end: int, state: str) -> list[Segment]:
    """`segments` with [start, end) drawn as `state`."""
    if end <= start:
        return segments
    out = [Segment(s.state, s.start_ns, min(s.end_ns, start)) for s in segments if s.start_ns < start]
    out.append(Segment(state, start, end))
    out += [Segment(s.state, max(s.start_ns, end), s.end_ns) for s in segments if s.end_ns > end]
    return [s for s in out if s.end_ns > s.start_ns]


def _hatch(conn: Connection, lanes: dict[str, list[Segment]], rows: list[tl.Row], since: int, until: int) -> None:
    """A node the master could not hear (node_silent until it was back) or whose keepalived died (its beacon,
    until its next transition) vouches for nothing: its lane is hatched there, not its last state."""
    for node, segments in lanes.items():
        if not segments:
            continue
        end = segments[-1].end_ns
        for r in rows:
            if isinstance(r, tl.EventRow) and r.node == node and r.tag == "beacon/keepalived/down":
                after = [x.at_ns for x in rows if isinstance(x, tl.EventRow) and x.node == node
                         and x.kind == "vrrp" and x.at_ns > r.at_ns]
                segments = _overlay(segments, max(r.at_ns, since), min(after[0] if after else end, end), DEAD)
        for inc in incidents.query(conn, kind="node_silent"):
            if node in inc.nodes and inc.started_ns < until and (inc.ended_ns is None or inc.ended_ns > since):
                stop = end if inc.ended_ns is None else min(inc.ended_ns, end)
                segments = _overlay(segments, max(inc.started_ns, since), stop, SILENT)
        lanes[node] = segments


def _impact(lanes: dict[str, list[Segment]], since: int, until: int) -> tuple[int, int]:
    """Sweep [since, until): the time with no MASTER (every lane seen at least once: a silent or dead node
    counts as no MASTER, as the correlator counts it) and with two or more."""
    edges = sorted({since, until, *(t for segs in lanes.values() for s in segs for t in (s.start_ns, s.end_ns)
                                    if since < t < until)})
    no_owner = two_owner = 0
    for start, end in pairwise(edges):
        states = [next((s.state for s in segs if s.start_ns <= start < s.end_ns), UNKNOWN) for segs in lanes.values()]
        masters = states.count("MASTER")
        if masters >= 2:
            two_owner += end - start
        elif masters == 0 and states and UNKNOWN not in states:
            no_owner += end - start
    return no_owner, two_owner


def _probe_lanes(conn: Connection, vips: list[str], since: int, until: int) -> dict[str, list[Segment]]:
    """Who the master's probe saw answering on each VIP (its `@probe` events), over the window."""
    points: dict[str, list[tuple[int, str]]] = {}
    for se in events.query_events(conn, minion=PROBE_MINION, until_ns=until):
        vip = str(se.event.data.get("vip") or "")
        if vips and vip not in vips:
            continue
        answered = se.event.state or NOBODY
        lane = points.setdefault(vip, [(since, UNKNOWN)])
        if se.event.node_ns <= since:
            lane[0] = (since, answered)  # the last word before the window is its state at the start
        else:
            lane.append((se.event.node_ns, answered))
    return {vip: _segments(p, until) for vip, p in sorted(points.items())}


# -- names ------------------------------------------------------------------------------------------------


def target_label(masked: str, names: dict[str, str] | None = None) -> str:
    """An alert target as people name it: its name in master.yaml, else its service and host (no path, no
    query, no user: nothing of a URL that could hold a secret, even masked)."""
    if names and masked in names:
        return names[masked]
    try:
        parts = urlsplit(masked)
    except ValueError:
        return "target"
    host = parts.hostname or ""
    return f"{parts.scheme} {host}".strip() if parts.scheme else "target"
