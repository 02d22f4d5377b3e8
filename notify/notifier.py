"""The Notifier: routes incidents into the outbox and delivers them, in its own thread, never in intake's way.

    daemon: Notifier(cfg.notify, open_store, cfg.path, cfg.reactor)  raises ConfigError on a bad section
            .start()                  routes what a previous run committed but never routed, resumes retries
            .submit([incident ids])   non-blocking: a queue put
            .stop()

The worker thread opens its own connection to the store: `open_store()` gives an OutboxStore (outbox.py),
which the master makes on its store (hamaster.master.store.outbox.open_outbox): notify imports no master.
Each delivery is sent for one target at a time, in a
small pool, so a target that hangs holds up only itself, after the target's token bucket allows it.
DingTalk, WeCom, Feishu/Lark and mail go through our senders (services/), which judge the reply: a
permanent refusal fails the delivery at once, a transient one is retried. Other URLs go through apprise,
which answers True/False and says why in its log, caught per thread. Reasons are stored with the attempt,
scrubbed of the URL's secrets.
"""

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import apprise

from hamaster.core.errors import StoreError
from hamaster.core.timeutil import now_ns
from hamaster.notify import config, services
from hamaster.notify.config import Target
from hamaster.notify.outbox import Due, Outbox, OutboxStore
from hamaster.notify.reactor import Reactor
from hamaster.notify.render import Renderer
from hamaster.notify.services import Outcome

log = logging.getLogger("hamaster.notify")
SENDERS = 4
REROUTE_MAX_AGE_S = 3600  # unrouted incidents older than this at start are history, not news
NOTIFY_TYPES = {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING,
                "info": apprise.NotifyType.INFO}


class TargetSender(logging.Handler):
    """Collects apprise's warnings and errors per thread: its notify() only answers True or False."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        buf = getattr(self.local, "buf", None)
        if buf is not None:
            buf.append(record.getMessage())

    def send(self, target: Target, title: str, body: str, severity: str) -> tuple[bool, str | None]:
        """-> (delivered, reason): for `hamaster notify test`."""
        out = self.attempt(target, title, body, severity)
        return out.ok, out.reason

    def attempt(self, target: Target, title: str, body: str, severity: str) -> Outcome:
        """One try: delivered, retry (after the service's block, if it said one) or give up; the reason is
        scrubbed of the target's secrets."""
        target.bucket.wait()
        if isinstance(target.plugin, services.OWN):
            try:
                out = target.plugin.send(title, body, severity)
            except Exception as exc:  # a bug in our sender costs one attempt, not the worker
                return Outcome.retry(target.scrub(f"{type(exc).__name__}: {exc}")[:500])
            return replace(out, error=target.scrub(out.error)[:500]) if out.error else out
        notify_type = NOTIFY_TYPES.get(severity, apprise.NotifyType.INFO)
        self.local.buf = []
        try:
            ok = bool(target.plugin.notify(body=body, title=title, notify_type=notify_type))
        except Exception as exc:  # a plugin bug must cost one attempt, not the worker
            ok, self.local.buf = False, [*self.local.buf, f"{type(exc).__name__}: {exc}"]
        finally:
            errors, self.local.buf = self.local.buf, None
        if ok:
            return Outcome(True)
        return Outcome.retry(target.scrub("; ".join(errors)[:500] or "apprise reported a failure"))


class Notifier:
    def __init__(self, settings: dict[str, Any], open_store: Callable[[], OutboxStore], config_path: Path,
                 reactor: list[Any] | None = None) -> None:
        where = str(config_path)
        self.cfg = config.load(settings or {}, where, Path(config_path).parent)
        self.renderer = Renderer(self.cfg.templates, where, self.cfg.language, self.cfg.timezone)
        self.reactor = Reactor(reactor or [], {r.name for r in self.cfg.routes}, where)
        self.open_store = open_store
        self._submitted: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
        self._held: dict[int, int] = {}  # incident id -> when to route it (see Outbox.hold_until)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors = TargetSender()
        # a target has one delivery in flight at a time, and may wait for its token bucket: a thread per
        # target, so one target's storm never holds up another's alerts
        self._pool = ThreadPoolExecutor(max(SENDERS, len(self.cfg.targets)), thread_name_prefix="notify-send")
        for t in self.cfg.targets:
            log.info("notify target %s: %s (tags %s)", t.name, t.masked, ", ".join(sorted(t.tags)) or "-")

    def start(self) -> None:
        logging.getLogger("apprise").addHandler(self._errors)
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def submit(self, incident_ids: list[int]) -> None:
        if incident_ids:
            self._submitted.put(list(incident_ids))
            self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        # a sender stuck in a hung service is abandoned (its delivery stays pending for the next start)
        self._pool.shutdown(wait=False, cancel_futures=True)
        logging.getLogger("apprise").removeHandler(self._errors)

    # -- the worker thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        db = self.open_store()
        try:
            outbox = Outbox(db, self.cfg, self.renderer, self.reactor)
            leftovers = outbox.unrouted(now_ns() - REROUTE_MAX_AGE_S * 1_000_000_000)
            if leftovers:
                log.info("routing %d incidents left unrouted by the previous run", len(leftovers))
                self._submitted.put(leftovers)
            busy: set[int] = set()
            while not self._stopping.is_set():
                try:
                    self._round(outbox, busy)
                except StoreError as exc:  # store busy or broken: log, wait, try again
                    log.error("notify: store error: %s", exc)
                    self._stopping.wait(1.0)
                next_ns = min(filter(None, [outbox.next_due_ns(), *self._held.values()]), default=None)
                wait = 1.0 if next_ns is None else min(1.0, max(0.0, (next_ns - now_ns()) / 1e9))
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            db.close()

    def _round(self, outbox: Outbox, busy: set[int]) -> None:
        while True:
            try:
                ids = self._submitted.get_nowait()
            except queue.Empty:
                break
            for incident_id in ids:
                inc = outbox.db.incident(incident_id)
                until = outbox.hold_until(inc, now_ns()) if inc is not None else None
                if until is None:
                    outbox.route(incident_id, now_ns())
                else:
                    self._held[incident_id] = until
        for incident_id, until in list(self._held.items()):
            if until <= now_ns():
                del self._held[incident_id]
                outbox.route(incident_id, now_ns())
        while True:
            try:
                delivery_id, out = self._results.get_nowait()
            except queue.Empty:
                break
            busy.discard(delivery_id)
            status = outbox.record(delivery_id, out.ok, out.reason, now_ns(), final=out.final,
                                   after_s=out.retry_after_s)
            if status == "failed":  # given up: nobody got this alert on this target, say it loudly
                log.error("delivery %d failed for good: %s", delivery_id, out.reason)
            elif not out.ok:
                log.warning("delivery %d: %s (will retry)", delivery_id, out.reason)
        for due in outbox.due(now_ns(), busy):
            busy.add(due.id)
            self._pool.submit(self._send, due).add_done_callback(self._done)

    def _send(self, due: Due) -> tuple[int, Outcome]:
        return due.id, self._errors.attempt(due.target, due.title, due.body, due.severity)

    def _done(self, fut: Future[tuple[int, Outcome]]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._results.put(fut.result())
            self._wake.set()
