"""A wiped or reinstalled spool is a new incarnation: nothing it spools is taken for something already stored.

Before spools had identities, a wiped spool numbered from 1 again and the master acked and discarded every seq
it already held: 10 hooks after a wipe, 5 stored, 5 dropped, no log."""

import json
import shutil
import time

import zmq
import zmq.auth
from sitelib import Site, wait_for

from hamaster.core import protocol


def vrrp_count(site: Site) -> int:
    return site.count("SELECT COUNT(*) FROM events WHERE minion = 'node1' AND kind = 'vrrp'")


def test_a_wiped_spool_loses_nothing_and_the_timeline_says_it_was_reset(site: Site) -> None:
    site.start_master()
    minion = site.start_minion("node1")
    for i in range(5):
        site.hook("node1", "INSTANCE", f"VI_{i}", "BACKUP", "100")
    wait_for(lambda: vrrp_count(site) == 5, 20, "the first five events")
    site.stop(minion)
    shutil.rmtree(site.root / "minions" / "node1" / "spool")  # the node reinstalled: its spool is gone

    site.start_minion("node1")
    for i in range(10):
        site.hook("node1", "INSTANCE", f"VI_{i}", "MASTER", "100")
    wait_for(lambda: vrrp_count(site) == 15, 20, "the ten events of the new spool")
    # let a resend round pass, then check nothing was taken for a duplicate of the old incarnation
    assert site.query("SELECT state, COUNT(*) FROM events WHERE kind = 'vrrp' GROUP BY state ORDER BY state") == [
        ("BACKUP", 5), ("MASTER", 10)]
    assert [t for (t,) in site.query("SELECT tag FROM events WHERE kind = 'minion' ORDER BY seq")] == [
        "minion/spool/new", "minion/spool/reset"]
    status = json.loads(site.cli("status", "--json").stdout)
    assert status["counters"]["spool_resets"] == 1 and status["counters"]["seq_conflicts"] == 0
    assert "spool of node1 was reset" in (site.root / "master.log").read_text()
    timeline = site.cli("timeline", "--since", "1h", "--kind", "minion").stdout
    assert "spool of node1 was reset" in timeline


def test_a_seq_seen_again_with_other_content_is_a_counted_logged_conflict(site: Site) -> None:
    site.start_master()
    public, secret = zmq.auth.load_certificate(site.root / "minions" / "node1" / "minion.key_secret")
    master_public, _ = zmq.auth.load_certificate(site.root / "pki" / "master.key")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = secret, public, master_public
    sock.connect(f"tcp://127.0.0.1:{site.port}")

    def send_and_wait_ack(event: dict) -> None:
        sock.send(protocol.encode("events", events=[event]))
        while True:
            assert sock.poll(10_000), "no ack"
            reply = protocol.decode(sock.recv())
            if reply["t"] == "ack":
                return

    try:
        event = {"seq": 7, "node_ns": time.time_ns(), "kind": "vrrp", "tag": "vrrp/VI_1/MASTER", "instance": "VI_1",
                 "state": "MASTER", "priority": 100, "source": "hook", "data": {}}
        send_and_wait_ack(event)
        send_and_wait_ack(event)  # a resend of the same event: a duplicate, not a conflict
        send_and_wait_ack({**event, "tag": "vrrp/VI_1/FAULT", "state": "FAULT"})  # seq 7 again, another event
    finally:
        sock.close()
        ctx.term()
    assert site.query("SELECT seq, state FROM events WHERE kind = 'vrrp'") == [(7, "MASTER")]
    counters = json.loads(site.cli("status", "--json").stdout)["counters"]
    assert counters["seq_conflicts"] == 1 and counters["duplicates"] == 2
    assert "1 event(s) reuse a stored seq with other content (seq 7..7)" in (site.root / "master.log").read_text()
