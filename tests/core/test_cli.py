"""The operator's everyday commands against a running site: events (and --follow), status, key list, --help."""

import json
import selectors
import subprocess

from sitelib import HAMASTER, HAMINION, Site, wait_for


def test_events_status_and_follow(site: Site) -> None:
    site.start_master()
    site.start_minion("node1")
    site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    wait_for(lambda: site.count() == 1, 20, "the first event")

    lines = [json.loads(x) for x in site.cli("events", "--json", "--tag", "vrrp/*").stdout.splitlines()]
    assert [(e["minion"], e["tag"], e["priority"], e["source"]) for e in lines] == [
        ("node1", "vrrp/VI_1/MASTER", 100, "hook")]

    status = json.loads(site.cli("status", "--json").stdout)
    assert status["minions"]["node1"]["online"] is True
    assert status["minions"]["node1"]["instances"] == {"VI_1": {"state": "MASTER", "priority": 100}}
    assert "node1: online" in site.cli("status").stdout

    follow = subprocess.Popen([HAMASTER, "events", "-f", "--json", "--tag", "vrrp/*", "--since", "0", "-c",
                               site.config], stdout=subprocess.PIPE, text=True)
    sel = selectors.DefaultSelector()
    sel.register(follow.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    try:
        for _ in range(20):  # until the follower (still starting up) has seen one
            site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
            if sel.select(timeout=1):
                break
        else:
            raise AssertionError("--follow printed nothing")
        event = json.loads(follow.stdout.readline())  # type: ignore[union-attr]
        assert event["tag"] == "vrrp/VI_1/FAULT"
    finally:
        sel.close()
        follow.terminate()
        follow.wait(timeout=10)
        follow.stdout.close()  # type: ignore[union-attr]


def test_every_command_has_help_and_no_command_hangs_without_a_master(site: Site) -> None:
    for cmd in ("init", "master", "key", "events", "status", "apply", "timeline", "postmortem", "notify", "silence"):
        out = site.run_cli(cmd, "--help").stdout
        assert "Usage: hamaster" in out and "--help" in out, cmd
    for cmd in ("run", "hook", "key", "doctor"):
        proc = subprocess.run([HAMINION, cmd, "--help"], capture_output=True, text=True, timeout=20)
        assert proc.returncode == 0 and "Usage: haminion" in proc.stdout, cmd
    assert "no event store here" in site.cli("status", check=False).stderr  # before the master ever ran
    site.stop(site.start_master())
    assert site.cli("status").stdout.startswith("master: down")  # afterwards: says so, from the store
