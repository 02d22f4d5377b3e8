"""Intake: minion frames -> validation -> one transaction -> acks -> the correlator.

Each `drain()` takes up to ROUND frames from the ROUTER and commits them in one transaction, so the cost of
a commit is shared by a whole batch under load, and an ack never leaves before its events are on disk. The
minion id is the ZAP User-Id (keys.py sets it from the CURVE key), never a field of the payload.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from hamaster.core import protocol
from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError, ProtocolError
from hamaster.core.events import Event, StoredEvent
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.intake.keys import ZAP_DOMAIN, KeyRing, master_certificate

log = logging.getLogger("hamaster")

ROUND = 500  # frames drained per commit


@dataclass
class Minion:
    id: str
    route: bytes
    last_seen: float  # monotonic
    last_seen_ns: int
    dropped: int = 0
    backlog: int = 0


class Intake:
    def __init__(self, ctx: zmq.Context, cfg: MasterConfig, keyring: KeyRing, db: Any, counters: dict[str, int],
                 on_stored: Callable[[list[StoredEvent]], None]) -> None:
        self.cfg, self.keyring, self.db, self.counters, self.on_stored = cfg, keyring, db, counters, on_stored
        self.on_job_result: Callable[[str, str, dict[str, Any]], None] = lambda who, jid, result: None
        self.minions: dict[str, Minion] = {}
        self.accepted = keyring.accepted_ids()
        self._accepted_checked = time.monotonic()
        public, secret = master_certificate(cfg.pki_dir, cfg.path)
        self.router = ctx.socket(zmq.ROUTER)
        try:
            self.router.setsockopt(zmq.LINGER, 0)
            self.router.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME)
            self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.router.setsockopt(zmq.SNDHWM, 10_000)
            self.router.setsockopt(zmq.RCVHWM, 10_000)
            self.router.curve_server = True
            self.router.curve_secretkey = secret
            self.router.curve_publickey = public
            self.router.zap_domain = ZAP_DOMAIN.encode()
            self.router.bind(cfg.bind)
        except zmq.ZMQError as exc:
            self.router.close(linger=0)
            raise ConfigError(f"{cfg.path}: bind: cannot listen on {cfg.bind}: {exc}") from None

    def close(self) -> None:
        self.router.close(linger=0)

    def _drop(self, who: str, why: str) -> None:
        self.counters["dropped"] += 1
        if who in self.minions:
            self.minions[who].dropped += 1
        log.warning("dropped frame from %s: %s", who, why)

    def refresh_keys(self, now: float) -> None:
        if now - self._accepted_checked > 1.0:
            self.accepted = self.keyring.accepted_ids()
            self._accepted_checked = now

    def drain(self) -> None:
        batches: dict[str, list[Event]] = {}
        acks: dict[str, list[int]] = {}
        hellos: dict[str, str] = {}  # minion -> grains (JSON), written with the batch
        now, wall = time.monotonic(), now_ns()
        for _ in range(ROUND):
            try:
                parts = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            self.counters["frames"] += 1
            if len(parts) != 2:
                self._drop("?", f"{len(parts)} parts, expected 2")
                continue
            route, frame = parts
            who = frame.get("User-Id")
            if who not in self.accepted:  # key deleted or rejected since it connected
                self.counters["unknown_sender"] += 1
                continue
            m = self.minions.get(who)
            if m is None:
                m = self.minions[who] = Minion(who, route.bytes, now, wall)
                log.info("minion %s connected", who)
            m.route, m.last_seen, m.last_seen_ns = route.bytes, now, wall
            try:
                msg = protocol.decode(frame.bytes)
            except ProtocolError as exc:
                self._drop(who, str(exc))
                continue
            kind = msg["t"]
            if kind == "events":
                self._take_events(who, msg["events"], batches, acks)
            elif kind == "ping":
                self.send(who, protocol.encode("pong", ts=msg["ts"]))
            elif kind == "hello":
                m.backlog = msg.get("backlog", 0)
                hellos[who] = json.dumps(msg["grains"], default=str)
                log.info("minion %s says hello (backlog %d)", who, m.backlog)
            elif kind == "job_result":
                self.on_job_result(who, msg["jid"], msg["result"])
            else:
                self._drop(who, f"unexpected {kind} from a minion")
        if not batches and not acks and not hellos:
            return
        new = store.store_intake(self.db, wall, hellos, batches)
        for who, seqs in acks.items():
            self.send(who, protocol.encode("ack", seqs=protocol.ranges(sorted(seqs))))
        self.counters["events"] += len(new)
        self.counters["duplicates"] += sum(len(s) for s in acks.values()) - len(new)
        if new:
            self.on_stored(new)

    def _take_events(self, who: str, raw: list[Any], batches: dict[str, list[Event]],
                     acks: dict[str, list[int]]) -> None:
        if len(raw) > protocol.MAX_BATCH:
            self._drop(who, f"batch of {len(raw)} events exceeds {protocol.MAX_BATCH}")
            return
        good = batches.setdefault(who, [])
        seqs = acks.setdefault(who, [])
        for item in raw:
            try:
                ev = protocol.event_from_wire(item)
            except ProtocolError as exc:
                # acked all the same: a minion must not resend a poison event forever
                self._drop(who, f"event: {exc}")
                seq = item.get("seq") if isinstance(item, dict) else None
                if type(seq) is int and 0 < seq < 2**63:
                    seqs.append(seq)
                continue
            good.append(ev)
            seqs.append(ev.seq)

    def send(self, who: str, frame: bytes) -> bool:
        m = self.minions.get(who)
        if m is None:
            return False
        try:
            self.router.send_multipart([m.route, frame], zmq.NOBLOCK)
            return True
        except (zmq.Again, zmq.ZMQError):  # gone (ROUTER_MANDATORY) or its queue is full: it will resend
            return False
