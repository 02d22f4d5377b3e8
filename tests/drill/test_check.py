"""`hamaster check` on the lab pair: nothing on a healthy pair (exit 0), then each planted fault found with
what to do, and the exit code a monitoring system reads."""

import hashlib
import json
from collections.abc import Callable

import pytest

from hamaster.lab.site import LabSite, wait_until
from hamaster.master import store
from hamaster.master.store import drills, incidents

pytestmark = pytest.mark.lab


def check(site: LabSite) -> tuple[int, list[dict]]:
    """The store's findings (the nodes' live view has its own tests: test_check_live.py)."""
    done = site.cli("check", "--json", "--no-live", "--states", str(site.states), "--pillar", str(site.pillar),
                    check=False)
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def quiet_again(site: LabSite, ready: str, condition: Callable[[], bool]) -> None:
    """Wait (bounded) for what makes check quiet after a fault is undone (`condition`: the store has it), then
    for check to be quiet; under load the minion's event or the correlator's close can take a while."""
    wait_until(condition, 60, ready, step=0.5)
    last: list[list[dict]] = []

    def quiet() -> bool:
        code, found = check(site)
        last[:] = [found]
        return code == 0
    try:
        wait_until(quiet, 30, "check to be quiet again", step=0.5)
    except Exception as exc:
        raise AssertionError(f"{exc}; still found: {last}") from None


def config_is(site: LabSite, node: str, text: str) -> Callable[[], bool]:
    """The store's latest config event of `node` says its keepalived.conf is `text`."""
    want = hashlib.sha256(text.encode()).hexdigest()
    return lambda: (store.read(site.root / "store.db", drills.keepalived_configs) or {}).get(node, {}).get(
        "sha256") == want


def no_stale_vip(site: LabSite) -> Callable[[], bool]:
    return lambda: not store.read(site.root / "store.db", lambda conn: incidents.still_open(conn, ["stale_vip"]))


def test_check_is_quiet_on_a_healthy_pair_and_finds_planted_faults(site: LabSite) -> None:
    code, found = check(site)
    assert code == 0 and [f["severity"] for f in found] == ["info"], found  # only "no drill yet"
    plain = site.cli("check", check=False)
    assert plain.returncode == 0 and plain.stdout.startswith("ready: 2 minions")
    assert "drift not checked" in plain.stdout  # the lab's master.yaml names no state tree that exists

    # a drained node: it works, not as meant (warning, exit 1)
    site.cli("drain", "node1")
    code, found = check(site)
    assert code == 1 and [(f["severity"], f["node"]) for f in found if f["severity"] != "info"] == [
        ("warning", "node1")], found
    assert "undrain node1" in found[0]["todo"]
    site.cli("undrain", "node1")

    # a VIP left on the BACKUP (a hand-added address): users may reach a node that does not serve it
    vip = f"{site.lab.vip}/{site.lab.prefixlen}"
    site.lab.run("node2", ["ip", "addr", "add", vip, "dev", "eth0"], check=True)

    def stale() -> list[dict] | None:
        _, found = check(site)
        return [f for f in found if f["severity"] == "error" and "still holds VIP" in f["problem"]] or None
    [left] = wait_until(stale, 20, "check to see the stale VIP on node2", step=0.5)
    assert left["node"] == "node2" and "ip addr del" in left["todo"]
    site.lab.run("node2", ["ip", "addr", "del", vip, "dev", "eth0"], check=True)
    quiet_again(site, "the stale VIP incident to end", no_stale_vip(site))

    # hand edits of the BACKUP's keepalived.conf: drift from what `apply` would write; a VRID that is not
    # the pair's is an error as well (keepalived reads it at its next reload)
    live = site.lab.node("node2").etc / "keepalived" / "keepalived.conf"
    applied = live.read_text()
    for edited, expected in ((applied + "# a hand edit\n", ["drift"]),
                             (applied.replace("virtual_router_id 66", "virtual_router_id 67"), ["vrid", "drift"])):
        live.write_text(edited)

        def seen(expected: list[str] = expected) -> list[dict] | None:
            _, found = check(site)
            drift = [f for f in found if "differs from what `hamaster apply` would write" in f["problem"]]
            vrid = [f for f in found if f["problem"].startswith("virtual_router_id differ")]
            got = {"drift": drift, "vrid": vrid}
            return [got[k][0] for k in expected] if all(got[k] for k in expected) else None
        found = wait_until(seen, 20, f"check to see node2's hand edit ({', '.join(expected)})", step=0.5)
        drift = found[-1]
        assert drift["node"] == "node2" and drift["severity"] == "warning" and "-t node2 --test" in drift["todo"]
        if "vrid" in expected:
            assert found[0]["severity"] == "error" and "node1=66, node2=67" in found[0]["problem"]
        live.write_text(applied)
        quiet_again(site, "node2's restored keepalived.conf in the store", config_is(site, "node2", applied))

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
