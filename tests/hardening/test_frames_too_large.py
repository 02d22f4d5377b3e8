"""Frames over the ROUTER's MAXMSGSIZE (twice protocol.MAX_FRAME) are dropped by libzmq with the connection:
the master counts each as too_large (the guard, guard.py), lives, and stores nothing of them; a peer that
just leaves is not counted."""

import time

from sitelib import Site, acked, refused, wait_for

from hamaster.core import protocol

MiB = 1024 * 1024


def event(seq: int, state: str, pad: int = 0) -> bytes:
    data = {"pad": "x" * pad} if pad else None
    return protocol.encode("events", events=[{"seq": seq, "node_ns": time.time_ns(), "kind": "vrrp",
                                               "tag": f"vrrp/VI_1/{state}", "instance": "VI_1", "state": state,
                                               **({"data": data} if data else {})}])



def test_frames_of_20_and_100_mib_from_an_accepted_key_are_counted_and_nothing_is_stored(
        site: Site, dealer) -> None:
    master = site.start_master()
    leaver = dealer(site, "node2")  # speaks, then closes as a minion does: not a refusal
    leaver.send(event(1, "BACKUP"))
    assert acked(leaver, 1)
    leaver.close(linger=0)

    sock = dealer(site, "node1")
    for n, size in enumerate((20 * MiB, 100 * MiB), 1):
        sock.send(event(100 + n, "MASTER", pad=size))  # dropped with its connection; the socket reconnects
        wait_for(lambda: refused(site).get("too_large", 0) >= n, 60, f"frame {n} counted as too_large")  # noqa: B023
    assert refused(site)["too_large"] == 2  # the leaver's close came first and was not counted
    sock.send(event(7, "MASTER"))  # the same key, reconnected: served as before
    assert acked(sock, 7)
    assert site.query("SELECT minion, seq FROM events WHERE kind = 'vrrp' ORDER BY id") == [
        ("node2", 1), ("node1", 7)]
    assert master.poll() is None
    assert "refused (too_large)" in (site.root / "master.log").read_text()
