"""Real masters on a real PostgreSQL store: one takes a minion's events as on SQLite; two sharing the store,
with minions that list both, keep one copy of each event and send one alert per failover."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sitelib import HAMASTER, Site, free_port, wait_for


def pg_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def pg_count(url: str, sql: str = "SELECT COUNT(*) FROM events WHERE kind = 'vrrp'") -> int:
    try:
        return int(pg_query(url, sql)[0][0])
    except psycopg.errors.UndefinedTable:  # the master has not made its tables yet
        return 0


def settled(site: Site, url: str, *configs: str) -> bool:
    """Every master has taken in every event (the minions send each to both: new to one of them, a duplicate
    to the other, or new to both as pgstore counts them today), every incident is routed and every delivery
    finished: a second alert, from either master, would be in by now."""
    stored = pg_count(url, "SELECT COUNT(*) FROM events")
    for config in configs:
        counters = json.loads(site.run_cli("status", "--json", "-c", config).stdout)["counters"]
        if counters["events"] + counters["duplicates"] < stored:
            return False
    return (pg_count(url, "SELECT COUNT(*) FROM incidents WHERE routed_ns IS NULL") == 0
            and pg_count(url, "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending')") == 0)


@pytest.fixture
def pg_site(tmp_path: Path, pg_url: str) -> Iterator[Site]:
    s = Site(tmp_path / "site")
    config = Path(s.config)
    config.write_text(config.read_text().replace("store: store.db", f"store: {pg_url}"))
    try:
        yield s
    finally:
        s.close()


def test_a_master_on_postgresql_stores_a_minions_events_and_the_cli_reads_them(pg_site: Site, pg_url: str) -> None:
    pg_site.start_master()
    pg_site.start_minion("node1")
    for state in ("BACKUP", "MASTER"):
        pg_site.hook("node1", "INSTANCE", "VI_1", state, "100")
    wait_for(lambda: pg_count(pg_url) == 2, 20, "two events in PostgreSQL")
    assert pg_query(pg_url, "SELECT minion, state FROM events WHERE kind = 'vrrp' ORDER BY node_ns") == [
        ("node1", "BACKUP"), ("node1", "MASTER")]
    timeline = pg_site.cli("timeline", "--kind", "vrrp", "--tz", "UTC").stdout
    assert "BACKUP" in timeline and "MASTER" in timeline


def test_two_masters_on_one_store_keep_each_event_once_and_alert_once(
        pg_site: Site, pg_url: str, http_receiver: Any) -> None:
    site = pg_site
    with open(site.config, "a") as f:
        f.write(f"notify:\n  targets:\n    - {{url: \"{http_receiver.url}\", tags: [ops]}}\n")
    second_port = free_port()
    second = site.root / "master2.yaml"  # the same keys and store; its own port and control socket
    second.write_text(Path(site.config).read_text().replace(f":{site.port}", f":{second_port}")
                      + f"control: ipc://{site.root / 'control2.sock'}\n")
    for node in ("node1", "node2"):
        minion_yaml = Path(site.minion_config(node))
        minion_yaml.write_text(minion_yaml.read_text().replace(
            f"master: tcp://127.0.0.1:{site.port}",
            f"master:\n  - tcp://127.0.0.1:{site.port}\n  - tcp://127.0.0.1:{second_port}"))
    site.start_master()
    master2 = site._spawn([HAMASTER, "master", "-c", str(second)], "master2.log")
    wait_for(lambda: (site.root / "control2.sock").exists(), 10, "the second master's control socket")
    for node in ("node1", "node2"):
        site.start_minion(node)
    site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    site.hook("node2", "INSTANCE", "VI_1", "BACKUP", "99")
    wait_for(lambda: pg_count(pg_url) == 2, 20, "the pair's first states")
    time.sleep(1.5)  # past the correlator's split-brain grace: the start-up is settled

    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(lambda: http_receiver.messages, 20, "the failover alert")
    wait_for(lambda: settled(site, pg_url, site.config, str(second)), 20, "both masters to have sent all they had to")

    assert len(http_receiver.messages) == 1
    assert "node1" in http_receiver.messages[0]["title"] and "node2" in http_receiver.messages[0]["title"]
    assert pg_query(pg_url, "SELECT minion, seq, COUNT(*) FROM events WHERE kind = 'vrrp'"
                            " GROUP BY minion, seq HAVING COUNT(*) > 1") == []
    assert pg_count(pg_url) == 4
    assert pg_count(pg_url, "SELECT COUNT(*) FROM incidents WHERE kind = 'failover'") == 1
    assert pg_query(pg_url, "SELECT status, attempts FROM deliveries") == [("sent", 1)]
    assert master2.poll() is None and site.master_proc is not None and site.master_proc.poll() is None
    for log in ("master.log", "master2.log"):
        assert "Traceback" not in (site.root / log).read_text()
