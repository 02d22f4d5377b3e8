"""`hamaster demo` as a newcomer runs it: what it needs, and its machine-readable summary."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HAMASTER = str(Path(sys.executable).parent / "hamaster")


def test_the_demo_says_what_is_missing_and_how_to_get_it() -> None:
    out = subprocess.run([HAMASTER, "demo"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PATH": "/nonexistent"})
    assert out.returncode == 1
    assert "keepalived (apt-get install keepalived)" in out.stderr
    assert "nft (apt-get install nftables)" in out.stderr
    assert "sudo scripts/setup" in out.stderr


@pytest.mark.lab
def test_the_demo_on_inits_defaults_gives_the_right_incidents_and_one_alert_per_failover(tmp_path: Path) -> None:
    out = subprocess.run([HAMASTER, "demo", "--json", "--dir", str(tmp_path / "demo")], capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert [s["name"] for s in summary["steps"]] == ["serves", "nginx_stop", "power_off", "boot"]
    assert [(f["old"], f["new"]) for f in summary["failovers"]] == [("node1", "node2"), ("node2", "node1")]
    # what needs a person: the two failovers and node1's silence while it was off (folded into the first
    # failover's alert); nothing critical (no split brain), nothing planned, nothing from a stale dump
    loud = [(i["kind"], i["severity"]) for i in summary["incidents"] if i["severity"] != "info"]
    assert sorted(loud) == [("failover", "warning"), ("failover", "warning"), ("node_silent", "warning")], loud
    assert not any(i["planned"] for i in summary["incidents"])
    vip = summary["lab"]["vip"]
    for via in ("mail", "chat"):
        assert [a["title"] for a in summary["alerts"][via]] == [
            f"[warning] VIP {vip} failover: node1 -> node2", f"[warning] VIP {vip} failover: node2 -> node1"]
    assert Path(summary["postmortem"]).read_text().lstrip().lower().startswith("<!doctype html")
    assert "answers node1's page" in out.stderr  # progress goes to stderr with --json

    # the site is exactly what `hamaster init` writes: the demo adds its probe and alert targets, nothing else
    fresh = tmp_path / "fresh"
    subprocess.run([HAMASTER, "init", str(fresh), "--master-addr", "127.0.0.1:1", "--minion", "node1"], check=True,
                   capture_output=True, timeout=60)
    site = Path(summary["site"])
    demo_master, init_master = (yaml.safe_load((d / "master.yaml").read_text()) for d in (site, fresh))
    assert set(demo_master) - set(init_master) == {"probes", "notify"}
    assert {k: v for k, v in demo_master.items() if k in init_master and k != "bind"} == \
        {k: v for k, v in init_master.items() if k != "bind"}
    demo_minion, init_minion = (yaml.safe_load((d / "minions" / "node1" / "minion.yaml").read_text())
                                for d in (site, fresh))
    assert {k: v for k, v in demo_minion.items() if k not in ("master", "master_key")} == \
        {k: v for k, v in init_minion.items() if k not in ("master", "master_key")}
