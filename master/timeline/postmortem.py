"""`hamaster postmortem`: the report an operator writes the morning after, made from the store.

A report holds the summary (what, when, impact: how long the VIP had no owner, how long it had two, how
long the master's probe saw nobody answer), the alerts sent (by target name, never a URL), the apply jobs of
the hour before, the timeline around the incident, and a picture (picture.py). Its content comes from
report.py (the zoomed window, the lanes, the impact); this module writes it as markdown, one HTML file, the
web page's HTML (`html_body`) or JSON (`report_json`). Sections with nothing in them are left out.
"""

import html
from dataclasses import replace
from datetime import tzinfo
from pathlib import Path
from typing import Any, TextIO

from hamaster.core.timeutil import human_duration
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl
from hamaster.master.timeline.picture import swimlanes_svg, write_picture
from hamaster.master.timeline.report import (
    MOMENTS,
    Report,
    Segment,
    build_report,
    incident_report,
    incident_span,
    target_label,
)

__all__ = ["Report", "Segment", "build_report", "html_body", "incident_report", "incident_span", "report_json",
           "summary_lines", "swimlanes_svg", "target_label", "write_picture", "write_report"]


def _alert_line(a: tl.AlertRow, tz: tzinfo, names: dict[str, str] | None) -> str:
    tries = f" after {a.attempts} tries" if a.attempts > 1 else ""
    why = f" ({a.error})" if a.error and a.status != "sent" else ""
    return f"{tf.fmt_time(a.at_ns, tz)} {a.status}{tries}: {target_label(a.target, names)} (route {a.route}){why}"


def _named(rows: list[tl.Row], names: dict[str, str] | None) -> list[tl.Row]:
    return [replace(r, target=target_label(r.target, names)) if isinstance(r, tl.AlertRow) else r for r in rows]


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
