"""The control server: the CLI's requests on an ipc socket in the site folder (mode 0600).

A request is a msgpack map `{"op": NAME, ...}`; `ops` maps NAME to a handler that returns the reply, or None
when it answers later itself (a job answers when its minions have, through `reply`).
"""

import logging
import os
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from hamaster.core.errors import ConfigError, HamasterError

log = logging.getLogger("hamaster")

Handler = Callable[[bytes, dict[str, Any]], "dict[str, Any] | None"]


class ControlServer:
    def __init__(self, ctx: zmq.Context, address: str, where: str) -> None:
        self.ops: dict[str, Handler] = {}
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            if address.startswith("ipc://"):
                sock_path = address[len("ipc://"):]
                if os.path.exists(sock_path):
                    os.unlink(sock_path)  # left by a master that died; bind would fail
                old = os.umask(0o177)
                try:
                    self.socket.bind(address)
                finally:
                    os.umask(old)
            else:
                self.socket.bind(address)
        except (zmq.ZMQError, OSError) as exc:
            self.socket.close(linger=0)
            raise ConfigError(f"{where}: control: cannot listen on {address}: {exc}") from None

    def close(self) -> None:
        self.socket.close(linger=0)

    def serve(self) -> None:
        """Answer the requests waiting (at most 100, so intake is never held up for long)."""
        for _ in range(100):
            try:
                client, _empty, raw = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except ValueError:
                continue
            try:
                req = msgpack.unpackb(raw, raw=False)
                reply = self.ops[req["op"]](client, req)
            except (KeyError, TypeError, AttributeError, ValueError, msgpack.UnpackException) as exc:
                reply = {"error": f"bad control request: {exc}"}
            except HamasterError as exc:  # a job that cannot start, say: the CLI says why, the master goes on
                reply = {"error": str(exc)}
            if reply is not None:
                self.reply(client, reply)

    def reply(self, client: bytes, reply: dict[str, Any]) -> None:
        try:
            self.socket.send_multipart([client, b"", msgpack.packb(reply, use_bin_type=True)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("control reply lost: %s", exc)
