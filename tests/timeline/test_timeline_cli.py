"""`hamaster timeline` and `hamaster postmortem` as the operator runs them: real processes on a real store."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scenario import load

HAMASTER = str(Path(sys.executable).parent / "hamaster")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A master.yaml whose store holds the failover scenario."""
    load("failover", tmp_path / "store.db")
    (tmp_path / "master.yaml").write_text("store: store.db\n")
    return tmp_path / "master.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAMASTER, *args], capture_output=True, text=True, timeout=60)


def test_json_lines_of_a_window(site: Path) -> None:
    p = run("timeline", "-c", str(site), "--since", "2024-05-14T11:12:00+08:00", "--until", "2024-05-14T03:13:00Z",
            "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(r["type"], r.get("tag") or r.get("kind") or r.get("status")) for r in rows] == [
        ("event", "beacon/nginx/down"), ("event", "vrrp/VI_1/FAULT"), ("incident", "failover"),
        ("event", "beacon/vip/lost"), ("event", "vrrp/VI_1/MASTER"), ("event", "beacon/vip/held"),
        ("alert", "sent"), ("alert", "failed")]


def test_incident_table_to_a_file(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "incident.txt"
    p = run("timeline", "-c", str(site), "--incident", "2", "--context", "1m", "--tz", "UTC", "-o", str(out))
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "2024-05-14 03:12:09.104+00:00" in text and "gap 620 ms" in text
    assert "\x1b[" not in text  # no colour codes in a file


@pytest.mark.parametrize(("args", "message"), [
    (("timeline", "--since", "yesterday"), "hamaster: error: --since 'yesterday': expected a duration like 30m"),
    (("timeline", "--incident", "42"), "hamaster: error: incident 42: no such incident in the store"),
    (("timeline", "--kind", "vrrp,gossip"), "hamaster: error: --kind gossip: expected some of vrrp,beacon,"),
    (("timeline", "--tz", "Mars/Olympus"), "hamaster: error: --tz 'Mars/Olympus': expected UTC, an offset"),
    (("postmortem", "42"), "hamaster: error: incident 42: no such incident in the store"),
])
def test_bad_input_gets_one_clear_line(site: Path, args: tuple[str, ...], message: str) -> None:
    p = run(args[0], "-c", str(site), *args[1:])
    assert p.returncode == 1
    assert p.stderr.startswith(message) and p.stderr.count("\n") == 1 and p.stdout == ""


def test_a_missing_store_is_an_error_not_a_new_empty_store(tmp_path: Path) -> None:
    (tmp_path / "master.yaml").write_text("store: nowhere.db\n")
    p = run("timeline", "-c", str(tmp_path / "master.yaml"))
    assert p.returncode == 1 and "no event store here" in p.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_postmortem_html_embeds_the_picture(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    p = run("postmortem", "2", "-c", str(site), "--tz", "+08:00", "-o", str(out))
    assert p.returncode == 0, p.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and page.count('<g class="lane"') == 2
    assert "the VIP had no owner for 620 ms" in page


def test_postmortem_writes_the_picture_alone(tmp_path: Path) -> None:
    load("power_off", tmp_path / "store.db")
    (tmp_path / "master.yaml").write_text("store: store.db\n")
    svg = tmp_path / "failover.svg"
    p = run("postmortem", "2", "-c", str(tmp_path / "master.yaml"), "--tz", "UTC", "--picture", str(svg))
    assert p.returncode == 0 and p.stdout == "", p.stderr  # the picture alone: no report on stdout
    text = svg.read_text()
    assert text.startswith("<?xml") and text.count('<g class="lane"') == 2 and 'data-state="SILENT"' in text
    bad = run("postmortem", "2", "-c", str(tmp_path / "master.yaml"), "--picture", str(tmp_path / "x.png"))
    assert (bad.returncode, bad.stderr) == (1, f"hamaster: error: --picture {tmp_path / 'x.png'}: the picture is"
                                               " written as SVG (give a name ending in .svg)\n")
