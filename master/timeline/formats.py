"""Timeline output: a rich table for people, JSON lines for tools, markdown and HTML for postmortems.

JSON (`--format json`) is JSON lines: one object per row, in time order, keys always present (null when
unknown), so `jq` and line-by-line readers need no more than one line in memory. Times are integers, ns since
the epoch UTC (`jq '.at_ns / 1e9 | todate'` reads one). Every object has `type`:

    event     at_ns node kind tag instance from to priority sources master_ns skew_ns late clock_skew_ns ids
    incident  at_ns id kind instance severity ended_ns duration_ns nodes summary gap_ns planned
    alert     at_ns id incident_id route target status attempts error title
    apply     at_ns jid finished_ns targets test changes
    drain     at_ns node drained jid held
    drill     at_ns id ended_ns instance holder peer ok summary figures

`from` is the node's previous state of the instance; `skew_ns` is master_ns - at_ns of the event;
`clock_skew_ns` is the node's clock offset when it is over a second (else null), and then at_ns is corrected
by it (node time + offset: comparable with the other nodes' rows); `late` says the event sat in a spool.
"""

import html
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, TextIO

from hamaster.core.errors import ConfigError
from hamaster.core.timeutil import human_duration, human_span
from hamaster.master.timeline.rows import AlertRow, DrainRow, DrillRow, EventRow, IncidentRow, Row

FORMATS = ("table", "json", "markdown", "html")
_EPOCH_MIDNIGHT = datetime(1970, 1, 1)  # naive: local wall time, counted in the zone's minutes
_SECONDS = [f"{s:02d}." for s in range(60)]  # looked up: a format spec a row costs more
_MILLIS = [f"{ms:03d}" for ms in range(1000)]
COLUMNS = ("Time", "Node", "Instance", "What", "Prio", "Source", "Note")
_CHUNK = 500  # rows per write


def parse_tz(text: str | None) -> tzinfo:
    """'UTC', '+08:00', 'Asia/Shanghai', or None for this machine's local zone."""
    if text is None:
        return datetime.now().astimezone().tzinfo or UTC
    if text.upper() in ("UTC", "Z"):
        return UTC
    if text[:1] in "+-":
        try:
            hours, _, minutes = text[1:].partition(":")
            delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
            return timezone(-delta if text[0] == "-" else delta)
        except ValueError:
            pass
    else:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ConfigError(f"--tz {text!r}: expected UTC, an offset like +08:00 or a zone like Asia/Shanghai")


def fmt_time(ns: int, tz: tzinfo) -> str:
    """2024-05-14 10:00:07.412+08:00: to the millisecond, with the offset."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=tz).replace(microsecond=(ns // 1000) % 1_000_000)
    return dt.isoformat(sep=" ", timespec="milliseconds")


def time_formatter(tz: tzinfo) -> Callable[[int], str]:
    """fmt_time for one zone, for row after row. In a fixed offset (UTC, +08:00, this machine's zone as
    parse_tz gives it) each minute's text is made once and a row adds its seconds: a fifth of the cost."""
    offset = tz.utcoffset(None) if isinstance(tz, timezone) else None
    if offset is None or offset.microseconds:
        return lambda ns: fmt_time(ns, tz)
    offset_s = offset.days * 86_400 + offset.seconds
    suffix = fmt_time(0, tz)[len("1970-01-01 00:00:00.000"):]  # the offset as isoformat writes it
    minutes: dict[int, str] = {}

    def fmt(ns: int) -> str:
        minute, second = divmod(ns // 1_000_000_000 + offset_s, 60)  # local time
        if (text := minutes.get(minute)) is None:
            text = minutes[minute] = (_EPOCH_MIDNIGHT + timedelta(minutes=minute)).isoformat(sep=" ")[:-2]
        return f"{text}{_SECONDS[second]}{_MILLIS[ns // 1_000_000 % 1000]}{suffix}"
    return fmt


def _dur(ns: int) -> str:
    return human_duration(ns / 1e9)


# incidents that last (and so can be ongoing); a failover, recovered or node_back is a moment
LASTING = ("split_brain", "no_master", "flapping", "node_silent")


def describe(row: Row) -> tuple[str, str, str, str, str, str]:
    """-> (node, instance, what, priority, source, note): the words every human format shows."""
    if isinstance(row, EventRow):
        notes = []
        if row.late:
            notes.append(f"late by {_dur(row.skew_ns)}")  # at_ns is corrected when clock_skew_ns is set
        if row.clock_skew_ns is not None:
            slow = "slow" if row.clock_skew_ns > 0 else "fast"
            notes.append(f"clock {_dur(abs(row.clock_skew_ns))} {slow}")
        what = f"{row.from_state or '?'} -> {row.to_state}" if row.kind == "vrrp" else row.tag.replace("/", " ", 1)
        if row.tag == "minion/spool/reset":  # named by the master: a new spool where the node had one before
            what = f"spool of {row.node} was reset"
        prio = "" if row.priority is None else str(row.priority)
        return row.node, row.instance or "", what, prio, "+".join(row.sources), "; ".join(notes)
    if isinstance(row, IncidentRow):
        notes = []
        span = row.data.get("gap_range_ns")  # a silent holder's death is known within bounds: show them
        if row.gap_ns is not None and isinstance(span, list) and len(span) == 2 and span[0] != span[1]:
            notes.append(f"gap {human_span(span[0] / 1e9, span[1] / 1e9)}")
        elif row.gap_ns is not None:
            notes.append(f"gap {_dur(row.gap_ns)}")
        if row.ended_ns is None:
            if row.kind in LASTING:
                notes.append("ongoing")
        elif row.ended_ns > row.at_ns and row.gap_ns is None:
            notes.append(f"lasted {_dur(row.ended_ns - row.at_ns)}")
        if row.planned:
            notes.append("planned")
        what = f"{row.severity.upper()} {row.kind}: {row.summary}"
        return ",".join(row.nodes), row.instance or "", what, "", "correlator", "; ".join(notes)
    if isinstance(row, AlertRow):
        notes = [f"{row.attempts} tries"] if row.attempts > 1 else []
        if row.error:
            notes.append(row.error)
        what = f"alert {row.status} #{row.incident_id}: {row.route} {row.target}"
        return ",".join(row.nodes), row.instance or "", what, "", "notify", "; ".join(notes)
    if isinstance(row, DrainRow):
        what = f"drained (held {', '.join(row.held) or 'nothing'})" if row.drained else "undrained: in service"
        return row.node, "", what, "", "drain", f"job {row.jid}" if row.jid else ""
    if isinstance(row, DrillRow):
        took = f"took {_dur(row.ended_ns - row.at_ns)}"
        return (",".join(n for n in (row.holder, row.peer) if n), row.instance or "",
                f"drill #{row.id} {'ok' if row.ok else 'FAILED'}: {row.summary}", "", "drill", took)
    changes = "; ".join(
        f"{m}: " + (", ".join(f"{c[k]} {k}" for k in ("changed", "failed") if c.get(k)) or "no change")
        for m, c in sorted(row.changes.items()))
    what = f"apply{' --test' if row.test else ''} {row.jid}" + (f" ({changes})" if changes else "")
    note = f"took {_dur(row.finished_ns - row.at_ns)}" if row.finished_ns else "running"
    return ",".join(row.targets), "", what, "", "job", note


def to_json(row: Row) -> dict[str, Any]:
    at = {"at_ns": row.at_ns}
    if isinstance(row, EventRow):
        return {"type": "event", **at, "node": row.node, "kind": row.kind, "tag": row.tag,
                "instance": row.instance, "from": row.from_state, "to": row.to_state, "priority": row.priority,
                "sources": list(row.sources), "master_ns": row.master_ns, "skew_ns": row.skew_ns,
                "late": row.late, "clock_skew_ns": row.clock_skew_ns, "ids": list(row.ids)}
    if isinstance(row, IncidentRow):
        return {"type": "incident", **at, "id": row.id, "kind": row.kind, "instance": row.instance,
                "severity": row.severity, "ended_ns": row.ended_ns,
                "duration_ns": None if row.ended_ns is None else row.ended_ns - row.at_ns,
                "nodes": list(row.nodes), "summary": row.summary, "gap_ns": row.gap_ns, "planned": row.planned}
    if isinstance(row, AlertRow):
        return {"type": "alert", **at, "id": row.id, "incident_id": row.incident_id, "route": row.route,
                "target": row.target, "status": row.status, "attempts": row.attempts, "error": row.error,
                "title": row.title}
    if isinstance(row, DrainRow):
        return {"type": "drain", **at, "node": row.node, "drained": row.drained, "jid": row.jid,
                "held": list(row.held)}
    if isinstance(row, DrillRow):
        return {"type": "drill", **at, "id": row.id, "ended_ns": row.ended_ns, "instance": row.instance,
                "holder": row.holder, "peer": row.peer, "ok": row.ok, "summary": row.summary,
                "figures": row.figures}
    return {"type": "apply", **at, "jid": row.jid, "finished_ns": row.finished_ns, "targets": list(row.targets),
            "test": row.test, "changes": row.changes}


class _JsonText(dict[Any, str]):
    """JSON text of the values rows repeat (node names, tags, states, source lists, None), made once each.

    Never give it a bool: True == 1 as a key, so it would answer "true" for a priority of 1.
    """

    def __missing__(self, value: Any) -> str:
        text = self[value] = json.dumps(value, separators=(",", ":"))
        return text


def event_json(row: EventRow, text: _JsonText) -> str:
    """The JSON line of an event: what dumps(to_json(row)) gives, spelled out (four times as fast).

    Events are nearly every row of a window, and most of their fields are a few names repeated: `text`
    holds those names encoded once, and numbers need no encoding.
    """
    return (f'{{"type":"event","at_ns":{row.at_ns},"node":{text[row.node]},"kind":{text[row.kind]},'
            f'"tag":{text[row.tag]},"instance":{text[row.instance]},"from":{text[row.from_state]},'
            f'"to":{text[row.to_state]},"priority":{text[row.priority]},"sources":{text[row.sources]},'
            f'"master_ns":{row.master_ns},"skew_ns":{row.master_ns - row.at_ns},'
            f'"late":{"true" if row.late else "false"},"clock_skew_ns":{text[row.clock_skew_ns]},'
            f'"ids":[{row.ids[0] if len(row.ids) == 1 else ",".join(map(str, row.ids))}]}}\n')


def write_json(rows: Iterable[Row], out: TextIO) -> int:
    """JSON lines, written a few hundred rows at a time (one write a row costs more than the row)."""
    dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode  # rows hold no cycles
    text = _JsonText()
    lines: list[str] = []
    n = 0
    for n, row in enumerate(rows, 1):  # noqa: B007 (n is the count)
        lines.append(event_json(row, text) if type(row) is EventRow else dumps(to_json(row)) + "\n")
        if len(lines) == _CHUNK:
            out.write("".join(lines))
            lines.clear()
    out.write("".join(lines))
    return n


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_rows(rows: Iterable[Row], tz: tzinfo) -> Iterator[str]:
    yield "| " + " | ".join(COLUMNS) + " |"
    yield "|" + "---|" * len(COLUMNS)
    at = time_formatter(tz)
    for row in rows:
        cells = (at(row.at_ns), *describe(row))
        bold = isinstance(row, IncidentRow)
        yield "| " + " | ".join(f"**{md_escape(c)}**" if bold and c else md_escape(c) for c in cells) + " |"


def html_rows(rows: Iterable[Row], tz: tzinfo) -> Iterator[str]:
    yield "<table class=\"timeline\"><thead><tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS) + "</tr></thead><tbody>"
    at = time_formatter(tz)
    for row in rows:
        cls = type(row).__name__.removesuffix("Row").lower()
        if isinstance(row, EventRow) and row.late:
            cls += " late"
        cells = (at(row.at_ns), *describe(row))
        yield f"<tr class=\"{cls}\">" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
    yield "</tbody></table>"


HTML_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table.timeline{border-collapse:collapse;font:12px ui-monospace,monospace}
table.timeline td,table.timeline th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
tr.incident{font-weight:bold;background:#fff3e0}tr.alert{background:#e8f5e9}tr.apply{background:#e3f2fd}
tr.late{color:#888;font-style:italic}"""


def write_document(rows: Iterable[Row], out: TextIO, fmt: str, tz: tzinfo, title: str) -> int:
    """A markdown or HTML document holding the timeline (the postmortem adds a summary and a picture)."""
    n = 0
    if fmt == "markdown":
        out.write(f"# {title}\n\n")
        for n, line in enumerate(markdown_rows(rows, tz)):  # noqa: B007 (n counts the header lines too)
            out.write(line + "\n")
        return max(n - 1, 0)
    out.write(f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
              f"<style>{HTML_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n")
    for n, line in enumerate(html_rows(rows, tz)):  # noqa: B007
        out.write(line + "\n")
    out.write("</body></html>\n")
    return max(n - 1, 0)


def write(rows: Iterable[Row], out: TextIO, fmt: str, tz: tzinfo, *, title: str = "Timeline",
          color: bool = False) -> int:
    """Write rows in `fmt`; returns how many rows were written."""
    if fmt == "json":
        return write_json(rows, out)
    if fmt == "table":
        from hamaster.master.timeline.table import write_table  # rich: only the table needs it

        return write_table(rows, out, tz, color=color)
    return write_document(rows, out, fmt, tz, title)
