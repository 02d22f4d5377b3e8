"""A minion killed -9 with its kernel alive closes its connection at once: the real master reads the EOF,
logs it once at INFO, and the failover away from that node is dated by it (real master and minion processes
on loopback, init's defaults; the tests play keepalived by firing its hook)."""

import json
import signal
import time

from sitelib import Site, wait_for


def test_a_minion_killed_9_dates_the_failover_by_its_connections_close(site: Site) -> None:
    site.start_pair()  # node1 MASTER, node2 BACKUP
    time.sleep(1.0)  # a few heartbeats of each: both heard
    before = time.time_ns()
    site.minion_procs["node1"].send_signal(signal.SIGKILL)  # (keepalived dies with it: nobody says so)
    site.minion_procs["node1"].wait(10)
    after = time.time_ns()
    log = site.root / "master.log"
    wait_for(lambda: "minion node1 closed its connection" in log.read_text(), 20, "the master to see the close")
    time.sleep(0.5)
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")  # node2 takes over
    rows = wait_for(lambda: site.query("SELECT started_ns, data FROM incidents WHERE kind = 'failover'"), 30,
                    "the failover node1 -> node2")
    [(started, data)] = rows
    data = json.loads(data)
    assert (data["old_holder"], data["new_holder"]) == ("node1", "node2")
    assert "connection" in data["death_dated_by"]
    short, long = data["gap_range_ns"]
    dead_from, dead_until = started - long, started - short  # the range the failover gives the death
    assert dead_from <= after and before <= dead_until, (dead_from - before, dead_until - after)
    assert long - short <= 50_000_000  # the close's own bound: far narrower than the heartbeat's 0.52 s
    assert log.read_text().count("minion node1 closed its connection") == 1
    assert "WARNING" not in "".join(line for line in log.read_text().splitlines() if "closed its connection" in line)
