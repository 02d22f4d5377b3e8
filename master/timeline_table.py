"""The timeline as a table for people: fixed-width columns, streamed, laid out as rich lays out a table.

A day over a busy store is tens of thousands of rows, and rich takes a third of a millisecond to lay out
one (ten seconds for the day). Nearly every row is plain ASCII that fits its columns, and for those the
layout is only padding: such a row is padded here, to the very text rich would print. The header and the
rows that need wrapping (a long summary, a target URL, wide or control characters) are laid out by rich.
tests/timeline/test_timeline_table.py holds both ways to rich printing the whole table itself.
"""

from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hamaster.master.timeline import AlertRow, ApplyRow, IncidentRow, Row
from hamaster.master.timeline_formats import COLUMNS, describe, time_formatter

WIDTHS = (29, 12, 8, 46, 4, 10, 36)
GAP = "   "  # cell padding, the box's column divider (a space), padding: box.SIMPLE_HEAD without edges
LINE_WIDTH = sum(WIDTHS) + len(GAP) * (len(WIDTHS) - 1)
_CHUNK = 500  # rows per write


def row_style(row: Row) -> str:
    if isinstance(row, IncidentRow):
        return {"critical": "bold red", "warning": "bold yellow"}.get(row.severity, "bold")
    if isinstance(row, AlertRow):
        return "green" if row.status == "sent" else "red" if row.status == "failed" else "dim"
    if isinstance(row, ApplyRow):
        return "cyan"
    return "dim" if row.late else ""


def header(console: Console) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, width in zip(COLUMNS, WIDTHS, strict=True):
        table.add_column(name, width=width)
    console.print(table, markup=False)


def fits(text: str, width: int) -> bool:
    """Whether text is one line of `width` cells at most: printable ASCII, a cell a character."""
    return len(text) <= width and text.isascii() and text.isprintable()


def layout(cells: tuple[str, ...], console: Console) -> list[str]:
    """Lines of one row as rich lays them out: cells word-wrapped (long words folded), padded, top-aligned."""
    wrapped = [[cell.ljust(width)] if fits(cell, width) else
               [line.plain for line in Text(cell).wrap(console, width, justify="left", overflow="fold")]
               for cell, width in zip(cells, WIDTHS, strict=True)]
    return [GAP.join(lines[i] if i < len(lines) else " " * width for lines, width in zip(wrapped, WIDTHS, strict=True))
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
    header(console)
    fmt_time, codes_of = time_formatter(tz), _styler(console)
    lines: list[str] = []
    n = 0
    for n, row in enumerate(rows, 1):
        cells = (fmt_time(row.at_ns), *describe(row))
        line = GAP.join(map(str.ljust, cells, WIDTHS))  # longer than LINE_WIDTH: some cell did not fit
        row_lines = [line] if fits(line, LINE_WIDTH) and len(line) == LINE_WIDTH else layout(cells, console)
        style = row_style(row) if color else ""
        if style:
            before, after = codes_of(style)
            row_lines = [before + text + after for text in row_lines]
        lines.extend(row_lines)
        if n % _CHUNK == 0:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    return n
