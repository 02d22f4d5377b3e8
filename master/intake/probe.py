"""Ground truth for VIP ownership: ask `http://VIP/` every few tens of ms and note which node answered.

VRRP's own account (notify scripts, the correlator) says who *claims* the VIP; users only see who *answers*.
The probe is a master-side beacon for production as much as for the lab. Each request uses a fresh connection
(a kept-alive one would stay with the old holder) and a short timeout: while nobody holds the VIP, a connect
gets no ARP answer and would otherwise hang.

    probe = VipProbe("10.0.0.100", on_change=lambda ts, node: print(ts, node), nodes=("node1", "node2"))
    probe.start(); ...; probe.stop()
    for o in outages(probe.observations()): print(o.before, "->", o.after, o.duration_ns / 1e6, "ms")

An observation is stamped when its request started: the probe's resolution is `interval + timeout` at worst.
`last_answer` is (node, when its answer was read, how long the request took) of the last request answered:
when nobody answers, it bounds the death of that node (it answered between those two moments; the first
request that failed started after it died or lost its link): the master's correlator dates a silent holder's
death with it (dating.py, "probe").
Pure stdlib, so the probe costs one thread and one socket at a time.
"""

import http.client
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hamaster.core.timeutil import now_ns

_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Observation:
    ts_ns: int
    node: str | None  # who answered; None: no answer, an error status or a page naming nobody we know


@dataclass(frozen=True, slots=True)
class Outage:
    """A stretch in which the VIP answered nobody (or, for a direct handover, a zero-length one)."""

    start_ns: int
    end_ns: int | None  # None: still going at the last observation
    before: str | None  # who answered just before (None if nobody had yet)
    after: str | None  # who answered at the end

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns


def identify(body: bytes, nodes: Sequence[str] | None = None) -> str | None:
    """The node a page names: the first of `nodes` that appears as a word, or else the page's first word."""
    text = _TAG.sub(" ", body.decode("utf-8", "replace"))
    words = text.split()
    if nodes is None:
        return words[0][:64] if words else None
    present = set(words)
    return next((n for n in nodes if n in present), None)


class VipProbe:
    def __init__(self, host: str, *, port: int = 80, path: str = "/", interval: float = 0.05, timeout: float = 0.1,
                 nodes: Sequence[str] | None = None,
                 on_change: Callable[[int, str | None], None] | None = None) -> None:
        self.host, self.port, self.path = host, port, path
        self.interval, self.timeout = interval, timeout
        self.nodes = tuple(nodes) if nodes is not None else None
        self.on_change = on_change
        self.requests = 0
        self.last_answer: tuple[str, int, int] | None = None  # (node, answer read at, request took), ns
        self._changes: list[Observation] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ask(self) -> str | None:
        """One request: the node that answered, or None."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"Connection": "close", "User-Agent": "hamaster-probe"})
            resp = conn.getresponse()
            body = resp.read(4096)
            return identify(body, self.nodes) if resp.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def start(self) -> "VipProbe":
        if self._thread is not None:
            raise RuntimeError("probe already started")
        self._thread = threading.Thread(target=self._loop, name=f"vip-probe-{self.host}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "VipProbe":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            ts = now_ns()
            node = self.ask()
            self.requests += 1
            if node is not None:
                done = now_ns()
                self.last_answer = (node, done, done - ts)
            self._record(ts, node)
            # a fixed rhythm: a slow answer shortens the next wait instead of stretching the period
            next_at = max(next_at + self.interval, time.monotonic())
            self._stop.wait(next_at - time.monotonic())

    def _record(self, ts_ns: int, node: str | None) -> None:
        with self._lock:
            if self._changes and self._changes[-1].node == node:
                return
            self._changes.append(Observation(ts_ns, node))
        if self.on_change is not None:
            self.on_change(ts_ns, node)

    def observations(self) -> list[Observation]:
        """The changes seen so far, oldest first (the first entry is the first answer)."""
        with self._lock:
            return list(self._changes)

    @property
    def current(self) -> str | None:
        with self._lock:
            return self._changes[-1].node if self._changes else None

    def wait_for(self, node: str | None, timeout: float) -> bool:
        """Block until the probe's latest observation is `node`, at most `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._changes and self.current == node:
                return True
            time.sleep(self.interval / 2)
        return False


# -- stats ----------------------------------------------------------------------------------------------
def outages(changes: Sequence[Observation]) -> list[Outage]:
    """Every stretch without an answer, with who answered before and after (the first answer is no outage)."""
    found: list[Outage] = []
    before: str | None = None
    down_since: int | None = None
    for obs in changes:
        if obs.node is None:
            if down_since is None and before is not None:
                down_since = obs.ts_ns
        else:
            if down_since is not None:
                found.append(Outage(down_since, obs.ts_ns, before, obs.node))
                down_since = None
            before = obs.node
    if down_since is not None:
        found.append(Outage(down_since, None, before, None))
    return found


def handovers(changes: Sequence[Observation]) -> list[Outage]:
    """Each time the answering node changed, with the gap in between (zero when it switched directly)."""
    found: list[Outage] = []
    for outage in outages(changes):
        if outage.after is not None and outage.after != outage.before:
            found.append(outage)
    prev: Observation | None = None
    for obs in changes:
        if prev is not None and prev.node is not None and obs.node is not None and obs.node != prev.node:
            found.append(Outage(obs.ts_ns, obs.ts_ns, prev.node, obs.node))
        prev = obs
    return sorted(found, key=lambda o: o.start_ns)


def downtime_ns(changes: Sequence[Observation], until_ns: int | None = None) -> int:
    """Total time without an answer after the first one; an outage still going counts up to `until_ns`."""
    total = 0
    for o in outages(changes):
        end = o.end_ns if o.end_ns is not None else until_ns
        if end is not None:
            total += end - o.start_ns
    return total
