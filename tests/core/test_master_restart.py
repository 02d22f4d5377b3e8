"""A master that restarts still knows the minions it heard before: one that does not come back goes silent."""

import signal
from pathlib import Path

import yaml
from sitelib import Site, wait_for


def test_a_minion_that_died_while_the_master_was_down_is_declared_silent(site: Site) -> None:
    config = yaml.safe_load(Path(site.config).read_text())
    config["heartbeat"] = {"interval": 0.2, "silent_after": 1}
    Path(site.config).write_text(yaml.safe_dump(config))
    site.start_master()
    site.start_minion("node1")
    wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE id = 'node1'"), 10, "node1's hello")
    site.stop(site.master_proc, signal.SIGKILL)
    site.stop(site.minion_procs["node1"], signal.SIGKILL)

    site.start_master()
    wait_for(lambda: site.count("SELECT COUNT(*) FROM incidents WHERE kind = 'node_silent'"), 10,
             "node1 to be declared silent")
    assert site.query("SELECT nodes FROM incidents WHERE kind = 'node_silent'") == [('["node1"]',)]
