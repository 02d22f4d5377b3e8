"""The running master's own word, from its control socket (`{"op": "status"}`, as `hamaster status` asks):
who is online now, the counters, the store's health. The web process is not the CLI, so it has this small
client of its own; a master that does not answer within `timeout` is "down", and the store is read alone.
"""

import os
from typing import Any

import msgpack
import zmq

from hamaster.master.web.status import Live

DOWN = Live(False, {}, {}, {}, {})


def ask_status(control: str, ctx: "zmq.Context[Any]", timeout: float = 0.5) -> Live:
    path = control[len("ipc://"):] if control.startswith("ipc://") else None
    if path is not None and not os.access(path, os.R_OK | os.W_OK):  # not there, or not ours to ask (0600):
        return DOWN  # the store alone then, without waiting `timeout` on every look
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(control)
        sock.send(msgpack.packb({"op": "status"}, use_bin_type=True))
        if not sock.poll(int(timeout * 1000)):
            return DOWN
        reply = msgpack.unpackb(sock.recv(), raw=False)
    except (zmq.ZMQError, ValueError, msgpack.UnpackException):
        return DOWN
    finally:
        sock.close(linger=0)
    if not isinstance(reply, dict) or "error" in reply:
        return DOWN
    return Live(True, dict(reply.get("minions") or {}), dict(reply.get("counters") or {}),
                dict(reply.get("refused") or {}), dict(reply.get("store") or {}))
