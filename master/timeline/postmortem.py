"""`hamaster postmortem`: the report an operator writes the morning after, made from the store.

A report holds the summary (what, when, impact: how long the VIP had no owner and how long it had two),
the timeline around the incident, the alerts sent, the apply jobs of the hour before, and a picture: one
swimlane per node with its MASTER / BACKUP / FAULT / STOP segments and markers for alerts and applies, as a
small hand-written SVG (inline in HTML, a file beside the markdown).
"""

import html
from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from hamaster.core.timeutil import human_duration
from hamaster.master.store import Connection, events
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl

APPLIES_BEFORE_NS = 3600 * 10**9  # config changes this close before an incident are listed as suspects
UNKNOWN = "UNKNOWN"
COLORS = {"MASTER": "#2e7d32", "BACKUP": "#90a4ae", "FAULT": "#c62828", "STOP": "#424242", "DELETED": "#424242",
          UNKNOWN: "#eeeeee"}


@dataclass(frozen=True, slots=True)
class Segment:
    state: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Report:
    title: str
    since_ns: int
    until_ns: int
    incident: tl.IncidentRow | None
    rows: list[tl.Row]
    lanes: dict[str, list[Segment]]  # node -> its states over the window, in order
    no_owner_ns: int  # time in the window with no node MASTER (once every lane's state is known)
    two_owner_ns: int  # time with two or more MASTERs: split brain
    alerts: list[tl.AlertRow]
    applies: list[tl.ApplyRow]  # in the hour before the window, and inside it


def build_report(conn: Connection, q: tl.Query, incident_id: int | None = None) -> Report:
    until = q.until_ns if q.until_ns is not None else max(q.since_ns or 0, _last_ns(conn))
    q = tl.Query(since_ns=q.since_ns, until_ns=until, nodes=q.nodes, instance=q.instance, kinds=q.kinds)
    since = q.since_ns if q.since_ns is not None else 0
    rows = list(tl.timeline(conn, q))
    incident = next((r for r in rows if isinstance(r, tl.IncidentRow) and r.id == incident_id), None)
    instance = q.instance or (incident.instance if incident else None) or _first_instance(rows)
    lanes = _lanes(conn, rows, instance, q.nodes, since, until)
    no_owner, two_owner = _impact(lanes, since, until)
    before = tl.Query(since_ns=since - APPLIES_BEFORE_NS, until_ns=since, nodes=q.nodes, kinds=("apply",))
    applies = [r for r in tl.timeline(conn, before) if isinstance(r, tl.ApplyRow)]
    applies += [r for r in rows if isinstance(r, tl.ApplyRow)]
    if incident:
        where = incident.instance or ", ".join(incident.nodes)
        title = f"Postmortem: {incident.kind} of {where} (incident {incident.id})"
    else:
        title = "Postmortem: " + (instance or "all instances")
    return Report(title, since, until, incident, rows, lanes, no_owner, two_owner,
                  [r for r in rows if isinstance(r, tl.AlertRow)], applies)


def _last_ns(conn: Connection) -> int:
    return events.end_ns(conn)


def _first_instance(rows: list[tl.Row]) -> str | None:
    return next((r.instance for r in rows if isinstance(r, tl.EventRow) and r.kind == "vrrp"), None)


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
            points.append((max(r.at_ns, since), r.to_state))
    lanes = {}
    for node in sorted(changes):
        points, segments = changes[node], []
        for (start, state), (end, _) in zip(points, [*points[1:], (until, "")], strict=True):
            if end > start:
                segments.append(Segment(state, start, end))
        lanes[node] = segments
    return lanes


def _impact(lanes: dict[str, list[Segment]], since: int, until: int) -> tuple[int, int]:
    """Sweep the window: sum the time with no MASTER (every lane known) and with two or more."""
    edges = sorted({since, until, *(s.start_ns for segs in lanes.values() for s in segs)})
    no_owner = two_owner = 0
    for start, end in pairwise(edges):
        states = [next((s.state for s in segs if s.start_ns <= start < s.end_ns), UNKNOWN) for segs in lanes.values()]
        masters = states.count("MASTER")
        if masters >= 2:
            two_owner += end - start
        elif masters == 0 and states and UNKNOWN not in states:
            no_owner += end - start
    return no_owner, two_owner


# -- the picture ------------------------------------------------------------------------------------------

_W, _LEFT, _RIGHT, _TOP, _LANE, _GAP = 900, 90, 20, 28, 26, 8


def swimlanes_svg(report: Report, tz: tzinfo) -> str:
    """One lane per node, a rect per segment (class "seg STATE", data-start-ns/data-end-ns), markers on top."""
    span = max(report.until_ns - report.since_ns, 1)
    plot = _W - _LEFT - _RIGHT

    def x(ns: int) -> float:
        return round(_LEFT + plot * (ns - report.since_ns) / span, 2)

    height = _TOP + len(report.lanes) * (_LANE + _GAP) + 46
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="swimlanes" width="{_W}" height="{height}"'
           f' viewBox="0 0 {_W} {height}" font-family="sans-serif" font-size="12">']
    for i, (node, segments) in enumerate(report.lanes.items()):
        y = _TOP + i * (_LANE + _GAP)
        out.append(f'<g class="lane" data-node="{html.escape(node)}">'
                   f'<text x="{_LEFT - 8}" y="{y + _LANE / 2 + 4}" text-anchor="end">{html.escape(node)}</text>')
        for s in segments:
            width = max(x(s.end_ns) - x(s.start_ns), 1.5)  # a 36 ms split brain stays visible
            tip = f"{s.state} {tf.fmt_time(s.start_ns, tz)}, {human_duration((s.end_ns - s.start_ns) / 1e9)}"
            out.append(f'<rect class="seg {s.state}" data-state="{s.state}" data-start-ns="{s.start_ns}"'
                       f' data-end-ns="{s.end_ns}" x="{x(s.start_ns)}" y="{y}" width="{width:.2f}"'
                       f' height="{_LANE}" fill="{COLORS.get(s.state, COLORS[UNKNOWN])}">'
                       f'<title>{html.escape(tip)}</title></rect>')
        out.append("</g>")
    bottom = _TOP + len(report.lanes) * (_LANE + _GAP)
    markers: list[tuple[int, str, str]] = [
        (a.at_ns, f"alert {a.status}", f"alert {a.status}: {a.route} {a.target}") for a in report.alerts]
    markers += [(a.at_ns, "apply", f"apply {a.jid}") for a in report.applies if a.at_ns >= report.since_ns]
    for ns, cls, tip in markers:
        mx, color = x(ns), "#1565c0" if cls == "apply" else "#c62828" if "failed" in cls else "#2e7d32"
        shape = (f'<rect x="{mx - 5}" y="6" width="10" height="10" transform="rotate(45 {mx} 11)"'
                 if cls == "apply" else f'<path d="M{mx - 6},4 L{mx + 6},4 L{mx},16 Z"')
        out.append(f'<g class="marker {cls}" data-ns="{ns}"><title>{html.escape(tip)}</title>'
                   f'<line x1="{mx}" y1="16" x2="{mx}" y2="{bottom}" stroke="{color}" stroke-dasharray="3,3"/>'
                   f'{shape} fill="{color}"/></g>')
    out.append(f'<g class="axis"><line x1="{_LEFT}" y1="{bottom}" x2="{_W - _RIGHT}" y2="{bottom}" stroke="#555"/>')
    for k in range(5):
        ns = report.since_ns + span * k // 4
        label = datetime.fromtimestamp(ns / 1e9, tz=tz).strftime("%H:%M:%S")
        out.append(f'<line x1="{x(ns)}" y1="{bottom}" x2="{x(ns)}" y2="{bottom + 4}" stroke="#555"/>'
                   f'<text x="{x(ns)}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
    out.append("</g>")
    legend = [s for s in ("MASTER", "BACKUP", "FAULT", "STOP") if s in COLORS]
    for k, state in enumerate(legend):
        lx = _LEFT + k * 90
        out.append(f'<rect x="{lx}" y="{bottom + 26}" width="12" height="12" fill="{COLORS[state]}"/>'
                   f'<text x="{lx + 16}" y="{bottom + 36}">{state}</text>')
    out.append("</svg>")
    return "\n".join(out)


# -- the documents ----------------------------------------------------------------------------------------


def summary_lines(report: Report, tz: tzinfo) -> list[tuple[str, str]]:
    """(label, text) pairs, the same in markdown and HTML."""
    lines = []
    if report.incident:
        i = report.incident
        lines.append(("What", f"{i.severity} {i.kind}: {i.summary}"))
        end = f" to {tf.fmt_time(i.ended_ns, tz)} ({human_duration((i.ended_ns - i.at_ns) / 1e9)})" \
            if i.ended_ns else ", still going"
        lines.append(("When", f"{tf.fmt_time(i.at_ns, tz)}{end}"))
        lines.append(("Nodes", ", ".join(i.nodes)))
        if i.planned:
            lines.append(("Planned", "yes, during an apply"))
    lines.append(("Window", f"{tf.fmt_time(report.since_ns, tz)} to {tf.fmt_time(report.until_ns, tz)}"))
    lines.append(("Impact", f"the VIP had no owner for {human_duration(report.no_owner_ns / 1e9)}"
                            f" and two owners for {human_duration(report.two_owner_ns / 1e9)}"))
    sent = sum(a.status == "sent" for a in report.alerts)
    lines.append(("Alerts", f"{sent} sent, {len(report.alerts) - sent} not sent"))
    lines.append(("Applies", f"{len(report.applies)} in the hour before and during"))
    return lines


def write_report(report: Report, out: TextIO, fmt: str, tz: tzinfo, *, svg_path: Path | None = None) -> None:
    """Markdown (the picture goes to `svg_path` and is linked, if given) or one self-contained HTML file."""
    svg = swimlanes_svg(report, tz)
    if fmt == "markdown":
        out.write(f"# {report.title}\n\n## Summary\n\n")
        out.writelines(f"- **{label}**: {tf.md_escape(text)}\n" for label, text in summary_lines(report, tz))
        if svg_path is not None:
            svg_path.write_text(svg, encoding="utf-8")
            out.write(f"\n![one lane per node]({svg_path.name})\n")
        out.write("\n## Apply jobs before and during\n\n")
        out.writelines(f"- {tf.md_escape(tf.describe(a)[2])}\n" for a in report.applies)
        if not report.applies:
            out.write("none\n")
        out.write("\n## Timeline\n\n")
        out.writelines(line + "\n" for line in tf.markdown_rows(report.rows, tz))
        return
    out.write(f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(report.title)}</title>"
              f"<style>{tf.HTML_STYLE}\ndl{{display:grid;grid-template-columns:8em 1fr}}dt{{font-weight:bold}}"
              f"</style></head><body>\n<h1>{html.escape(report.title)}</h1>\n<dl>")
    out.writelines(f"<dt>{label}</dt><dd>{html.escape(text)}</dd>" for label, text in summary_lines(report, tz))
    out.write(f"</dl>\n<h2>Nodes over time</h2>\n{svg}\n<h2>Apply jobs before and during</h2>\n<ul>")
    out.writelines(f"<li>{html.escape(tf.describe(a)[2])}</li>" for a in report.applies)
    out.write("</ul>\n<h2>Timeline</h2>\n")
    out.writelines(line + "\n" for line in tf.html_rows(report.rows, tz))
    out.write("</body></html>\n")
