"""The timeline as a table for people: fixed-width columns, streamed, laid out as rich lays out a table.

A day over a busy store is tens of thousands of rows, and rich takes a third of a millisecond to lay out
one (ten seconds for the day). Nearly every row is plain ASCII that fits its columns, and for those the
layout is only padding: such a row is padded here, to the very text rich would print, and the padded
cells are kept for the next row that says the same (most do: the same node, transition and source).
Cells that need wrapping (a long summary, a target URL, wide or control characters) are laid out by rich.
tests/timeline/test_timeline_table.py holds the table to what rich prints laying out all of it itself.
"""

from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import TextIO

from rich.console import Console
from rich.text import Text

from hamaster.master.timeline.formats import COLUMNS, describe, time_formatter
from hamaster.master.timeline.rows import AlertRow, ApplyRow, DrainRow, DrillRow, IncidentRow, Row

WIDTHS = (29, 12, 8, 46, 4, 10, 36)
GAP = "   "  # cell padding, the box's column divider (a space), padding: box.SIMPLE_HEAD without edges
LINE_WIDTH = sum(WIDTHS) + len(GAP) * (len(WIDTHS) - 1)
_CHUNK = 500  # rows per write
_KEPT = 20_000  # laid-out cells kept (a day of a 50-node site says some 5,000 different things)


def row_style(row: Row) -> str:
    if isinstance(row, IncidentRow):
        return {"critical": "bold red", "warning": "bold yellow"}.get(row.severity, "bold")
    if isinstance(row, AlertRow):
        return "green" if row.status == "sent" else "red" if row.status == "failed" else "dim"
    if isinstance(row, ApplyRow | DrainRow):
        return "cyan"
    if isinstance(row, DrillRow):
        return "bold green" if row.ok else "bold red"
    return "dim" if row.late else ""


def fits(text: str, width: int) -> bool:
    """Whether text is one line of `width` cells at most: printable ASCII, a cell a character."""
    return len(text) <= width and text.isascii() and text.isprintable()


def layout(cells: tuple[str, ...], widths: tuple[int, ...], console: Console) -> list[str]:
    """Lines of cells as rich lays them out in a row: word-wrapped (long words folded), padded, top-aligned."""
    line = GAP.join(map(str.ljust, cells, widths))
    if len(line) == sum(widths) + len(GAP) * (len(widths) - 1) and fits(line, len(line)):
        return [line]  # every cell fits its column (a longer one would make the line longer)
    wrapped = [[cell.ljust(width)] if fits(cell, width) else
               [line.plain for line in Text(cell).wrap(console, width, justify="left", overflow="fold")]
               for cell, width in zip(cells, widths, strict=True)]
    return [GAP.join(lines[i] if i < len(lines) else " " * width for lines, width in zip(wrapped, widths, strict=True))
            for i in range(max(map(len, wrapped)))]


def _styler(console: Console) -> Callable[[str], tuple[str, str]]:
    """style -> (before, after): the escape codes this console writes around text in that style."""
    codes: dict[str, tuple[str, str]] = {}

    def codes_of(style: str) -> tuple[str, str]:
        if style not in codes:
            with console.capture() as capture:
                console.print(Text("x", style=style), end="")
            before, _, after = capture.get().partition("x")
            codes[style] = (before, after)
        return codes[style]
    return codes_of


def write_table(rows: Iterable[Row], out: TextIO, tz: tzinfo, *, color: bool = False) -> int:
    """Write the table, in colour if `color` (the caller knows `out` is a terminal); returns the row count."""
    console = Console(file=out, width=LINE_WIDTH + 3, no_color=not color, color_system="auto" if color else None,
                      force_terminal=True if color else None, highlight=False, emoji=False)
    fmt_time, codes_of = time_formatter(tz), _styler(console)
    bold, names = codes_of("bold") if color else ("", ""), GAP.join(map(str.ljust, COLUMNS, WIDTHS))
    lines = [bold[0] + names + bold[1], "\u2500" * LINE_WIDTH]  # the header as box.SIMPLE_HEAD draws it
    no_time = " " * WIDTHS[0] + GAP
    # what a row says (all but its time) -> its first line after the time, and its further lines
    kept: dict[tuple[str, ...], tuple[str, list[str]]] = {}
    n = 0
    for n, row in enumerate(rows, 1):
        at, words = fmt_time(row.at_ns), describe(row)
        if (said := kept.get(words)) is None:
            if len(kept) == _KEPT:
                kept.clear()
            first, *more = layout(words, WIDTHS[1:], console)
            said = kept[words] = (first, [no_time + line for line in more])
        # an offset with seconds (+05:00:30) makes the time too wide: it wraps too
        row_lines = [at + GAP + said[0], *said[1]] if len(at) == WIDTHS[0] else layout((at, *words), WIDTHS, console)
        if color and (style := row_style(row)):
            before, after = codes_of(style)
            row_lines = [before + text + after for text in row_lines]
        lines.extend(row_lines)
        if n % _CHUNK == 0:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    return n
