"""`hamaster demo` as a newcomer runs it: what it needs, and its machine-readable summary."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HAMASTER = str(Path(sys.executable).parent / "hamaster")


def test_the_demo_says_what_is_missing_and_how_to_get_it() -> None:
    out = subprocess.run([HAMASTER, "demo"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PATH": "/nonexistent"})
    assert out.returncode == 1
    assert "keepalived (apt-get install keepalived)" in out.stderr
    assert "nft (apt-get install nftables)" in out.stderr
    assert "sudo scripts/setup" in out.stderr


@pytest.mark.lab
def test_the_demo_json_has_the_steps_both_failovers_and_their_alerts(tmp_path: Path) -> None:
    out = subprocess.run([HAMASTER, "demo", "--json", "--dir", str(tmp_path / "demo")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert [s["name"] for s in summary["steps"]] == ["serves", "nginx_stop", "power_off", "boot"]
    assert [(f["old"], f["new"]) for f in summary["failovers"]] == [("node1", "node2"), ("node2", "node1")]
    for via in ("mail", "chat"):
        assert sum(" failover: " in a["title"] for a in summary["alerts"][via]) == 2
    assert Path(summary["postmortem"]).read_text().lstrip().lower().startswith("<!doctype html")
    assert "answers node1's page" in out.stderr  # progress goes to stderr with --json
