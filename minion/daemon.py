"""`haminion run`: the node's daemon.

One loop, one thread for ZeroMQ: it moves events from their sources (the hook's inbox, keepalived's FIFO,
beacons, reconciliation) into the durable spool, streams the spool to every master in seq order, drops
what each master acked, answers heartbeats and runs jobs (in a worker thread). Sources in other threads
hand their events over through a queue and wake the loop by writing to the wake FIFO that the hook also
writes to.

Delivery is at-least-once: an unacked batch is sent again after `master_timeout` or a reconnect; the
master's store is unique on (minion, seq), so resends cost nothing but bandwidth.

A full disk under the spool stops nothing but the spool's growth: what was spooled is still streamed and
acked, new events wait (FIFO transitions in the hook's fallback spool, others in memory) and are spooled
when there is room again, every ping says "disk full" to the masters meanwhile, and a `minion/spool/full`
event records the episode afterwards. The hook's fallback spool is taken in on every wake and every second.
"""

import errno
import logging
import os
import queue
import random
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from hamaster.core import protocol
from hamaster.core.config import MinionConfig
from hamaster.core.errors import ConfigError, ProtocolError
from hamaster.minion import hook
from hamaster.minion.beacons import Beacons
from hamaster.minion.confwatch import ConfigWatch
from hamaster.minion.fifo import FifoReader
from hamaster.minion.spool import WAKE, NewEvent, Spool

log = logging.getLogger("haminion")

BATCH = 1000
WINDOW = 20_000  # events in flight per master before we wait for acks
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
RETRY_S = 1.0  # how often a full spool is tried again, and the hook's fallback spool looked at
SPOOL_FULL = "minion/spool/full"


def disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL or the OS's ENOSPC/EDQUOT: wait for room, never die of it."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def poll_timeout_ms(heartbeat_interval: float) -> int:
    """How long the loop may sleep: 200 ms, or less when heartbeats are due more often (the master dates a dead
    node's departure by its last heartbeat, so a late beat is an error in every failover gap it derives)."""
    return max(1, min(200, int(heartbeat_interval * 1000)))


@dataclass
class Uplink:
    """One master: its socket and where we are in streaming the spool to it."""

    index: int
    address: str
    sock: zmq.Socket | None = None
    cursor: int = 0  # highest seq sent on this connection
    inflight: int = 0
    last_rx: float = 0.0
    last_tx_ping: float = 0.0
    last_ack: float = 0.0
    hello_sent: bool = False
    next_connect: float = 0.0
    backoff: float = BACKOFF_MIN
    pending_results: list[bytes] = field(default_factory=list)
    ntp: list[int] | None = None  # the last heartbeat's [t1, t2, t3, t4], sent with the next ping (clock offset)


class MinionDaemon:
    def __init__(self, cfg: MinionConfig) -> None:
        self.cfg = cfg
        self.fallback = Path(hook.fallback_dir(str(cfg.path)))
        self._untrusted_logged = False
        self.spool = self._open_spool()
        self.held: list[NewEvent] = []  # events that wait for room in the spool
        self.spool_full: tuple[int, str] | None = None  # (since ns, why) while the spool's disk is full
        self._last_retry = 0.0
        self.ctx = zmq.Context()
        public, secret = _load_keys(cfg)
        self.public_key, self.secret_key = public, secret
        self.uplinks = [Uplink(i, addr) for i, addr in enumerate(cfg.masters)]
        self.inbox: queue.Queue[NewEvent] = queue.Queue()  # from beacon/reconcile/job threads
        self.results: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self.jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        self.stopping = threading.Event()
        wake = cfg.spool_dir / WAKE
        if not wake.exists():
            os.mkfifo(wake, 0o622)  # the hook (maybe another user, run by keepalived) writes a byte to wake us
        self.wake_fd = os.open(wake, os.O_RDWR | os.O_NONBLOCK)
        self.fifo = FifoReader(cfg.fifo) if cfg.fifo else None
        self.grains: dict[str, Any] = {}
        self.dropped = 0
        self.beacons = Beacons(cfg, self.submit) if cfg.beacons.get("enabled", True) else None
        self.confwatch = ConfigWatch(cfg.keepalived_conf, float(cfg.beacons.get("interval", 1.0)))
        self.spool.describe = self._describe

    def _open_spool(self) -> Spool:
        """The spool; on a full disk, wait for room (the hook's events go to its fallback spool meanwhile)."""
        while True:
            try:
                return Spool(self.cfg.spool_dir, n_masters=len(self.cfg.masters))
            except (sqlite3.Error, OSError) as exc:
                if not disk_full(exc):
                    raise
                log.error("spool %s: disk full (%s); waiting for room, hook events go to %s", self.cfg.spool_dir,
                          exc, self.fallback)
                time.sleep(2 * RETRY_S)

    def _check_hook_reads_our_spool(self) -> None:
        try:
            hook_dir = hook.spool_dir_of(str(self.cfg.path))
        except (OSError, ValueError) as exc:
            log.warning("the hook cannot read spool_dir: %s; its events go to %s, taken in from there", exc,
                        self.fallback)
            return
        if os.path.realpath(hook_dir) != os.path.realpath(self.cfg.spool_dir):
            log.warning("the hook reads spool_dir as %s, the daemon as %s: fix minion.yaml (haminion doctor)",
                        hook_dir, self.cfg.spool_dir)

    # -- sources ------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Callable from any thread: make the loop look at its queues now."""
        try:
            os.write(self.wake_fd, b"\n")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def submit(self, event: NewEvent) -> None:
        """Hand an event from another thread (beacons, reconciliation) to the spool."""
        self.inbox.put(event)
        self.wake()

    def _ingest(self) -> None:
        try:
            while os.read(self.wake_fd, 4096):
                pass
        except BlockingIOError:
            pass
        new, self.held = self.held, []
        while True:
            try:
                new.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        bad: list[str] = []
        if self.fifo is not None:
            events, bad = self.fifo.read(time.time_ns())
            new.extend(events)
        try:
            seqs, bad_inbox = self.spool.ingest_inbox()
            kept, bad_kept = (self.spool.ingest_inbox(self.fallback / "inbox", origin_prefix="fallback/")
                              if self._fallback_trusted() else ([], []))
            if kept:
                log.warning("%d hook event(s) taken in from the fallback spool %s (each says why it was there)",
                            len(kept), self.fallback)
            seqs += kept + (self.spool.add(new) if new else [])
            bad += bad_inbox + bad_kept
        except (sqlite3.Error, OSError) as exc:
            if not disk_full(exc):
                raise
            self._hold(new, exc)
        else:
            if self.spool_full is not None:
                self._room_again()
            self._after_ingest(seqs)
        for complaint in bad:
            self.dropped += 1
            log.warning("dropped: %s", complaint)

    def _after_ingest(self, seqs: list[int]) -> None:
        if self.spool.hooks_raced:  # without the FIFO, only keepalived itself can say which came last
            self.spool.hooks_raced = False
            if self.beacons is not None:
                self.beacons.reconcile_now.set()
        if seqs:
            log.debug("spooled seq %d..%d", min(seqs), max(seqs))

    def reconcile_skipped(self) -> int:
        """keepalived dumps not used: not provably this node's keepalived's (beacons), or older than the last
        transition recorded (spool). Reported with every heartbeat; `hamaster status` shows it."""
        return self.spool.stale_dumps + (self.beacons.skipped_total if self.beacons is not None else 0)

    def _hold(self, events: list[NewEvent], exc: BaseException) -> None:
        """The spool's disk is full: FIFO transitions go where the hook's go, the rest waits in memory."""
        for i, ev in enumerate(events):
            if ev.kind == "vrrp" and ev.source == "fifo" and ev.instance and ev.state:
                fields = [ev.data.get("type", "INSTANCE"), ev.instance, ev.state,
                          "-" if ev.priority is None else str(ev.priority)]
                try:
                    hook.write_event(str(self.fallback), fields, ev.node_ns, "fifo", ("fallback=spool disk full",),
                                     unique=f"-{time.monotonic_ns()}-{i}")
                    continue
                except OSError:
                    pass
            self.held.append(ev)
        if self.spool_full is None:
            self.spool_full = (time.time_ns(), str(exc))
            log.error("spool %s: disk full (%s): keeping what is spooled, holding new events (%d in memory),"
                      " hook events go to %s; trying again every %.0f s", self.cfg.spool_dir, exc, len(self.held),
                      self.fallback, RETRY_S)

    def _room_again(self) -> None:
        assert self.spool_full is not None
        since, why = self.spool_full
        self.spool_full = None
        until = time.time_ns()
        log.warning("spool %s has room again after %.1f s of a full disk", self.cfg.spool_dir, (until - since) / 1e9)
        self.submit(NewEvent(since, "minion", SPOOL_FULL, source="minion",
                             data={"until_ns": until, "why": why, "spool_dir": str(self.cfg.spool_dir)}))

    # -- uplinks ------------------------------------------------------------------------------------
    def _connect(self, up: Uplink, now: float) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # no queueing towards a master we are not connected to
        sock.setsockopt(zmq.RECONNECT_IVL, 200)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME)
        sock.setsockopt(zmq.SNDHWM, 100)
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_serverkey = self.cfg.master_key.encode()
        sock.connect(up.address)
        up.sock, up.cursor, up.inflight, up.hello_sent = sock, 0, 0, False
        up.last_rx = up.last_ack = now
        up.last_tx_ping = 0.0
        log.info("connecting to master %s", up.address)
        if self.beacons is not None:  # whatever happened while we were away, keepalived knows
            self.beacons.reconcile_now.set()

    def _drop(self, up: Uplink, now: float, why: str) -> None:
        if up.sock is not None:
            up.sock.close(linger=0)
            up.sock = None
        # exponential backoff with jitter: a master restart must not meet all minions at the same instant
        up.next_connect = now + up.backoff * random.uniform(0.5, 1.5)
        up.backoff = min(up.backoff * 2, BACKOFF_MAX)
        log.warning("master %s: %s; reconnecting in %.1f s", up.address, why, up.next_connect - now)

    def _send(self, up: Uplink, frame: bytes) -> bool:
        if up.sock is None:
            return False
        try:
            up.sock.send(frame, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def _pump(self, up: Uplink) -> None:
        """Say hello once connected, then send the next batches of the spool that this master has not acked."""
        if not up.hello_sent:
            hello = protocol.encode("hello", grains=self.grains, backlog=self.spool.backlog())
            if not self._send(up, hello):
                return
            up.hello_sent = True
        while up.inflight < WINDOW:
            events = list(self.spool.unacked(up.index, after_seq=up.cursor, limit=BATCH))
            if not events:
                return
            if not self._send(up, protocol.encode("events", events=[e.to_wire() for e in events])):
                return
            up.cursor = events[-1].seq
            up.inflight += len(events)

    def _on_frame(self, up: Uplink, frame: bytes, now: float) -> None:
        try:
            msg = protocol.decode(frame)
        except ProtocolError as exc:
            self.dropped += 1
            log.warning("dropped frame from master %s: %s", up.address, exc)
            return
        up.last_rx = now
        up.backoff = BACKOFF_MIN
        kind = msg["t"]
        if kind == "ack":
            ranges = [r for r in msg["seqs"] if isinstance(r, list) and len(r) == 2]
            try:
                self.spool.ack(up.index, ranges)
            except (sqlite3.Error, OSError) as exc:  # not recorded: the master absorbs the resend
                if not disk_full(exc):
                    raise
            up.inflight = max(0, up.inflight - sum(hi - lo + 1 for lo, hi in ranges))
            up.last_ack = now
        elif kind == "job":
            self.jobs.submit(self._run_job, up.index, msg["jid"], msg["job"])
        elif kind == "pong":
            t4 = time.time_ns()
            if isinstance(msg.get("rx"), int) and isinstance(msg.get("tx"), int):
                up.ntp = [msg["ts"], msg["rx"], msg["tx"], t4]
        else:
            log.debug("ignoring %s from master", kind)

    def _run_job(self, index: int, jid: str, job: dict[str, Any]) -> None:
        from hamaster.minion.executor import (
            run_job,  # imported on first job: jinja2 & co stay out of start-up
        )

        try:
            result = run_job(job, self.cfg)
        except Exception as exc:  # a bug in a state module must still answer the master
            log.exception("job %s failed", jid)
            result = {"error": f"{type(exc).__name__}: {exc}",
                      "summary": {"succeeded": 0, "changed": 0, "failed": 1, "duration_ms": 0}}
        self.results.put((index, protocol.encode("job_result", jid=jid, result=result)))
        self.wake()

    def _look_at_config(self, now: float, hurry: bool = False) -> None:
        described = self.confwatch.poll(now, hurry)
        if described is not None:
            if self.beacons is not None:
                self.beacons.config_vips = self.confwatch.vip_instance  # one reference swapped: thread-safe
            self.submit(described)

    def _describe(self, instance: str) -> dict[str, Any] | None:
        """What keepalived.conf says of `instance`, for its vrrp events (spool.describe): read again first if
        the file changed (one stat per transition)."""
        self._look_at_config(time.monotonic(), hurry=True)
        return self.confwatch.describe.get(instance)

    def _fallback_trusted(self) -> bool:
        """A user's own fallback folder (not root's /run) is read only while it is private to the user: in
        /dev/shm someone else could have made it, and filled it with events."""
        private = hook.private_root()
        if private is None or not os.path.lexists(private):
            return True
        try:
            hook.check_private(private)
            return True
        except OSError as exc:
            if not self._untrusted_logged:
                log.error("the hook's fallback spool is not read: %s", exc)
                self._untrusted_logged = True
            return False

    def _timers(self, now: float) -> None:
        self._look_at_config(now)
        if now - self._last_retry >= RETRY_S:  # a full spool, or hook events waiting in the fallback spool
            self._last_retry = now
            if self.spool_full is not None or (self.fallback / "inbox").is_dir():
                self._ingest()
        for up in self.uplinks:
            if up.sock is None:
                if now >= up.next_connect:
                    self._connect(up, now)
                continue
            if now - up.last_rx > self.cfg.master_timeout:
                self._drop(up, now, f"silent for {now - up.last_rx:.1f} s")
                continue
            if up.inflight and now - up.last_ack > self.cfg.master_timeout / 2:
                up.cursor, up.inflight, up.last_ack = 0, 0, now  # acks lost: send the unacked again
            if now - up.last_tx_ping >= self.cfg.heartbeat_interval:
                ntp = {"ntp": up.ntp} if up.ntp else {}
                full = {"spool": "disk full"} if self.spool_full is not None else {}
                self._send(up, protocol.encode("ping", ts=time.time_ns(), reconcile_skipped=self.reconcile_skipped(),
                                               **ntp, **full))
                up.last_tx_ping = now

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        from hamaster.minion import grains

        # the spool's identity in every hello: the master tells a reset spool from the old one by it
        self.grains = {**grains.collect(self.cfg.id), "spool": self.spool.identity}
        log.info("haminion %s started: spool %s, backlog %d, masters %s", self.cfg.id, self.cfg.spool_dir,
                 self.spool.backlog(), ", ".join(self.cfg.masters))
        self._check_hook_reads_our_spool()
        self._ingest()
        if self.beacons is not None:
            self.beacons.start()
        poller = zmq.Poller()
        poller.register(self.wake_fd, zmq.POLLIN)
        if self.fifo is not None:
            poller.register(self.fifo.fd, zmq.POLLIN)
        registered: dict[int, zmq.Socket] = {}
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                self._timers(now)
                for up in self.uplinks:  # keep the poller in step with sockets made or dropped by the timers
                    if registered.get(up.index) is not up.sock:
                        if up.index in registered:
                            poller.unregister(registered.pop(up.index))
                        if up.sock is not None:
                            poller.register(up.sock, zmq.POLLIN)
                            registered[up.index] = up.sock
                ready = dict(poller.poll(timeout=poll_timeout_ms(self.cfg.heartbeat_interval)))
                now = time.monotonic()
                if self.wake_fd in ready or (self.fifo and self.fifo.fd in ready) or not self.inbox.empty():
                    self._ingest()
                while not self.results.empty():
                    index, frame = self.results.get_nowait()
                    self.uplinks[index].pending_results.append(frame)
                for up in self.uplinks:
                    if up.sock is not None and up.sock in ready:
                        for _ in range(1000):
                            try:
                                frame = up.sock.recv(zmq.NOBLOCK)
                            except zmq.Again:
                                break
                            self._on_frame(up, frame, now)
                    while up.pending_results and self._send(up, up.pending_results[0]):
                        up.pending_results.pop(0)
                    self._pump(up)
        finally:
            self.close()

    def stop(self, *_: Any) -> None:
        self.stopping.set()
        self.wake()

    def close(self) -> None:
        if self.beacons is not None:
            self.beacons.stop()
            self.beacons.join(timeout=5)
        self.jobs.shutdown(wait=False, cancel_futures=True)
        for up in self.uplinks:
            if up.sock is not None:
                up.sock.close(linger=0)
        self.ctx.term()
        if self.fifo is not None:
            self.fifo.close()
        os.close(self.wake_fd)
        self.spool.close()
        log.info("haminion %s stopped", self.cfg.id)


def _load_keys(cfg: MinionConfig) -> tuple[bytes, bytes]:
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(cfg.secret_key_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cfg.path}: field 'key': cannot read {cfg.secret_key_file}: {exc}") from None
    if secret is None:
        raise ConfigError(f"{cfg.path}: field 'key': {cfg.secret_key_file} holds no secret key")
    return public, secret


def run(cfg: MinionConfig) -> None:
    daemon = MinionDaemon(cfg)
    signal.signal(signal.SIGTERM, daemon.stop)
    signal.signal(signal.SIGINT, daemon.stop)
    daemon.run()
