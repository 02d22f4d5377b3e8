"""Fixtures of the hardening tests: raw ZeroMQ peers with a site's keys, to send the master whatever we like."""

from collections.abc import Callable, Iterator

import pytest
import zmq
import zmq.auth
from sitelib import Site


@pytest.fixture
def dealer() -> Iterator[Callable[..., zmq.Socket]]:
    """dealer(site, minion) -> a DEALER connected to the site's master with `minion`'s accepted key."""
    ctx = zmq.Context()
    socks: list[zmq.Socket] = []

    def connect(site: Site, minion: str = "node1", key_dir: str | None = None) -> zmq.Socket:
        folder = site.root / "minions" / (key_dir or minion)
        public, secret = zmq.auth.load_certificate(folder / "minion.key_secret")
        master_public, _ = zmq.auth.load_certificate(site.root / "pki" / "master.key")
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, 10_000)  # a peer the master refused fails the test instead of hanging it
        sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = secret, public, master_public
        sock.connect(f"tcp://127.0.0.1:{site.port}")
        socks.append(sock)
        return sock

    try:
        yield connect
    finally:
        for s in socks:
            s.close(linger=0)
        ctx.term()
