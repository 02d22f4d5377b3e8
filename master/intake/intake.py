"""Intake: minion frames -> validation -> one transaction -> acks -> the correlator.

Each `drain()` takes up to ROUND frames from the ROUTER and commits them in one transaction, so the cost of
a commit is shared by a whole batch under load, and an ack never leaves before its events are on disk. The
minion id is the ZAP User-Id (keys.py sets it from the CURVE key), never a field of the payload.
"""

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from hamaster.core import protocol
from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError
from hamaster.core.events import Event, StoredEvent
from hamaster.core.protocol import fingerprint
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.correlate.clocks import Clocks
from hamaster.master.intake.keys import ZAP_DOMAIN, KeyRing, master_certificate
from hamaster.master.intake.refusals import Refusals
from hamaster.master.intake.storehealth import StoreHealth
from hamaster.master.store import events as stored_events

log = logging.getLogger("hamaster")
SPOOL_NEW, SPOOL_RESET = "minion/spool/new", "minion/spool/reset"  # a minion's new spool; one after an older one

ROUND = 500  # frames drained per commit
HANDSHAKE_S = 5  # a connection that has not finished its CURVE handshake by then is closed (see guard.py)


@dataclass
class Minion:
    id: str
    route: bytes
    last_seen: float  # monotonic
    last_seen_ns: int
    dropped: int = 0
    backlog: int = 0
    reconcile_skipped: int = 0  # keepalived dumps the minion could not vouch for
    spool: str | None = None  # what the minion's pings say of its spool when it is not fine ("disk full")


class Intake:
    def __init__(self, ctx: zmq.Context, cfg: MasterConfig, keyring: KeyRing, db: Any, counters: dict[str, int],
                 refusals: Refusals, health: StoreHealth, on_stored: Callable[[list[StoredEvent]], None],
                 clocks: Clocks) -> None:
        self.cfg, self.keyring, self.db, self.counters, self.on_stored = cfg, keyring, db, counters, on_stored
        self.refusals, self.health = refusals, health
        self.clocks = clocks  # the minions' clock offsets, learnt from their pings (correlate/clocks.py)
        self.on_job_result: Callable[[str, str, dict[str, Any]], None] = lambda who, jid, result: None
        self.on_spoke: Callable[[int, str], None] = lambda fd, key: None  # the guard's: a minion's connection
        # the guard's: the accepted keys changed (shut what no longer is); a frame came from a revoked key
        self.on_keys: Callable[[dict[str, str]], None] = lambda accepted: None
        self.on_revoked: Callable[[int | None], None] = lambda fd: None
        self._accepted = keyring.accepted_keys()
        self.minions: dict[str, Minion] = {}
        public, secret = master_certificate(cfg.pki_dir, cfg.path)
        self.router = ctx.socket(zmq.ROUTER)
        try:
            self.router.setsockopt(zmq.LINGER, 0)
            # twice the limit: what is between is read, refused and counted (too_large); beyond, libzmq drops
            # the connection (a peer cannot make us hold more), and the guard counts that as too_large
            self.router.setsockopt(zmq.MAXMSGSIZE, 2 * protocol.MAX_FRAME)
            self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.router.setsockopt(zmq.SNDHWM, 10_000)
            self.router.setsockopt(zmq.RCVHWM, 10_000)
            self.router.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_S * 1000)
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

    def _drop(self, who: str, reason: str, why: str) -> None:
        self.counters["dropped"] += 1
        if who in self.minions:
            self.minions[who].dropped += 1
        self.refusals.refuse(reason, who, why)

    def drain(self) -> None:
        batches: dict[str, list[Event]] = {}
        acks: dict[str, list[int]] = {}
        hellos: dict[str, str] = {}  # minion -> grains (JSON), written with the batch
        now, wall = time.monotonic(), now_ns()
        accepted = self.check_keys()  # per round: a key rejected or deleted a moment ago is out
        for _ in range(ROUND):
            try:
                parts = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            self.counters["frames"] += 1
            if len(parts) != 2:
                self._drop("?", "bad_field", f"{len(parts)} parts, expected 2")
                continue
            route, frame = parts
            key = frame.get("User-Id")  # the CURVE key of the connection (keys.py)
            who = accepted.get(key)
            if who is None:  # rejected or deleted since it connected, or its id given to another key
                self.counters["unknown_sender"] += 1
                self.refusals.refuse("revoked_key", f"key {fingerprint(key)}", "no longer accepted")
                self.on_revoked(frame.get(zmq.SRCFD))
                continue
            self.on_spoke(frame.get(zmq.SRCFD), key)
            m = self.minions.get(who)
            if m is None:
                m = self.minions[who] = Minion(who, route.bytes, now, wall)
                log.info("minion %s connected", who)
            m.route, m.last_seen, m.last_seen_ns = route.bytes, now, wall
            try:
                msg = protocol.decode_from_minion(frame.buffer)
                if isinstance(msg, protocol.GoodEvents | protocol.Events):
                    self._take_events(who, msg.events, batches, acks, wall)
                elif isinstance(msg, protocol.Ping):
                    # an NTP exchange too: our clock on receipt and on answer
                    rx = now_ns()
                    self.clocks.ping(who, msg.ts, rx, list(msg.ntp) if msg.ntp else None)
                    self.send(who, protocol.encode("pong", ts=msg.ts, rx=rx, tx=now_ns()))
                    m.reconcile_skipped = msg.reconcile_skipped
                    if msg.spool != m.spool:
                        log.warning("minion %s: spool %s", who, msg.spool[:100] if msg.spool else "has room again")
                        m.spool = msg.spool
                elif isinstance(msg, protocol.Hello):
                    grains = protocol.plain_map(msg.grains, protocol.MAX_GRAINS, "grains")
                    m.backlog = msg.backlog
                    hellos[who] = json.dumps(grains, allow_nan=False)
                    spool = grains.get("spool")
                    log.info("minion %s says hello (backlog %d, spool %s)", who, m.backlog,
                             spool.get("id") if isinstance(spool, dict) else "without identity")
                else:
                    result = protocol.plain_map(msg.result, protocol.MAX_RESULT, "result")
                    self.health.write("job result", lambda: self.on_job_result(who, msg.jid, result))  # noqa: B023
            except protocol.Refused as exc:
                self._drop(who, exc.reason, str(exc))
        if not batches and not acks and not hellos:
            return
        if not self.health.retry_due():  # the store is full: these stay in the minions' spools
            self.counters["unacked_store_full"] += sum(len(s) for s in acks.values())
            return
        new = self.health.write("intake", lambda: store.store_intake(self.db, wall, hellos, batches))
        if new is None:
            self.counters["unacked_store_full"] += sum(len(s) for s in acks.values())
            return
        if sum(len(s) for s in acks.values()) > len(new):  # some were stored before: resends, or a seq used twice
            self._count_conflicts(batches, new)
        for who, seqs in acks.items():
            self.send(who, protocol.encode("ack", seqs=protocol.ranges(sorted(seqs))))
        self.counters["events"] += len(new)
        self.counters["duplicates"] += sum(len(s) for s in acks.values()) - len(new)
        if new:
            self.health.write("incidents", lambda: self.on_stored(new))

    def check_keys(self) -> dict[str, str]:
        """The accepted keys now; when they changed, the guard shuts the connections of keys that left."""
        accepted = self.keyring.accepted_keys()  # the same dict until the folders change
        if accepted is not self._accepted:
            self._accepted = accepted
            self.on_keys(accepted)
        return accepted

    def _take_events(self, who: str, raw: list[Any], batches: dict[str, list[Event]],
                     acks: dict[str, list[int]], wall: int) -> None:
        good = batches.setdefault(who, [])
        seqs = acks.setdefault(who, [])
        for item in raw:
            try:
                ev = protocol.event_from_wire(item)
            except protocol.Refused as exc:
                # acked all the same: a minion must not resend a poison event forever
                self._drop(who, exc.reason, str(exc))
                seq = protocol.seq_of(item)
                if seq is not None:
                    seqs.append(seq)
                continue
            if ev.tag == SPOOL_NEW and stored_events.has_events_before(self.db, who, ev.seq):
                ev = dataclasses.replace(ev, tag=SPOOL_RESET)  # the node cannot know it had a spool before; we do
                self.counters["spool_resets"] += 1
                log.warning("spool of %s was reset (new spool %s numbered from %d): a new incarnation, its events"
                            " are stored beside the old ones", who, ev.data.get("spool"), ev.seq)
            good.append(self.clocks.vet_event(who, ev, wall))  # an impossible node time replaced and marked
            seqs.append(ev.seq)

    def _count_conflicts(self, batches: dict[str, list[Event]], new: list[StoredEvent]) -> None:
        """A seq already stored with other content is a conflict: counted and logged, the stored event kept."""
        fresh = {(se.minion, se.event.seq) for se in new}
        for who, events in batches.items():
            conflicts = stored_events.seq_conflicts(self.db, who, [e for e in events if (who, e.seq) not in fresh])
            if conflicts:
                self.counters["seq_conflicts"] += len(conflicts)
                log.warning("minion %s: %d event(s) reuse a stored seq with other content (seq %d..%d): the stored"
                            " ones are kept", who, len(conflicts), conflicts[0].seq, conflicts[-1].seq)

    def send(self, who: str, frame: bytes) -> bool:
        m = self.minions.get(who)
        if m is None:
            return False
        try:
            self.router.send_multipart([m.route, frame], zmq.NOBLOCK)
            return True
        except (zmq.Again, zmq.ZMQError):  # gone (ROUTER_MANDATORY) or its queue is full: it will resend
            return False
