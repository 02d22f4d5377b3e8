"""`hamaster master`: the master daemon.

One loop in one thread owns the ROUTER socket and the store's write connection:

    minion frames --decode/validate--> batch --INSERT OR IGNORE, commit--> ack --> correlator --> notifier

Each round drains up to ROUND frames and commits them in one transaction, so the cost of a commit is
shared by a whole batch under load, and an ack never leaves before its events are on disk. The ZAP thread
(pyzmq's authenticator, see keys.py) admits accepted keys only; the minion id is the User-Id that it sets
from the key. The notifier delivers in its own thread: a slow chat service never holds up intake.

The control socket (ipc, in the site folder, mode 0600) serves the CLI: status, and running jobs on minions
(jobs.py keeps their books, and runs the reactor's `state:` rules).
"""

import dataclasses
import json
import logging
import os
import queue
import signal
import time
from dataclasses import dataclass
from typing import Any

import msgpack
import zmq
import zmq.auth

from hamaster.core import protocol
from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError, ProtocolError
from hamaster.core.events import Event, StoredEvent
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.intake.jobs import JobBook
from hamaster.master.intake.keys import ZAP_DOMAIN, KeyRing, MinionAuthenticator
from hamaster.master.intake.probe import VipProbe
from hamaster.notify.notifier import Notifier

log = logging.getLogger("hamaster")

ROUND = 500  # frames drained per commit
PROBE_MINION = "@probe"  # the master's own observations; "@" cannot start a minion id made by `hamaster init`
REPLAY_NS = 24 * 3600 * 10**9  # history the correlator rebuilds its picture from at start-up
SPOOL_NEW, SPOOL_RESET = "minion/spool/new", "minion/spool/reset"  # a minion's new spool; one after an older one


@dataclass
class Minion:
    id: str
    route: bytes
    last_seen: float  # monotonic
    last_seen_ns: int
    dropped: int = 0
    backlog: int = 0
    spool: str | None = None  # what the minion's pings say of its spool when it is not fine ("disk full")


class MasterDaemon:
    def __init__(self, cfg: MasterConfig) -> None:
        self.cfg = cfg
        self.notifier = Notifier(cfg.notify, cfg.store, cfg.path, cfg.reactor)  # a bad notify section stops us here
        self.db = store.connect(cfg.store)
        self.keyring = KeyRing(cfg.pki_dir)
        secret_file = cfg.pki_dir / "master.key_secret"
        try:
            public, secret = zmq.auth.load_certificate(secret_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{cfg.path}: master key {secret_file}: {exc} (run `hamaster init`)") from None
        self.ctx = zmq.Context()
        self.auth = MinionAuthenticator(self.ctx, self.keyring)
        self.auth.start()
        self.router = self.ctx.socket(zmq.ROUTER)
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
        self.control = self.ctx.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        if cfg.control.startswith("ipc://"):
            sock_path = cfg.control[len("ipc://"):]
            if os.path.exists(sock_path):
                os.unlink(sock_path)  # left by a master that died; bind would fail
            old = os.umask(0o177)
            try:
                self.control.bind(cfg.control)
            finally:
                os.umask(old)
        else:
            self.control.bind(cfg.control)
        self.minions: dict[str, Minion] = {}
        self.jobs = JobBook(self.db, self._send, self._reply)
        self.counters = {"frames": 0, "events": 0, "duplicates": 0, "dropped": 0, "unknown_sender": 0, "incidents": 0,
                         "spool_resets": 0, "seq_conflicts": 0}
        self.running = True
        self.accepted = self.keyring.accepted_ids()
        self._accepted_checked = time.monotonic()
        self._last_flush = time.monotonic()
        self.started_ns = now_ns()
        self.correlator = Correlator(self.db, cfg.correlator, cfg.silent_after, where=str(cfg.path))
        self.correlator.replay(self.started_ns - REPLAY_NS)
        # minions heard before this start: one that never comes back must still go silent (a holder that died
        # while we were down would otherwise stay MASTER beside its successor: a split brain that is not one)
        self.heard_before: dict[str, int] = dict(self.db.execute(
            "SELECT id, last_seen_ns FROM minions WHERE last_seen_ns >= ?", (self.started_ns - REPLAY_NS,)))
        self._last_tick = 0.0
        self.metrics: Any = None  # the Prometheus endpoint, when master.yaml asks for one
        self.probe_changes: queue.SimpleQueue[tuple[str, int, str | None]] = queue.SimpleQueue()
        self.probes = [self._probe(i, p) for i, p in enumerate(cfg.probes)]
        self._probe_seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE minion = ?",
                                          (PROBE_MINION,)).fetchone()[0]

    # -- intake -------------------------------------------------------------------------------------
    def _drop(self, who: str, why: str) -> None:
        self.counters["dropped"] += 1
        if who in self.minions:
            self.minions[who].dropped += 1
        log.warning("dropped frame from %s: %s", who, why)

    def _drain(self) -> None:
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
                self._send(who, protocol.encode("pong", ts=msg["ts"]))
                spool = msg.get("spool") if isinstance(msg.get("spool"), str) else None
                if spool != m.spool:
                    log.warning("minion %s: spool %s", who, spool[:100] if spool else "has room again")
                    m.spool = spool
            elif kind == "hello":
                m.backlog = msg.get("backlog", 0)
                hellos[who] = json.dumps(msg["grains"], default=str)
                spool = msg["grains"].get("spool")
                log.info("minion %s says hello (backlog %d, spool %s)", who, m.backlog,
                         spool.get("id") if isinstance(spool, dict) else "without identity")
            elif kind == "job_result":
                self.jobs.result(who, msg["jid"], msg["result"])
            else:
                self._drop(who, f"unexpected {kind} from a minion")
        if not batches and not acks and not hellos:
            return
        new = store.store_intake(self.db, wall, hellos, batches)
        if sum(len(s) for s in acks.values()) > len(new):  # some were stored before: resends, or a seq used twice
            self._count_conflicts(batches, new)
        for who, seqs in acks.items():
            self._send(who, protocol.encode("ack", seqs=protocol.ranges(sorted(seqs))))
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
            if ev.tag == SPOOL_NEW and store.has_events_before(self.db, who, ev.seq):
                ev = dataclasses.replace(ev, tag=SPOOL_RESET)  # the node cannot know it had a spool before; we do
                self.counters["spool_resets"] += 1
                log.warning("spool of %s was reset (new spool %s numbered from %d): a new incarnation, its events"
                            " are stored beside the old ones", who, ev.data.get("spool"), ev.seq)
            good.append(ev)
            seqs.append(ev.seq)

    def _count_conflicts(self, batches: dict[str, list[Event]], new: list[StoredEvent]) -> None:
        """A seq already stored with other content is a conflict: counted and logged, the stored event kept."""
        fresh = {(se.minion, se.event.seq) for se in new}
        for who, events in batches.items():
            conflicts = store.seq_conflicts(self.db, who, [e for e in events if (who, e.seq) not in fresh])
            if conflicts:
                self.counters["seq_conflicts"] += len(conflicts)
                log.warning("minion %s: %d event(s) reuse a stored seq with other content (seq %d..%d): the stored"
                            " ones are kept", who, len(conflicts), conflicts[0].seq, conflicts[-1].seq)

    def on_stored(self, events: list[StoredEvent]) -> None:
        """New events are committed: derive incidents, alert on them, run reactor rules."""
        self._incidents(self.correlator.feed(events))
        self.jobs.react(events, self.notifier.reactor, self.cfg)

    def _incidents(self, ids: list[int]) -> None:
        if ids:
            self.counters["incidents"] += len(ids)
            self.notifier.submit(ids)

    def _send(self, who: str, frame: bytes) -> bool:
        m = self.minions.get(who)
        if m is None:
            return False
        try:
            self.router.send_multipart([m.route, frame], zmq.NOBLOCK)
            return True
        except (zmq.Again, zmq.ZMQError):  # gone (ROUTER_MANDATORY) or its queue is full: it will resend
            return False

    # -- ground truth: who answers on the VIP ------------------------------------------------------------
    def _probe(self, index: int, raw: Any) -> VipProbe:
        where = f"{self.cfg.path}: probes[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("vip"), str):
            raise ConfigError(f"{where}: expected a mapping with 'vip: ADDRESS'")
        unknown = set(raw) - {"vip", "port", "path", "interval_ms", "timeout_ms", "nodes"}
        if unknown:
            raise ConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        vip = raw["vip"]
        return VipProbe(vip, port=int(raw.get("port", 80)), path=str(raw.get("path", "/")),
                        interval=float(raw.get("interval_ms", 50)) / 1000,
                        timeout=float(raw.get("timeout_ms", 100)) / 1000, nodes=raw.get("nodes"),
                        on_change=lambda ts, node: self.probe_changes.put((vip, ts, node)))

    def _store_probe_changes(self) -> None:
        """The probes' observations become events of the pseudo-minion `@probe`, in the same store and order."""
        events = []
        while not self.probe_changes.empty():
            vip, ts, node = self.probe_changes.get()
            self._probe_seq += 1
            answered = node or "nobody"
            events.append(Event(self._probe_seq, ts, "beacon", f"beacon/probe/{vip}/{answered}", state=answered,
                                source="probe", data={"vip": vip}))
        if events:
            new = store.insert_events(self.db, PROBE_MINION, now_ns(), events)
            self.db.commit()
            self.on_stored(new)

    # -- jobs and the control channel ---------------------------------------------------------------
    def _control(self) -> None:
        for _ in range(100):
            try:
                client, _empty, raw = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except ValueError:
                continue
            try:
                req = msgpack.unpackb(raw, raw=False)
                op = req["op"]
                reply = getattr(self, f"_op_{op}")(client, req)
            except (KeyError, TypeError, AttributeError, ValueError, msgpack.UnpackException) as exc:
                reply = {"error": f"bad control request: {exc}"}
            if reply is not None:
                self._reply(client, reply)

    def _reply(self, client: bytes, reply: dict[str, Any]) -> None:
        try:
            self.control.send_multipart([client, b"", msgpack.packb(reply, use_bin_type=True)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("control reply lost: %s", exc)

    def _op_status(self, client: bytes, req: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "started_ns": self.started_ns,
            "counters": self.counters,
            "minions": {
                m.id: {"online": now - m.last_seen < self.cfg.silent_after, "last_seen_ns": m.last_seen_ns,
                       "dropped": m.dropped, "backlog": m.backlog, "spool": m.spool or "ok"}
                for m in list(self.minions.values())  # a copy: the metrics thread reads this too
            },
        }

    def _op_run(self, client: bytes, req: dict[str, Any]) -> None:
        self.jobs.start(req["targets"], float(req.get("timeout_s", 60)), bool(req.get("test")), client)
        return None  # answered when complete or timed out


    # -- timers and the loop ------------------------------------------------------------------------
    def _timers(self, now: float) -> None:
        if now - self._last_tick >= 0.5:  # time-based incidents: node silent, no master, flapping calmed
            seen = {**self.heard_before, **{m.id: m.last_seen_ns for m in self.minions.values()}}
            self._incidents(self.correlator.tick(now_ns(), seen))
            self._last_tick = now
        if now - self._accepted_checked > 1.0:
            self.accepted = self.keyring.accepted_ids()
            self._accepted_checked = now
        self.jobs.expire(now)
        if now - self._last_flush > 2.0:  # last_seen for `hamaster status` when the daemon is down
            self.db.executemany("UPDATE minions SET last_seen_ns = ?, dropped = ? WHERE id = ?",
                                [(m.last_seen_ns, m.dropped, m.id) for m in sorted(self.minions.values(),
                                                                                  key=lambda m: m.id)])
            self.db.commit()
            self._last_flush = now

    def run(self) -> None:
        log.info("hamaster master listening on %s (control %s, store %s)", self.cfg.bind, self.cfg.control,
                 store.describe(self.cfg.store))
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        try:
            self.notifier.start()
            if self.cfg.metrics_listen:
                from hamaster.master.intake.metrics import serve

                self.metrics = serve(self.cfg.metrics_listen, self.cfg.store, lambda: self._op_status(b"", {}),
                                     str(self.cfg.path))
            for probe in self.probes:
                probe.start()
            while self.running:
                ready = dict(poller.poll(timeout=100))
                if self.router in ready:
                    self._drain()
                if self.control in ready:
                    self._control()
                self._store_probe_changes()
                self._timers(time.monotonic())
        finally:
            self.close()

    def stop(self, *_: Any) -> None:
        self.running = False

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.shutdown()
            self.metrics.server_close()
        for probe in self.probes:
            probe.stop()
        self.notifier.stop()
        self.router.close(linger=0)
        self.control.close(linger=0)
        self.auth.stop()
        self.ctx.term()
        self.db.close()
        log.info("hamaster master stopped")


def run(cfg: MasterConfig) -> None:
    daemon = MasterDaemon(cfg)
    signal.signal(signal.SIGTERM, daemon.stop)
    signal.signal(signal.SIGINT, daemon.stop)
    daemon.run()
