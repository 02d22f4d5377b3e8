"""`hamaster check` on the lab pair: nothing on a healthy pair (exit 0), then each planted fault found with
what to do, and the exit code a monitoring system reads."""

import json

import pytest

from hamaster.lab.site import LabSite, wait_until

pytestmark = pytest.mark.lab


def check(site: LabSite) -> tuple[int, list[dict]]:
    done = site.cli("check", "--json", check=False)
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def test_check_is_quiet_on_a_healthy_pair_and_finds_planted_faults(site: LabSite) -> None:
    code, found = check(site)
    assert code == 0 and [f["severity"] for f in found] == ["info"], found  # only "no drill yet"
    assert site.cli("check").stdout.startswith("ready: 2 minions")

    # a drained node: it works, not as meant (warning, exit 1)
    site.cli("drain", "node1")
    code, found = check(site)
    assert code == 1 and [(f["severity"], f["node"]) for f in found if f["severity"] != "info"] == [
        ("warning", "node1")], found
    assert "undrain node1" in found[0]["todo"]
    site.cli("undrain", "node1")

    # the BACKUP's nginx down for good: a failover would not work (error, exit 2)
    n2 = site.lab.node("node2")
    conf = n2.etc / "nginx" / "nginx.conf"
    conf.write_text(conf.read_text() + "\nthis is not nginx syntax;\n")
    site.lab.stop_nginx("node2")
    code, found = check(site)
    assert code == 2, found
    assert [f for f in found if f["severity"] == "error" and f["node"] == "node2" and "nginx" in f["problem"]]

    # the BACKUP's minion gone: named, with what to do
    site.lab.stop(site.minion_procs.pop("node2"))

    def minion_gone() -> list[dict] | None:
        _, found = check(site)
        return [f for f in found if "not connected" in f["problem"]] or None
    [gone] = wait_until(minion_gone, 15, "check to see node2's minion gone", step=0.5)
    assert gone["node"] == "node2" and "haminion doctor" in gone["todo"]
