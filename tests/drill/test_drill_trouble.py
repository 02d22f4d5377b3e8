"""`hamaster drill` meeting trouble after it drained the holder: the peer's minion killed, the probe's traffic
dropped. Each time the drill stops (exit 1, the trouble named), the holder is put back and serves again, and
the drill is stored as failed. (tests/drill/test_drill_on_the_pair.py covers a drill that refuses before
touching anything and a peer that never takes over.)"""

import json
import subprocess
from collections.abc import Callable

import pytest

from hamaster.lab.site import HAMASTER, LabSite, wait_until

pytestmark = pytest.mark.lab


def drill_with(site: LabSite, act: Callable[[], None]) -> tuple[int, str]:
    """Run `hamaster drill`; `act` once it says it drains the holder (before the drain job is sent)."""
    proc = subprocess.Popen([HAMASTER, "drill", "--bound", "10", "-c", str(site.config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if "draining node1" in line:
                act()
                break
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(out) + (rest or "")


def restored(site: LabSite) -> None:
    assert json.loads(site.cli("status", "--json").stdout)["minions"]["node1"]["drained"] is False
    wait_until(lambda: site.lab.holders() == ["node1"], 15, "node1 alone to hold the VIP")
    site.wait_probe("node1")
    rows = [json.loads(line) for line in site.cli("timeline", "--kind", "drill", "--format", "json").stdout
            .splitlines() if line.strip()]
    assert [r["ok"] for r in rows] == [False], rows


def test_the_peers_minion_killed_mid_drill_stops_it_and_restores_the_holder(site: LabSite) -> None:
    # VRRP goes on without the minion (node2 takes the VIP over), but the master no longer hears node2: the
    # drill's watch of the takeover sees it silent
    code, out = drill_with(site, lambda: site.lab.stop(site.minion_procs.pop("node2")))
    assert code == 1, out
    assert "FAILED: stopped" in out and "node2" in out.split("FAILED: stopped", 1)[1], out
    assert "node1 restored" in out, out
    restored(site)


def test_the_probes_traffic_dropped_mid_drill_stops_it_and_restores_the_holder(site: LabSite) -> None:
    # node2 takes the VIP over, but drops what the master's probe sends it: users would see nobody answer
    table = f"{site.lab.names.nft_table}_probe"
    rules = (f"table inet {table} {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n"
             f"  ip saddr {site.lab.bridge_addr} tcp dport 80 drop\n }}\n}}\n")

    def drop() -> None:
        done = subprocess.run(["ip", "netns", "exec", site.lab.node("node2").netns, "nft", "-f", "-"], input=rules,
                              text=True, capture_output=True, timeout=10)
        assert done.returncode == 0, done.stderr
    code, out = drill_with(site, drop)
    assert code == 1, out
    assert "FAILED: stopped" in out and "answered nobody" in out and "node1 restored" in out, out
    restored(site)
