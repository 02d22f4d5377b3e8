"""Local alert targets for the lab: a mail server (aiosmtpd) and a chat webhook (JSON posts), both on 127.0.0.1.

The master points apprise at them (`mailto://127.0.0.1:PORT?...`, `json://127.0.0.1:PORT/hook`), so the demo and
the e2e tests see exactly what an operator's inbox and chat room would get, with the time each message arrived.
"""

import json
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from hamaster.core.timeutil import now_ns


@dataclass(frozen=True, slots=True)
class Received:
    at_ns: int
    title: str
    body: str


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MailReceiver:
    """An SMTP server keeping every message it is handed; `subjects()` are what the inbox would list."""

    def __init__(self) -> None:
        self.port = free_port()
        self._messages: list[tuple[int, EmailMessage]] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._running = False

    @property
    def url(self) -> str:  # plain SMTP on a local port (apprise's mailto:// is unencrypted unless told otherwise)
        return f"mailto://127.0.0.1:{self.port}?from=hamaster@lab.example&to=ops@lab.example"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self._messages.append((now_ns(), message))
        return "250 OK"

    def received(self) -> list[Received]:
        with self._lock:
            return [Received(at, str(m["subject"] or ""), _text(m)) for at, m in self._messages]

    def start(self) -> "MailReceiver":
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain", "html"))
    return part.get_content() if part is not None else ""


class ChatReceiver:
    """An HTTP endpoint recording apprise's json:// posts ({"title", "message", "type", ...})."""

    def __init__(self) -> None:
        self._posts: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    post = json.loads(body)
                except ValueError:
                    post = {"title": "(not JSON)", "message": body.decode("utf-8", "replace")}
                with receiver._lock:
                    receiver._posts.append((now_ns(), post))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="chat-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def received(self) -> list[Received]:
        with self._lock:
            return [Received(at, str(p.get("title", "")), str(p.get("message", ""))) for at, p in self._posts]

    def start(self) -> "ChatReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
