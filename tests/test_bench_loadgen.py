"""bench/loadgen.py, the simulated minions of the apply and scale benchmarks, against a real master."""

import json
from pathlib import Path

from loadgen import Fleet, FleetSpec
from sitelib import Site, wait_for


def frames(site: Site) -> int:
    return json.loads(site.cli("status", "--json").stdout)["counters"]["frames"]


def test_a_worker_reports_jobs_only_when_they_change(site: Site, tmp_path: Path) -> None:
    """A parent that blocks in `hamaster apply` reads nothing from the pipe: a worker repeating its job count
    every 0.2 s filled it in about 4 minutes, and then blocked in send with every minion it simulates."""
    states, pillar = tmp_path / "states", tmp_path / "pillar"
    states.mkdir()
    pillar.mkdir()
    (states / "top.sls").write_text("base:\n  '*':\n    - motd\n")
    (states / "motd.sls").write_text("motd:\n  file.managed:\n    - name: /etc/motd\n    - makedirs: true\n"
                                     "    - contents: hello\n")
    (pillar / "top.sls").write_text("base: {}\n")
    site.start_master()
    fleet = Fleet([FleetSpec(site.root, ["node1", "node2"], f"tcp://127.0.0.1:{site.port}", tmp_path / "fs",
                             heartbeat_s=0.5)])
    try:
        fleet.wait_connected(30)
        wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == 2, 20, "both hellos")
        site.cli("apply", str(states), "--pillar", str(pillar), "--no-rolling")
        wait_for(lambda: fleet.poll(0.1) or fleet.jobs == [2], 20, "the worker's report of both jobs")
        # the worker pings every 0.5 s: four more frames at the master are a heartbeat's worth of its loop, in
        # which a worker that repeats itself would have reported at least twice more
        seen = frames(site)
        wait_for(lambda: frames(site) >= seen + 4, 20, "two more heartbeats of the simulated minions")
        assert not fleet.pipes[0].poll(0), f"the worker said again what it had said: {fleet.pipes[0].recv()}"
    finally:
        fleet.close()
