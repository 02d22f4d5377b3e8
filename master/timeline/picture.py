"""The postmortem's picture: one swimlane per node (its MASTER / BACKUP / FAULT / STOP segments, hatched where
it was silent or its keepalived dead), a lane per probed VIP (who answered), markers for the alerts and
applies, a line at the moment of the report; a small hand-written SVG with the data in its attributes
(data-state, data-start-ns, data-end-ns), so tests and tools can read it back.
"""

import html
from datetime import datetime, tzinfo
from pathlib import Path

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import human_duration
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline.report import COLORS, DEAD, HATCHED, NOBODY, SILENT, UNKNOWN, Report, target_label

_W, _RIGHT, _TOP, _LANE, _GAP = 900, 20, 28, 26, 8
_CHAR = 7  # px a character of the 12 px labels takes, about: the left margin fits the longest label


def swimlanes_svg(report: Report, tz: tzinfo, names: dict[str, str] | None = None) -> str:
    """One lane per node (class "lane", a rect per segment: class "seg STATE", data-state, data-start-ns,
    data-end-ns), a lane per probed VIP (class "probe"), markers for alerts and applies, a line at now."""
    span = max(report.until_ns - report.since_ns, 1)
    lanes = [("lane", node, node, segs) for node, segs in report.lanes.items()]
    lanes += [("probe", vip, f"probe {vip}", segs) for vip, segs in report.probes.items()]
    left = min(max(90, 16 + _CHAR * max((len(label) for _, _, label, _ in lanes), default=0)), 300)
    plot = _W - left - _RIGHT
    present = min(report.until_ns, max(report.now_ns or report.until_ns, report.since_ns))

    def x(ns: int) -> float:
        return round(left + plot * (min(max(ns, report.since_ns), report.until_ns) - report.since_ns) / span, 2)

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
                   f'<text x="{left - 8}" y="{y + _LANE / 2 + 4}" text-anchor="end">{html.escape(label)}</text>')
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
    out.append(f'<g class="axis"><line x1="{left}" y1="{bottom}" x2="{_W - _RIGHT}" y2="{bottom}" stroke="#555"/>')
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
        lx = left + k * 110
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


def write_picture(report: Report, path: Path, tz: tzinfo, names: dict[str, str] | None = None) -> None:
    """The picture alone, as an SVG file (to attach to a chat message or a ticket)."""
    if path.suffix.lower() != ".svg":
        raise ConfigError(f"--picture {path}: the picture is written as SVG (give a name ending in .svg)")
    try:
        path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + swimlanes_svg(report, tz, names) + "\n",
                        encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--picture {path}: {exc.strerror}") from None
