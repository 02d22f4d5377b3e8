"""The CLI's side of the master's control socket (ipc in the site folder; see daemon.py)."""

import os
from typing import Any

import msgpack
import zmq

from hamaster.core.config import MasterConfig
from hamaster.core.errors import TransportError


class Unreachable(TransportError):
    """The control socket is there but this user may not use it: the master may well be running."""


def call(cfg: MasterConfig, op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """Send one request to the running master and wait up to `timeout` seconds for its answer."""
    if cfg.control.startswith("ipc://"):
        path = cfg.control[len("ipc://"):]
        if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            raise Unreachable(f"cannot reach the master's control socket {path}: permission denied"
                              " (run as root or as the user that runs `hamaster master`)")
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(cfg.control)
        sock.send(msgpack.packb({"op": op, **args}, use_bin_type=True))
        if not sock.poll(int(timeout * 1000)):
            raise TransportError(f"the master did not answer on {cfg.control} within {timeout:.0f} s"
                                 " (is `hamaster master` running?)")
        reply = msgpack.unpackb(sock.recv(), raw=False)
    finally:
        sock.close(linger=0)
    if "error" in reply:
        raise TransportError(f"master: {reply['error']}")
    return reply


def run_jobs(cfg: MasterConfig, jobs: dict[str, dict[str, Any]], timeout: float,
             test: bool = False) -> dict[str, dict[str, Any] | None]:
    """Run one job per minion; returns each minion's result, or None for a minion that did not answer in time."""
    reply = call(cfg, "run", timeout=timeout + 5, targets=jobs, timeout_s=timeout, test=test)
    return reply["results"]
