"""Real receivers on 127.0.0.1 for the notify tests: an HTTP endpoint for apprise's json:// and an SMTP
server (aiosmtpd) for mailto://. Both run in threads of the test process; the fixtures `http_receiver` and
`smtp_receiver` in tests/conftest.py shut them down after each test."""

import json
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from sitelib import free_port


class HttpReceiver:
    """Collects JSON posts. `hang()` makes it hold each request until `release()`; `down()` closes the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[dict[str, Any]] = []
        self.released = threading.Event()
        self.released.set()
        self.entered = threading.Event()  # a request is being held
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def up(self) -> "HttpReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.entered.set()
                receiver.released.wait(30)
                receiver.messages.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def down(self) -> None:
        if self.server is not None:
            self.released.set()
            self.server.shutdown()
            self.server.server_close()
            assert self.thread is not None
            self.thread.join(5)
            self.server = None

    def hang(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def titles(self) -> list[str]:
        return [m.get("title", "") for m in self.messages]


class SmtpReceiver:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    @property
    def url(self) -> str:  # plain SMTP on a local port: mailto:// is unencrypted unless mode= says otherwise
        return f"mailto://127.0.0.1:{self.port}?from=hamaster@example.com&to=ops@example.com"
