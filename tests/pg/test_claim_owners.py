"""Two masters on one PostgreSQL store: a delivery claimed by a master that dies is sent by the other within
seconds (its claim names its master, whose beat stopped), and a live master's claim is never taken, however
long its send takes."""

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sitelib import HAMASTER, Site, free_port, wait_for
from test_masters import pg_count, pg_query

from hamaster.master.store.outbox import LEASE_S

S = 1_000_000_000


def claim(url: str) -> tuple[str, str | None, int] | None:
    rows = pg_query(url, "SELECT status, claimed_by, updated_ns FROM deliveries")
    return rows[0] if rows else None


@pytest.fixture
def shared(tmp_path: Path, pg_url: str) -> Iterator[Site]:
    """A site whose store is the test's PostgreSQL database."""
    s = Site(tmp_path / "site")
    config = Path(s.config)
    config.write_text(config.read_text().replace("store: store.db", f"store: {pg_url}"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def two_masters(shared: Site, pg_url: str, http_receiver: Any) -> dict[int, Any]:
    """Both masters running on the store with the same chat target, and both minions sending to both:
    pid -> process."""
    site = shared
    with open(site.config, "a") as f:  # apprise waits 25 s for the (hung) receiver: longer than a lease
        f.write(f"notify:\n  targets:\n    - {{url: \"{http_receiver.url}?rto=25\", tags: [ops]}}\n")
    second_port = free_port()
    second = site.root / "master2.yaml"
    second.write_text(Path(site.config).read_text().replace(f":{site.port}", f":{second_port}")
                      + f"control: ipc://{site.root / 'control2.sock'}\n")
    for node in ("node1", "node2"):
        minion_yaml = Path(site.minion_config(node))
        minion_yaml.write_text(minion_yaml.read_text().replace(
            f"master: tcp://127.0.0.1:{site.port}",
            f"master:\n  - tcp://127.0.0.1:{site.port}\n  - tcp://127.0.0.1:{second_port}"))
    first = site.start_master()
    master2 = site._spawn([HAMASTER, "master", "-c", str(second)], "master2.log")
    wait_for(lambda: (site.root / "control2.sock").exists(), 10, "the second master's control socket")
    for node in ("node1", "node2"):
        site.start_minion(node)
    return {first.pid: first, master2.pid: master2}


def test_a_dead_masters_claim_goes_to_the_live_one_within_seconds_and_a_live_ones_never(
        shared: Site, pg_url: str, http_receiver: Any, two_masters: dict[int, Any]) -> None:
    site = shared
    site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
    site.hook("node2", "INSTANCE", "VI_1", "BACKUP", "99")
    wait_for(lambda: pg_count(pg_url) == 2, 20, "the pair's first states")
    time.sleep(1.5)  # past the correlator's split-brain grace: the start-up is settled
    http_receiver.hang()
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    site.hook("node2", "INSTANCE", "VI_1", "MASTER", "99")
    wait_for(http_receiver.entered.is_set, 30, "the failover alert to reach the hung receiver")
    status, owner, claimed_ns = wait_for(lambda: claim(pg_url), 10, "the delivery's row")
    assert status == "sending" and owner is not None
    sender = int(owner.split(":")[1])
    assert sender in two_masters

    # the sender lives and waits on the receiver: past its lease, the other master leaves its claim alone
    def both_beat_past_the_lease() -> bool:
        beats = [b for (b,) in pg_query(pg_url, "SELECT beat_ns FROM masters")]
        return len(beats) == 2 and min(beats) > claimed_ns + (LEASE_S + 2) * S
    wait_for(both_beat_past_the_lease, 20, "both masters beating for longer than a lease")
    assert claim(pg_url) == (status, owner, claimed_ns)

    site.stop(two_masters[sender], signal.SIGKILL)  # dies with the claim in the store
    killed = time.monotonic()
    http_receiver.release()  # its held request ends too, into a sender that is gone
    wait_for(lambda: http_receiver.messages, 20, "the held request to finish")
    http_receiver.messages.clear()
    # the claim lives 60 s when it names nobody; the survivor must not wait for that
    wait_for(lambda: http_receiver.messages, 30, "the alert sent again by the surviving master")
    print(f"dead master's claim sent again after {time.monotonic() - killed:.1f} s")
    wait_for(lambda: claim(pg_url) is not None and claim(pg_url)[0] == "sent", 20, "the delivery recorded")  # type: ignore[index]
    (survivor,) = (p for pid, p in two_masters.items() if pid != sender)
    assert survivor.poll() is None
    assert pg_query(pg_url, "SELECT COUNT(*) FROM delivery_attempts") == [(1,)]
