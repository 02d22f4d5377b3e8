"""The VIP probe against a real HTTP server on 127.0.0.1, and its outage arithmetic on recorded observations."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hamaster.master.intake.probe import Observation, Outage, VipProbe, downtime_ns, handovers, identify, outages


class Page:
    """What the server answers: a body naming a node, or an error status."""

    def __init__(self) -> None:
        self.body, self.status = b"<h1>node1</h1> 10.0.0.11", 200


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, Page]]:
    page = Page()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(page.status)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd, page
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_the_probe_reports_each_change_of_the_answering_node_once(server):
    httpd, page = server
    seen: list[tuple[int, str | None]] = []
    probe = VipProbe("127.0.0.1", port=httpd.server_address[1], interval=0.01,
                     nodes=("node1", "node2"), on_change=lambda ts, node: seen.append((ts, node)))
    with probe:
        assert probe.wait_for("node1", timeout=5)
        page.status = 503
        assert probe.wait_for(None, timeout=5)
        page.status, page.body = 200, b"node2 10.0.0.12"
        assert probe.wait_for("node2", timeout=5)
    assert [node for _, node in seen] == ["node1", None, "node2"]
    assert [o.node for o in probe.observations()] == ["node1", None, "node2"]
    assert probe.requests >= 3
    [gap] = outages(probe.observations())
    assert (gap.before, gap.after) == ("node1", "node2") and gap.duration_ns > 0


def test_nobody_listening_is_no_answer():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the port was never listened on and is free again: the connection is refused
    assert VipProbe("127.0.0.1", port=port, timeout=0.5).ask() is None


@pytest.mark.parametrize(("body", "nodes", "expected"), [
    (b"node1 10.0.0.11\n", None, "node1"),
    (b"<html><body><h1>node2</h1></body></html>", None, "node2"),
    (b"served by node2 today", ("node1", "node2"), "node2"),
    (b"served by node22", ("node1", "node2"), None),  # a word, not a substring
    (b"", None, None),
])
def test_identify_reads_the_node_from_the_page(body, nodes, expected):
    assert identify(body, nodes) == expected


def obs(*pairs: tuple[int, str | None]) -> list[Observation]:
    return [Observation(ts, node) for ts, node in pairs]


def test_outages_are_the_stretches_without_an_answer_after_the_first_one():
    changes = obs((0, None), (10, "node1"), (50, None), (80, "node2"), (90, None))
    assert outages(changes) == [Outage(50, 80, "node1", "node2"), Outage(90, None, "node2", None)]
    assert downtime_ns(changes, until_ns=100) == 30 + 10
    assert downtime_ns(changes) == 30


def test_handovers_include_direct_switches_and_skip_a_blip_on_the_same_node():
    changes = obs((10, "node1"), (20, None), (25, "node1"), (40, "node2"), (60, None), (75, "node1"))
    assert handovers(changes) == [Outage(40, 40, "node1", "node2"), Outage(60, 75, "node2", "node1")]
