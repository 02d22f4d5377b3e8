"""Refusals are counted by reason where an operator looks: `hamaster status` and the metrics endpoint."""

import urllib.request

import msgpack
import zmq
from prometheus_client.parser import text_string_to_metric_families
from sitelib import Site, free_port, refused, wait_for


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}



def test_bad_frames_and_refused_handshakes_are_counted_by_reason(site: Site, dealer) -> None:
    port = free_port()
    with open(site.config, "a") as f:
        f.write(f"metrics:\n  listen: 127.0.0.1:{port}\n")
    site.start_master()
    sock = dealer(site, "node1")
    sock.send(msgpack.packb({"v": True, "t": "ping", "ts": 1}))
    sock.send(msgpack.packb({"v": 1, "t": "hello", "grains": {"x": b"\x00"}}))
    wait_for(lambda: refused(site).get("bad_value") == 1 and refused(site).get("version") == 1, 20,
             "both frames refused")

    ctx = zmq.Context()  # a peer without CURVE: its handshake fails before any key is seen
    plain = ctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.setsockopt(zmq.RECONNECT_IVL, 600_000)
    try:
        plain.connect(f"tcp://127.0.0.1:{site.port}")
        wait_for(lambda: any(r.startswith("handshake") for r in refused(site)), 20, "the handshake counted")
    finally:
        plain.close(linger=0)
        ctx.term()

    m = scrape(port)
    assert m[("hamaster_refused_total", (("reason", "version"),))] == 1
    assert m[("hamaster_refused_total", (("reason", "bad_value"),))] == 1
    assert m[("hamaster_store_writable", ())] == 1
    text = site.cli("status").stdout
    assert "refused: " in text and "version 1" in text
    log = (site.root / "master.log").read_text()
    assert "refused (version) from node1" in log and "refused (bad_value) from node1" in log
