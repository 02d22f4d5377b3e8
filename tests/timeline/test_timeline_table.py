"""The table is exactly what rich prints for the same rows in one table, only streamed and sooner."""

import io
import random
import re

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl
from hamaster.master.timeline import table as tt

S = 1_000_000_000
T0 = 1_715_652_000 * S  # 2024-05-14T02:00:00Z
TZ = tf.parse_tz("+08:00")

# cells that fit, that fill their column exactly, that need wrapping or folding, and that are not plain ASCII
NAMES = ["node1", "n" * 12, "n" * 13, "web-lb-01.example.com", "节点一", "ноут", "tab\tname", "two  spaces",
         "trailing ", "", "emoji\U0001f525x"]
SUMMARIES = ["VIP moved", "x" * 46, "x" * 47, "node1 and node2 both MASTER of VI_1 (VIP 10.99.0.100 on two nodes)",
             "a-very-long-word-without-any-space-to-break-it-at-all-but-fold-it", "二号机 接管了 VIP 10.99.0.100 " * 3,
             "line one\nline two", "bell\x07 and cr\r here"]


def event(i: int, rng: random.Random) -> tl.EventRow:
    node = rng.choice(NAMES)
    late, skew = rng.random() < 0.1, rng.choice([None, None, 2_503_000_000, -1_200_000_000])
    return tl.EventRow(T0 + i * 1_234_567_891, node, "vrrp", "vrrp/VI_1/MASTER", rng.choice(["VI_1", "VI_12345678"]),
                       rng.choice([None, "BACKUP"]), "MASTER", rng.choice([None, 100, 25500]), ("hook", "fifo"),
                       T0 + i * 1_234_567_891 + (400 * S if late else 3_000_000), late, skew, (i,))


def incident(i: int, rng: random.Random) -> tl.IncidentRow:
    return tl.IncidentRow(T0 + i * 1_234_567_891, i, "failover", "VI_1", rng.choice(["critical", "warning"]),
                          T0 + i * 1_234_567_891 + 620_000_000, (rng.choice(NAMES), "node2"),
                          rng.choice(SUMMARIES), 620_000_000, False)


def sample_rows(n: int, seed: int = 5) -> list[tl.Row]:
    rng = random.Random(seed)
    return [incident(i, rng) if rng.random() < 0.2 else event(i, rng) for i in range(n)]


def rich_prints(rows: list[tl.Row]) -> str:
    """The whole table laid out by rich in one piece: what the streamed table must equal."""
    out = io.StringIO()
    console = Console(file=out, width=tt.LINE_WIDTH + 3, no_color=True, color_system=None, highlight=False,
                      emoji=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, width in zip(tf.COLUMNS, tt.WIDTHS, strict=True):
        table.add_column(name, width=width, overflow="fold")
    for row in rows:
        table.add_row(tf.fmt_time(row.at_ns, TZ), *tf.describe(row))
    console.print(table, markup=False)
    return out.getvalue()


def test_rows_that_fit_wrap_fold_or_are_not_ascii_print_as_rich_prints_them() -> None:
    rows = sample_rows(300)
    out = io.StringIO()
    assert tt.write_table(rows, out, TZ) == 300
    assert out.getvalue() == rich_prints(rows)


def test_a_long_table_lines_up_across_the_chunks_it_is_written_in() -> None:
    rows = [event(i, random.Random(i)) for i in range(3 * tt._CHUNK + 7)]
    out = io.StringIO()
    tt.write_table(rows, out, TZ)
    assert out.getvalue() == rich_prints(rows)
    assert {cell_len(line) for line in out.getvalue().splitlines()} == {tt.LINE_WIDTH}  # 节 is two cells


def test_an_empty_window_is_the_header_alone() -> None:
    out = io.StringIO()
    assert tt.write_table([], out, TZ) == 0
    assert out.getvalue() == rich_prints([])
    assert out.getvalue().splitlines()[0].startswith("Time ")


def test_in_colour_each_row_is_wrapped_in_its_style_and_the_text_is_the_same(monkeypatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    rows = sample_rows(60)
    plain, coloured = io.StringIO(), io.StringIO()
    tt.write_table(rows, plain, TZ)
    tt.write_table(rows, coloured, TZ, color=True)
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.getvalue()) == plain.getvalue()
    critical = next(r for r in rows if isinstance(r, tl.IncidentRow) and r.severity == "critical")
    line = next(x for x in coloured.getvalue().splitlines() if tf.fmt_time(critical.at_ns, TZ) in x)
    assert line.startswith("\x1b[1;31m") and line.endswith("\x1b[0m")  # bold red
