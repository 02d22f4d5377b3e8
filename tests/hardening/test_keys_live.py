"""Key changes take effect on open connections; unknown keys cannot fill the disk or the log."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zmq
import zmq.auth
from sitelib import Site, acked, refused, wait_for
from zmq.utils.monitor import parse_monitor_message

from hamaster.core import protocol
from hamaster.core.protocol import fingerprint
from hamaster.master.intake.keys import MAX_PENDING, make_certificate


def event(seq: int, state: str) -> bytes:
    return protocol.encode("events", events=[{"seq": seq, "node_ns": time.time_ns(), "kind": "vrrp",
                                               "tag": f"vrrp/VI_1/{state}", "instance": "VI_1", "state": state}])



def stored(site: Site) -> list[tuple[str, int]]:
    return site.query("SELECT minion, seq FROM events WHERE kind = 'vrrp' ORDER BY id")


@contextmanager
def watch(sock: zmq.Socket) -> Iterator[zmq.Socket]:
    """The peer's own view of its connection: its socket's monitor (closed after, or the context hangs)."""
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    try:
        yield monitor
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)


def seen(monitor: zmq.Socket, event: int, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and monitor.poll(int(left * 1000)):
        if parse_monitor_message(monitor.recv_multipart())["event"] == event:
            return
    raise AssertionError(f"the peer did not see {what} within {timeout:.0f} s")


def test_a_rejected_key_loses_its_open_connection_and_its_reconnect_is_refused(site: Site, dealer) -> None:
    site.start_master()
    sock = dealer(site, "node2")
    with watch(sock) as monitor:
        rejected(site, sock, monitor)
    site.cli("key", "accept", "node2")  # and back (libzmq does not retry a refused handshake: a new socket)
    again = dealer(site, "node2")
    again.send(event(3, "MASTER"))
    assert acked(again, 3)
    assert stored(site) == [("node2", 1), ("node2", 3)]


def rejected(site: Site, sock: zmq.Socket, monitor: zmq.Socket) -> None:
    sock.send(event(1, "BACKUP"))
    assert acked(sock, 1)
    site.cli("key", "reject", "node2")  # the peer sends nothing more: the master closes the connection itself
    seen(monitor, zmq.EVENT_DISCONNECTED, "the master close its connection")
    seen(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH, "its reconnect refused")
    counts = wait_for(lambda: (c := refused(site)).get("refused_key") and c, 20, "the reconnect counted")
    assert counts["revoked_closed"] == 1
    assert stored(site) == [("node2", 1)]


def test_a_deleted_id_given_to_another_key_closes_the_old_connection(site: Site, dealer) -> None:
    site.start_master()
    old = dealer(site, "node2")
    with watch(old) as monitor:
        deleted_and_given(site, dealer, old, monitor)


def deleted_and_given(site: Site, dealer, old: zmq.Socket, monitor: zmq.Socket) -> None:
    old.send(event(1, "BACKUP"))
    assert acked(old, 1)
    site.cli("key", "delete", "node2")
    seen(monitor, zmq.EVENT_DISCONNECTED, "the master close its connection")
    seen(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH, "its reconnect refused")  # an unknown key now: pending
    public, _ = make_certificate(site.root / "minions" / "node2-new", "minion")
    dealer(site, "node2", key_dir="node2-new")  # refused, and its key now pending
    wait_for(lambda: any(e["status"] == "pending" and e["fingerprint"] == fingerprint(public)
                         for e in json.loads(site.cli("key", "list", "--json").stdout)), 20,
             "the new key to show as pending")
    site.cli("key", "accept", fingerprint(public), "--id", "node2")
    new = dealer(site, "node2", key_dir="node2-new")
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
