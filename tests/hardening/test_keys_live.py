"""Key changes take effect on open connections; unknown keys cannot fill the disk or the log."""

import json
import time
from pathlib import Path

import zmq
import zmq.auth
from sitelib import Site, wait_for

from hamaster.core import protocol
from hamaster.master.intake.keys import MAX_PENDING, make_certificate


def event(seq: int, state: str) -> bytes:
    return protocol.encode("events", events=[{"seq": seq, "node_ns": time.time_ns(), "kind": "vrrp",
                                               "tag": f"vrrp/VI_1/{state}", "instance": "VI_1", "state": state}])


def acked(sock: zmq.Socket, seq: int) -> bool:
    deadline = time.monotonic() + 20
    while sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
        reply = protocol.decode(sock.recv())
        if reply["t"] == "ack" and any(a <= seq <= b for a, b in reply["seqs"]):
            return True
    return False


def refused(site: Site) -> dict[str, int]:
    return json.loads(site.cli("status", "--json").stdout)["refused"]


def stored(site: Site) -> list[tuple[str, int]]:
    return site.query("SELECT minion, seq FROM events WHERE kind = 'vrrp' ORDER BY id")


def test_a_rejected_key_is_refused_on_its_open_connection(site: Site, dealer) -> None:
    site.start_master()
    sock = dealer(site, "node2")
    sock.send(event(1, "BACKUP"))
    assert acked(sock, 1)
    site.cli("key", "reject", "node2")
    sock.send(event(2, "MASTER"))  # the same connection, still open
    wait_for(lambda: refused(site).get("revoked_key", 0) >= 1, 20, "the frame refused as revoked")
    assert stored(site) == [("node2", 1)]
    site.cli("key", "accept", "node2")
    sock.send(event(3, "MASTER"))
    assert acked(sock, 3)
    assert stored(site) == [("node2", 1), ("node2", 3)]


def test_a_deleted_id_given_to_another_key_refuses_the_old_connection(site: Site, dealer) -> None:
    site.start_master()
    old = dealer(site, "node2")
    old.send(event(1, "BACKUP"))
    assert acked(old, 1)
    site.cli("key", "delete", "node2")
    make_certificate(site.root / "minions" / "node2-new", "minion")
    dealer(site, "node2", key_dir="node2-new")  # refused, and its key now pending
    pending = wait_for(lambda: [e["name"] for e in json.loads(site.cli("key", "list", "--json").stdout)
                                if e["status"] == "pending"], 20, "the new key to show as pending")
    site.cli("key", "accept", pending[0], "--id", "node2")
    new = dealer(site, "node2", key_dir="node2-new")
    before = refused(site).get("revoked_key", 0)
    old.send(event(2, "MASTER"))  # the old key's connection is still open
    wait_for(lambda: refused(site).get("revoked_key", 0) > before, 20, "the old connection's frame refused")
    new.send(event(11, "MASTER"))
    assert acked(new, 11)
    assert stored(site) == [("node2", 1), ("node2", 11)]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def test_3000_unknown_keys_leave_at_most_the_cap_of_pending_files(site: Site) -> None:
    master = site.start_master()
    master_public, _ = zmq.auth.load_certificate(site.root / "pki" / "master.key")
    ctx = zmq.Context()
    cpu0, t0 = cpu_s(master.pid), time.monotonic()
    counted = 0
    try:
        for _batch in range(10):
            socks = []
            for _ in range(300):
                public, secret = zmq.curve_keypair()
                s = ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.RECONNECT_IVL, 600_000)  # one handshake each: refused keys do not retry here
                s.curve_secretkey, s.curve_publickey, s.curve_serverkey = secret, public, master_public
                s.connect(f"tcp://127.0.0.1:{site.port}")
                socks.append(s)
            counted += 300
            wait_for(lambda: sum(n for r, n in refused(site).items()
                                 if r in ("unknown_key", "pending_cap", "pending_rate")) >= counted,  # noqa: B023
                     60, "the batch's keys refused")
            for s in socks:
                s.close(linger=0)
    finally:
        ctx.term()
    seconds, cpu = time.monotonic() - t0, cpu_s(master.pid) - cpu0
    pending = list((site.root / "pki" / "minions" / "pending").glob("*.key"))
    counts = refused(site)
    assert 0 < len(pending) <= MAX_PENDING
    assert counts["unknown_key"] == len(pending)
    assert counts.get("pending_cap", 0) + counts.get("pending_rate", 0) >= 3000 - MAX_PENDING
    log_lines = [line for line in (site.root / "master.log").read_text().splitlines() if "refused (" in line]
    assert len(log_lines) <= 3 * (seconds / 10 + 2)  # one line per reason per interval, not one per key
    print(f"3000 unknown keys: {len(pending)} pending files, master CPU {cpu:.1f} s in {seconds:.1f} s")
