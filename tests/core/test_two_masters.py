"""A minion that lists two masters delivers every event to each, and keeps what one has not acked."""

import signal
import subprocess

from sitelib import HAMASTER, Site, free_port, wait_for


def test_each_master_gets_every_event_even_one_that_was_down(site: Site) -> None:
    second_port = free_port()
    second = site.root / "master2.yaml"  # the same keys (pki), its own port, store and control socket
    second.write_text((site.root / "master.yaml").read_text()
                      .replace(f":{site.port}", f":{second_port}").replace("store: store.db", "store: store2.db")
                      + f"control: ipc://{site.root / 'control2.sock'}\n")
    minion_yaml = site.root / "minions" / "node1" / "minion.yaml"
    minion_yaml.write_text(minion_yaml.read_text().replace(
        f"master: tcp://127.0.0.1:{site.port}",
        f"master:\n  - tcp://127.0.0.1:{site.port}\n  - tcp://127.0.0.1:{second_port}"))
    site.start_master()
    log = open(site.root / "master2.log", "ab")  # noqa: SIM115 - closed right after the spawn
    master2 = subprocess.Popen([HAMASTER, "master", "-c", str(second)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    site.procs.append(master2)
    site.start_minion("node1")

    for state in ("BACKUP", "MASTER"):
        site.hook("node1", "INSTANCE", "VI_1", state, "100")
    wait_for(lambda: site.count() == 2 and site.count(store="store2.db") == 2, 20, "both stores")

    site.stop(master2, signal.SIGKILL)
    for state in ("FAULT", "BACKUP", "MASTER"):
        site.hook("node1", "INSTANCE", "VI_1", state, "100")
    wait_for(lambda: site.count() == 5, 20, "the first master to keep up alone")
    assert site.count(store="store2.db") == 2

    master2 = subprocess.Popen([HAMASTER, "master", "-c", str(second)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    site.procs.append(master2)
    wait_for(lambda: site.count(store="store2.db") == 5, 60, "the second master to catch up from the spool")
    for store in ("store.db", "store2.db"):
        rows = site.query("SELECT state FROM events WHERE kind = 'vrrp' ORDER BY seq", store=store)
        assert [s for (s,) in rows] == ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER"]
