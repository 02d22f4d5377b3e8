"""Two pairs that both name their instance VI_1 (VRID 51 and 52): what the correlator says of one pair's
failover is about that pair's group, never the namesake's (real SQLite store, the correlator fed as the
daemon feeds it)."""

import sqlite3
from pathlib import Path

import pytest
from truthfeed import TruthFeed

from hamaster.master import store

A = {"vrid": 51, "vips": ["10.9.0.100"], "network": "10.9.0.0/24", "family": "inet"}
B = {"vrid": 52, "vips": ["10.9.1.100"], "network": "10.9.1.0/24", "family": "inet"}


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = store.connect(tmp_path / "store.db")
    yield c
    c.close()


def test_a_crash_in_one_pair_folds_its_own_stale_vip(conn: sqlite3.Connection) -> None:
    f = TruthFeed(conn)

    def heard(t: float) -> dict[str, float]:
        return dict.fromkeys(("a1", "a2", "b1", "b2"), t)
    f.vrrp(0.0, "a1", "MASTER", 150, data=A)
    f.vrrp(0.1, "a2", "BACKUP", 100, data=A)
    f.vrrp(0.15, "b1", "MASTER", 150, data=B)  # the namesake pair, its group made after a1's
    f.vrrp(0.16, "b2", "BACKUP", 100, data=B)
    f.beacon(0.2, "a1", "vip/10.9.0.100/held", interface="eth0")
    f.tick(5.0, heard(5.0))
    f.beacon(10.0, "a1", "keepalived/down", pid=4242, died=True)  # kill -9: no STOP, the VIP stays
    f.tick(10.5, heard(10.5))
    f.vrrp(13.1, "a2", "MASTER", 100, data=A)
    for t in (13.5, 14.0, 16.0, 20.5):
        f.tick(t, heard(t))
    assert not f.incidents("split_brain")
    [failover] = f.incidents("failover")
    assert (failover.data["old_holder"], failover.data["new_holder"]) == ("a1", "a2")
    assert failover.data.get("stale_vip") == {"node": "a1", "vip": "10.9.0.100", "interface": "eth0"}
    assert failover.severity == "critical" and "stale VIP" in failover.summary
