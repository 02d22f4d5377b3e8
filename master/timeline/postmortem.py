"""`hamaster postmortem`: the report an operator writes the morning after, made from the store.

A report holds the summary (what, when, impact: how long the VIP had no owner, how long it had two, how
long the master's probe saw nobody answer), the alerts sent (by target name, never a URL), the apply jobs of
the hour before, the timeline around the incident, and a picture: one swimlane per node with its MASTER /
BACKUP / FAULT / STOP segments, a lane per probed VIP, markers for the alerts and applies, as a small
hand-written SVG (inline in HTML and the web page, a file beside the markdown, or alone: `--picture`).

The picture is zoomed on the incident (`incident_report`): from the steady state before it (the first of
the transitions that led to it, chained at most CHAIN_NS apart) to its recovery (and the transitions that
followed at once), with a margin; `--context` widens it. Lanes stop at the present. A node that is silent
(no heartbeat) or whose keepalived died is drawn hatched, as unknown, not in its last state. The impact is
counted over the incident alone: the start-up before anyone was MASTER is not the failover's gap.
"""

import html
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import human_duration, now_ns
from hamaster.master.store import Connection, events, incidents
from hamaster.master.timeline import formats as tf
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


def _alert_line(a: tl.AlertRow, tz: tzinfo, names: dict[str, str] | None) -> str:
    tries = f" after {a.attempts} tries" if a.attempts > 1 else ""
    why = f" ({a.error})" if a.error and a.status != "sent" else ""
    return f"{tf.fmt_time(a.at_ns, tz)} {a.status}{tries}: {target_label(a.target, names)} (route {a.route}){why}"


def _named(rows: list[tl.Row], names: dict[str, str] | None) -> list[tl.Row]:
    from dataclasses import replace

    return [replace(r, target=target_label(r.target, names)) if isinstance(r, tl.AlertRow) else r for r in rows]


# -- the picture ------------------------------------------------------------------------------------------

_W, _LEFT, _RIGHT, _TOP, _LANE, _GAP = 900, 120, 20, 28, 26, 8


def swimlanes_svg(report: Report, tz: tzinfo, names: dict[str, str] | None = None) -> str:
    """One lane per node (class "lane", a rect per segment: class "seg STATE", data-state, data-start-ns,
    data-end-ns), a lane per probed VIP (class "probe"), markers for alerts and applies, a line at now."""
    span = max(report.until_ns - report.since_ns, 1)
    plot = _W - _LEFT - _RIGHT
    present = min(report.until_ns, max(report.now_ns or report.until_ns, report.since_ns))

    def x(ns: int) -> float:
        return round(_LEFT + plot * (min(max(ns, report.since_ns), report.until_ns) - report.since_ns) / span, 2)

    lanes = [("lane", node, node, segs) for node, segs in report.lanes.items()]
    lanes += [("probe", vip, f"probe {vip}", segs) for vip, segs in report.probes.items()]
    bottom = _TOP + len(lanes) * (_LANE + _GAP)
    height = bottom + 46
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="swimlanes" width="{_W}" height="{height}"'
           f' viewBox="0 0 {_W} {height}" font-family="sans-serif" font-size="12"'
           f' data-since-ns="{report.since_ns}" data-until-ns="{report.until_ns}" data-now-ns="{present}">',
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
           ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#f5f5f5"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#9e9e9e" stroke-width="2"/></pattern></defs>']
    for i, (cls, key, label, segments) in enumerate(lanes):
        y = _TOP + i * (_LANE + _GAP)
        attr = "data-node" if cls == "lane" else "data-vip"
        out.append(f'<g class="{cls}" {attr}="{html.escape(key)}">'
                   f'<text x="{_LEFT - 8}" y="{y + _LANE / 2 + 4}" text-anchor="end">{html.escape(label)}</text>')
        for s in segments:
            width = max(x(s.end_ns) - x(s.start_ns), 1.5)  # a 36 ms split brain stays visible
            fill = _fill(cls, s.state)
            what = _said(cls, s.state)
            tip = f"{what} from {tf.fmt_time(s.start_ns, tz)}, {human_duration((s.end_ns - s.start_ns) / 1e9)}"
            text = ""
            if cls == "probe" and width > 60 and s.state not in HATCHED:
                text = (f'<text x="{x(s.start_ns) + 4}" y="{y + _LANE / 2 + 4}" fill="#fff">'
                        f'{html.escape(what)}</text>')
            seg_cls = "seg unknown" if s.state in HATCHED else f"seg {html.escape(s.state)}"
            out.append(f'<rect class="{seg_cls}" data-state="{html.escape(s.state)}" data-start-ns="{s.start_ns}"'
                       f' data-end-ns="{s.end_ns}" x="{x(s.start_ns)}" y="{y}" width="{width:.2f}"'
                       f' height="{_LANE}" fill="{fill}"><title>{html.escape(tip)}</title></rect>{text}')
        out.append("</g>")
    markers: list[tuple[int, str, str]] = [
        (a.at_ns, f"alert {a.status}", f"alert {a.status}: {target_label(a.target, names)} (route {a.route})")
        for a in report.alerts if report.since_ns <= a.at_ns <= report.until_ns]
    markers += [(a.at_ns, "apply", f"apply {a.jid}") for a in report.applies if a.at_ns >= report.since_ns]
    for ns, cls, tip in markers:
        mx, color = x(ns), "#1565c0" if cls == "apply" else "#c62828" if "failed" in cls else "#2e7d32"
        shape = (f'<rect x="{mx - 5}" y="6" width="10" height="10" transform="rotate(45 {mx} 11)"'
                 if cls == "apply" else f'<path d="M{mx - 6},4 L{mx + 6},4 L{mx},16 Z"')
        out.append(f'<g class="marker {cls}" data-ns="{ns}"><title>{html.escape(tip)}</title>'
                   f'<line x1="{mx}" y1="16" x2="{mx}" y2="{bottom}" stroke="{color}" stroke-dasharray="3,3"/>'
                   f'{shape} fill="{color}"/></g>')
    if present < report.until_ns:
        out.append(f'<g class="now" data-ns="{present}"><line x1="{x(present)}" y1="{_TOP - 6}" x2="{x(present)}"'
                   f' y2="{bottom}" stroke="#000"/><text x="{x(present) + 3}" y="{_TOP - 8}">now</text></g>')
    out.append(f'<g class="axis"><line x1="{_LEFT}" y1="{bottom}" x2="{_W - _RIGHT}" y2="{bottom}" stroke="#555"/>')
    fmt = "%H:%M:%S" if span >= 20 * 10**9 else "%H:%M:%S.%f"
    for k in range(5):
        ns = report.since_ns + span * k // 4
        label = datetime.fromtimestamp(ns / 1e9, tz=tz).strftime(fmt)
        label = label[:-5] if fmt.endswith("%f") else label  # tenths of a second
        out.append(f'<line x1="{x(ns)}" y1="{bottom}" x2="{x(ns)}" y2="{bottom + 4}" stroke="#555"/>'
                   f'<text x="{x(ns)}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
    out.append("</g>")
    shown = {s.state for segs in report.lanes.values() for s in segs}
    legend: list[tuple[str, str]] = [(s, COLORS[s]) for s in ("MASTER", "BACKUP", "FAULT", "STOP") if s in shown]
    if shown & set(HATCHED):
        legend.append(("unknown (silent, dead)", "url(#hatch)"))
    for k, (state, color) in enumerate(legend):
        lx = _LEFT + k * 110
        out.append(f'<rect x="{lx}" y="{bottom + 26}" width="12" height="12" fill="{color}" stroke="#999"/>'
                   f'<text x="{lx + 16}" y="{bottom + 36}">{state}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _fill(cls: str, state: str) -> str:
    if state in HATCHED:
        return "url(#hatch)"
    if cls == "probe":
        return "#c62828" if state == NOBODY else "#43a047"
    return COLORS.get(state, "#bdbdbd")


def _said(cls: str, state: str) -> str:
    if cls == "probe":
        return {NOBODY: "nobody answers", UNKNOWN: "not probed yet"}.get(state, f"{state} answers")
    return {SILENT: "silent (no heartbeat)", DEAD: "keepalived dead", UNKNOWN: "unknown"}.get(state, state)


# -- the documents ----------------------------------------------------------------------------------------


def summary_lines(report: Report, tz: tzinfo) -> list[tuple[str, str]]:
    """(label, text) pairs, the same in markdown, HTML and JSON."""
    lines = []
    if report.incident:
        i = report.incident
        lines.append(("What", f"{i.severity} {i.kind}: {i.summary}"))
        if i.kind in MOMENTS and (i.ended_ns is None or i.ended_ns <= i.at_ns):
            when = f"at {tf.fmt_time(i.at_ns, tz)}"
        elif i.ended_ns:
            when = f"{tf.fmt_time(i.at_ns, tz)} to {tf.fmt_time(i.ended_ns, tz)}" \
                   f" ({human_duration((i.ended_ns - i.at_ns) / 1e9)})"
        else:
            when = f"{tf.fmt_time(i.at_ns, tz)}, still going ({human_duration((report.now_ns - i.at_ns) / 1e9)} so far)"
        lines.append(("When", when))
        lines.append(("Nodes", ", ".join(i.nodes)))
        if i.planned:
            lines.append(("Planned", "yes, during an apply"))
    impact = [f"the VIP had no owner for {human_duration(report.no_owner_ns / 1e9)}"]
    if report.two_owner_ns:
        impact.append(f"two owners for {human_duration(report.two_owner_ns / 1e9)}")
    if report.probe_outage_ns is not None:
        impact.append(f"the probe saw nobody answer for {human_duration(report.probe_outage_ns / 1e9)}")
    lines.append(("Impact", ", ".join(impact)))
    lines.append(("Window", f"{tf.fmt_time(report.since_ns, tz)} to {tf.fmt_time(report.until_ns, tz)}"))
    if report.alerts:
        sent = sum(a.status == "sent" for a in report.alerts)
        lines.append(("Alerts", f"{sent} sent, {len(report.alerts) - sent} not sent"))
    if report.applies:
        lines.append(("Applies", f"{len(report.applies)} in the hour before and during"))
    return lines


def write_picture(report: Report, path: Path, tz: tzinfo, names: dict[str, str] | None = None) -> None:
    """The picture alone, as an SVG file (to attach to a chat message or a ticket)."""
    if path.suffix.lower() != ".svg":
        raise ConfigError(f"--picture {path}: the picture is written as SVG (give a name ending in .svg)")
    try:
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + swimlanes_svg(report, tz, names) + "\n",
                        encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--picture {path}: {exc.strerror}") from None


def html_body(report: Report, tz: tzinfo, names: dict[str, str] | None = None) -> str:
    """The report as HTML without <html> or styles (the web page holds it; write_report wraps it)."""
    out = [f"<h1>{html.escape(report.title)}</h1>\n<dl class=\"summary\">"]
    out += [f"<dt>{label}</dt><dd>{html.escape(text)}</dd>" for label, text in summary_lines(report, tz)]
    out.append(f"</dl>\n<h2>Nodes over time</h2>\n{swimlanes_svg(report, tz, names)}\n")
    if report.alerts:
        out.append("<h2>Alerts</h2>\n<ul class=\"alerts\">")
        out += [f"<li>{html.escape(_alert_line(a, tz, names))}</li>" for a in report.alerts]
        out.append("</ul>\n")
    if report.applies:
        out.append("<h2>Apply jobs before and during</h2>\n<ul>")
        out += [f"<li>{html.escape(tf.describe(a)[2])}</li>" for a in report.applies]
        out.append("</ul>\n")
    out.append("<h2>Timeline</h2>\n")
    out += [line + "\n" for line in tf.html_rows(_named(report.rows, names), tz)]
    return "".join(out)


def write_report(report: Report, out: TextIO, fmt: str, tz: tzinfo, *, svg_path: Path | None = None,
                 names: dict[str, str] | None = None) -> None:
    """Markdown (the picture goes to `svg_path` and is linked, if given) or one self-contained HTML file."""
    if fmt == "markdown":
        out.write(f"# {report.title}\n\n## Summary\n\n")
        out.writelines(f"- **{label}**: {tf.md_escape(text)}\n" for label, text in summary_lines(report, tz))
        if svg_path is not None:
            svg_path.write_text(swimlanes_svg(report, tz, names), encoding="utf-8")
            out.write(f"\n![one lane per node]({svg_path.name})\n")
        if report.alerts:
            out.write("\n## Alerts\n\n")
            out.writelines(f"- {tf.md_escape(_alert_line(a, tz, names))}\n" for a in report.alerts)
        if report.applies:
            out.write("\n## Apply jobs before and during\n\n")
            out.writelines(f"- {tf.md_escape(tf.describe(a)[2])}\n" for a in report.applies)
        out.write("\n## Timeline\n\n")
        out.writelines(line + "\n" for line in tf.markdown_rows(_named(report.rows, names), tz))
        return
    out.write(f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(report.title)}</title>"
              f"<style>{tf.HTML_STYLE}\ndl{{display:grid;grid-template-columns:8em 1fr}}dt{{font-weight:bold}}"
              f"</style></head><body>\n")
    out.write(html_body(report, tz, names))
    out.write("</body></html>\n")


def report_json(report: Report, tz: tzinfo, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The report's content as JSON: what the page shows, rows as `hamaster timeline --format json` writes them."""
    def lane(segs: list[Segment]) -> list[dict[str, Any]]:
        return [{"state": s.state, "start_ns": s.start_ns, "end_ns": s.end_ns} for s in segs]

    rows = [tf.to_json(r) for r in _named(report.rows, names)]
    return {"title": report.title, "since_ns": report.since_ns, "until_ns": report.until_ns, "now_ns": report.now_ns,
            "incident": next((r for r in rows if r["type"] == "incident" and report.incident
                              and r["id"] == report.incident.id), None),
            "summary": dict(summary_lines(report, tz)),
            "impact": {"no_owner_ns": report.no_owner_ns, "two_owner_ns": report.two_owner_ns,
                       "probe_outage_ns": report.probe_outage_ns, "over": list(report.span) if report.span else None},
            "lanes": {node: lane(segs) for node, segs in report.lanes.items()},
            "probes": {vip: lane(segs) for vip, segs in report.probes.items()},
            "alerts": [r for r in rows if r["type"] == "alert"],
            "applies": [tf.to_json(a) for a in report.applies],
            "rows": rows}
