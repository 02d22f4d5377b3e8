"""The timeline of each scenario, in table, json and markdown, is exactly the golden file.

After an intended change of output, regenerate the golden files and read their diff before committing:

    HAMASTER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/timeline/test_timeline_golden.py
"""

import io
import os
from pathlib import Path

import pytest

from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("HAMASTER_UPDATE_GOLDEN") == "1"
SUFFIX = {"table": "txt", "json": "jsonl", "markdown": "md"}


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
@pytest.mark.parametrize("scenario", ["failover", "split_brain_late"])
def test_output_matches_golden(open_scenario, scenario: str, fmt: str) -> None:
    conn = open_scenario(scenario)
    out = io.StringIO()
    # the operator's zone (the seed's pair is in China): every time shows +08:00
    tf.write(tl.timeline(conn, tl.Query()), out, fmt, tf.parse_tz("+08:00"), title=f"Timeline: {scenario}")
    golden = GOLDEN / f"{scenario}.{SUFFIX[fmt]}"
    if UPDATE:
        golden.write_text(out.getvalue(), encoding="utf-8")
    assert out.getvalue() == golden.read_text(encoding="utf-8")
