"""`hamaster master`: the master daemon, assembled from parts with one job each.

One loop in one thread owns the sockets and the store's write connection:

    intake.py    minion frames --validate--> batch --store, commit--> ack --> correlator --> notifier
    control.py   the CLI's control socket: status, jobs on minions (jobs.py keeps their books)
    probes.py    the master's own VIP probes, stored as events of `@probe`
    timers.py    time-based incidents, key changes, job deadlines, liveness for `status`
    guard.py     the fd limit raised, connections without an accepted key bounded, handshakes counted
    storehealth.py  a full disk stops acking (minions keep their events) and resumes by itself

The ZAP thread (pyzmq's authenticator, see keys.py) admits accepted keys only; the notifier delivers in its
own thread, so a slow chat service never holds up intake. Every part is started under one ExitStack: a
start that fails half-way (a port in use, a bad key) closes what was already open, in reverse order, and
leaves no thread behind; the caller prints the ConfigError as one line.
"""

import functools
import logging
import os
import signal
import time
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import zmq

from hamaster.core.config import MasterConfig
from hamaster.core.errors import ConfigError
from hamaster.core.events import StoredEvent
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.intake.control import ControlServer
from hamaster.master.intake.guard import ConnectionGuard, raise_fd_limit, unauthenticated_bound
from hamaster.master.intake.intake import Intake
from hamaster.master.intake.jobs import JobBook
from hamaster.master.intake.keys import KeyRing, MinionAuthenticator, master_certificate
from hamaster.master.intake.probes import PROBE_MINION, ProbeBridge
from hamaster.master.intake.refusals import Refusals
from hamaster.master.intake.storehealth import StoreHealth
from hamaster.master.intake.timers import Timers
from hamaster.master.store import minions as stored_minions
from hamaster.master.store.outbox import open_outbox, take_back_claims
from hamaster.notify.notifier import Notifier

log = logging.getLogger("hamaster")

REPLAY_NS = 24 * 3600 * 10**9  # history the correlator rebuilds its picture from at start-up
__all__ = ["PROBE_MINION", "MasterDaemon", "run"]


class MasterDaemon:
    def __init__(self, cfg: MasterConfig) -> None:
        self.cfg = cfg
        self.counters = {"frames": 0, "events": 0, "duplicates": 0, "dropped": 0, "unknown_sender": 0, "incidents": 0,
                         "unacked_store_full": 0, "spool_resets": 0, "seq_conflicts": 0}
        self.refusals = Refusals()
        self.running = True
        self.started_ns = now_ns()
        self._stack = ExitStack()
        try:
            self._start(self._stack)
        except BaseException:
            self._stack.close()
            raise

    def _start(self, stack: ExitStack) -> None:
        cfg = self.cfg
        fd_limit = raise_fd_limit()
        # what only reads config and disk first: a bad section stops us before any socket or thread exists
        self.notifier = Notifier(cfg.notify, functools.partial(open_outbox, cfg.store), cfg.path, cfg.reactor)
        stack.callback(self.notifier.stop)
        self.keyring = KeyRing(cfg.pki_dir)
        master_certificate(cfg.pki_dir, cfg.path)
        if "://" not in cfg.store and not os.path.exists(cfg.store):  # SQLite gives -wal and -shm this mode too
            os.makedirs(os.path.dirname(cfg.store) or ".", exist_ok=True)
            os.close(os.open(cfg.store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
        self.db = store.connect(cfg.store)
        stack.callback(self.db.close)
        self.probes = ProbeBridge(cfg, self.db, self.on_stored)
        self.correlator = Correlator(self.db, cfg.correlator, cfg.silent_after, where=str(cfg.path),
                                     heartbeat_s=cfg.heartbeat_interval)
        self.correlator.replay(self.started_ns - REPLAY_NS)
        # minions heard before this start: one that never comes back must still go silent (a holder that died
        # while we were down would otherwise stay MASTER beside its successor: a split brain that is not one)
        heard_before = stored_minions.heard_since(self.db, self.started_ns - REPLAY_NS)

        self.ctx = zmq.Context()
        stack.callback(self.ctx.term)  # last: every socket below is closed before it
        auth = MinionAuthenticator(self.ctx, self.keyring, self.refusals.refuse)
        auth.start()
        stack.callback(auth.stop)
        self.health = StoreHealth(self.db)
        self.intake = Intake(self.ctx, cfg, self.keyring, self.db, self.counters, self.refusals, self.health,
                             self.on_stored, self.correlator.clocks)
        stack.callback(self.intake.close)
        port = urlsplit(cfg.bind).port if cfg.bind.startswith("tcp://") else None
        self.guard = ConnectionGuard(self.intake.router, port, self.refusals, unauthenticated_bound(fd_limit))
        stack.callback(self.guard.close)
        self.intake.on_spoke = self.guard.spoke
        self.intake.on_keys, self.intake.on_revoked = self.guard.revoke, self.guard.revoked_frame
        self._closed: list[tuple[str, int]] = []  # (key, when) of minions' connections closed by their peer
        self.guard.on_closed = lambda key, at_ns: self._closed.append((key, at_ns))
        log.info("open files: limit %d, at most %d connections without an accepted key", fd_limit,
                 self.guard.bound)
        self.control = ControlServer(self.ctx, cfg.control, str(cfg.path))
        stack.callback(self.control.close)
        self.jobs = JobBook(self.db, self.intake.send, self.control.reply)
        self.intake.on_job_result = self.jobs.result
        self.control.ops = {"status": lambda client, req: self.status(), "run": self._op_run}
        self.timers = Timers(self.db, self.intake, self.correlator, self.jobs, heard_before, self._incidents)

        taken = take_back_claims(self.db)  # before the notifier runs: no claim of this run exists yet
        if taken:
            log.info("%d deliveries left sending by the previous run are pending again", taken)
        self.notifier.start()
        if cfg.metrics_listen:
            from hamaster.master.intake.metrics import serve

            try:
                metrics = serve(cfg.metrics_listen, cfg.store, self.status, str(cfg.path))
            except OSError as exc:
                raise ConfigError(f"{cfg.path}: metrics: cannot listen on {cfg.metrics_listen}: {exc}") from None
            stack.callback(metrics.server_close)
            stack.callback(metrics.shutdown)
        self.probes.start()
        stack.callback(self.probes.stop)

    @property
    def minions(self) -> dict[str, Any]:
        return self.intake.minions

    def on_stored(self, events: list[StoredEvent]) -> None:
        """New events are committed: derive incidents, alert on them, run reactor rules."""
        self._incidents(self.correlator.feed(events))
        self.jobs.react(events, self.notifier.reactor, self.cfg)

    def _incidents(self, ids: list[int]) -> None:
        if ids:
            self.counters["incidents"] += len(ids)
            self.notifier.submit(ids)

    def _connections_closed(self) -> None:
        """A minion's connection read EOF: a witness of its process's death for the correlator. After intake's
        drain: a frame that came before the EOF in the same turn is taken first, so the close is never dated
        before the last thing the node said."""
        accepted = self.keyring.accepted_keys()
        for key, at_ns in self._closed:
            minion = accepted.get(key)
            if minion is None:
                continue
            seen = self.intake.minions.get(minion)
            at_ns = max(at_ns, seen.last_seen_ns) if seen is not None else at_ns
            log.info("minion %s closed its connection (its process ended or died)", minion)
            self.correlator.connection_closed(minion, at_ns)
        self._closed.clear()

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "started_ns": self.started_ns,
            "counters": self.counters,
            "refused": self.refusals.snapshot(),
            "store": self.health.status(),
            "minions": {
                m.id: {"online": now - m.last_seen < self.cfg.silent_after, "last_seen_ns": m.last_seen_ns,
                       "dropped": m.dropped, "backlog": m.backlog, "reconcile_skipped": m.reconcile_skipped,
                       "spool": m.spool or "ok"}
                for m in list(self.intake.minions.values())  # a copy: the metrics thread reads this too
            },
        }

    def _op_run(self, client: bytes, req: dict[str, Any]) -> dict[str, Any] | None:
        jid = self.health.write("jobs", lambda: self.jobs.start(req["targets"], float(req.get("timeout_s", 60)),
                                                                bool(req.get("test")), client,
                                                                bool(req.get("record", True))))
        if jid is None:
            return {"error": f"the store is full ({self.health.error}): no job can be recorded"}
        return None  # answered when complete or timed out

    def run(self) -> None:
        log.info("hamaster master listening on %s (control %s, store %s)", self.cfg.bind, self.cfg.control,
                 store.describe(self.cfg.store))
        poller = zmq.Poller()
        poller.register(self.intake.router, zmq.POLLIN)
        poller.register(self.control.socket, zmq.POLLIN)
        poller.register(self.guard.monitor, zmq.POLLIN)
        try:
            while self.running:
                ready = dict(poller.poll(timeout=100))
                if self.guard.monitor in ready:  # before intake: shed unauthenticated connections first
                    self.guard.serve()
                if self.intake.router in ready:
                    self.intake.drain()
                if self._closed:
                    self._connections_closed()
                if self.control.socket in ready:
                    self.control.serve()
                if not self.health.full:
                    self.health.write("probes", self.probes.store_changes)
                self.timers.run_due(time.monotonic())
                self.intake.check_keys()  # a key rejected a moment ago: its open connections close now
        finally:
            self.close()

    def stop(self, *_: Any) -> None:
        self.running = False

    def close(self) -> None:
        self._stack.close()
        log.info("hamaster master stopped")


def run(cfg: MasterConfig) -> None:
    daemon = MasterDaemon(cfg)
    signal.signal(signal.SIGTERM, daemon.stop)
    signal.signal(signal.SIGINT, daemon.stop)
    daemon.run()
