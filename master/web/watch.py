"""The watcher: one thread that follows the store (and the master's control socket) and keeps the status
document current, so a request or an open page never waits for the store.

Every POLL_S it folds in the events stored since its last look and reads the incidents' marks; when either
moved, or every LIVE_S (who is online changes with no event), it rebuilds the document, and when the
document changed it bumps `version`, renders the page's status section once, and wakes every open page
(server-sent events, app.py). A slow browser costs its own queue only.
"""

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from hamaster.core.config import MasterConfig
from hamaster.core.errors import StoreError
from hamaster.core.timeutil import now_ns
from hamaster.master import store
from hamaster.master.store import dashboard
from hamaster.master.web import live, status
from hamaster.master.web.state import SiteState

log = logging.getLogger("hamaster.web")

POLL_S = 0.1  # a transition reaches the open page within this, plus the render and the network
LIVE_S = 1.0  # the control socket's word (online, counters) at most this old
RECENT_NS = 3600 * 10**9  # incidents of the last hour are listed under the open ones


class Watcher:
    def __init__(self, cfg: MasterConfig, render: Callable[[dict[str, Any]], str]) -> None:
        self.cfg, self.render = cfg, render
        self.version = 0
        self.doc: dict[str, Any] | None = None
        self.fragment = ""
        self.error: str | None = None  # why there is no document (no store yet ...)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hamaster-web-watch", daemon=True)
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[int]]] = set()
        self._lock = threading.Lock()
        self._encoded: tuple[dict[str, Any] | None, bytes] | None = None
        self._event: tuple[int, str] | None = None

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait_first(self, timeout: float) -> bool:
        """Wait until the first document is there (True) or `timeout` passed."""
        with self._changed:
            return self._changed.wait_for(lambda: self.doc is not None, timeout)

    def encoded(self) -> bytes:
        """The document as JSON, encoded once (at 1,000 minions that is most of an answer's time)."""
        doc = self.doc
        cached = self._encoded
        if cached is None or cached[0] is not doc:
            cached = self._encoded = (doc, json.dumps(doc, separators=(",", ":")).encode())
        return cached[1]

    def event(self) -> tuple[int, str]:
        """(version, the server-sent event that carries it): encoded once per version for every open page."""
        version, fragment = self.version, self.fragment
        cached = self._event
        if cached is None or cached[0] != version:
            data = json.dumps({"version": version, "html": fragment})
            cached = self._event = (version, f"event: status\ndata: {data}\n\n")
        return cached

    # -- open pages ------------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[int]) -> None:
        with self._lock:
            self._subscribers = {(lp, q) for lp, q in self._subscribers if q is not queue}

    def _publish(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(_offer, queue, self.version)

    # -- the loop --------------------------------------------------------------------------------------
    def _run(self) -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        conn: store.Connection | None = None
        site: SiteState | None = None
        marks: tuple[int, int] | None = None
        live_at = 0.0
        word = live.DOWN
        try:
            while not self._stop.is_set():
                try:
                    if conn is None:
                        conn = store.connect(self.cfg.store, readonly=True)
                        site = SiteState.load(conn)
                        marks = None
                    assert site is not None
                    moved = site.refresh(conn)
                    new_marks = dashboard.incident_marks(conn)
                    moved = moved or new_marks != marks
                    marks = new_marks
                    if time.monotonic() - live_at >= LIVE_S:
                        word, live_at, moved = live.ask_status(self.cfg.control, ctx), time.monotonic(), True
                    if moved or self.doc is None:
                        now = now_ns()
                        doc = status.build(site, self.cfg, word, dashboard.liveness(conn),
                                           dashboard.incidents_shown(conn, now - RECENT_NS, status.OPEN_KINDS), now)
                        conn.commit()  # end the read transaction: the next look sees new commits
                        self._offer_doc(doc)
                    else:
                        conn.commit()
                    self.error = None
                except StoreError as exc:
                    self.error = str(exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    self._stop.wait(1.0)
                    continue
                self._stop.wait(POLL_S)
        finally:
            if conn is not None:
                conn.close()
            ctx.destroy(linger=0)

    def _offer_doc(self, doc: dict[str, Any]) -> None:
        """A new version (rendered, pushed) only when what the page shows changed: a heartbeat moves each
        minion's last_seen twice a second, and that alone re-renders nothing (the API still gets it)."""
        if self.doc is not None and _shown(self.doc) == _shown(doc):
            with self._changed:
                self.doc = {**doc, "generated_ns": self.doc["generated_ns"]}  # when the page last changed
            return
        fragment = self.render(doc)
        with self._changed:
            self.doc, self.fragment = doc, fragment
            self.version += 1
            self._changed.notify_all()
        self._publish()


def _shown(doc: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a document: all but when it was made, the minions' last_seen and the counters."""
    minions = {m: {k: v for k, v in info.items() if k not in ("last_seen", "last_seen_ns")}
               for m, info in doc["minions"].items()}
    return {**doc, "generated_ns": 0, "counters": {}, "minions": minions}


def _offer(queue: "asyncio.Queue[int]", version: int) -> None:
    """Keep only the newest version in a page's queue: a page that lags skips to the latest."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(version)
