"""Simulated minions for the scale benchmark: many real ZeroMQ clients per process, driven from a parent.

On the wire each simulated minion is what `haminion run` is: a DEALER with its own accepted CURVE key
(made by `hamaster init`), a `hello` with grains, a `ping` every heartbeat, VRRP `events` with its own
seqs in batches, never more than a window of unacked events in flight, and `job` frames answered with
the real executor (`hamaster.minion.executor.run_job`) under a per-minion file root prefix. What it
leaves out: the durable spool (events are made in memory) and the job thread (jobs run one at a time in
the loop; a trivial job takes about a millisecond).

The parent (`Fleet`) runs the minions in worker processes and talks to each over a multiprocessing pipe:

    parent -> worker   ("events", per_minion, batch, window)      send VRRP events, report when all acked
                       ("stop",)
    worker -> parent   ("connected", n)                           every minion has had a pong
                       ("events_done", acked, t_first, t_last)    time.monotonic(): one clock for all processes
                       ("jobs", answered, busy_s)                 progress, at most every 0.2 s
                       ("error", text)
"""

import multiprocessing
import multiprocessing.connection
import random
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth

from hamaster.core import protocol
from hamaster.core.config import MinionConfig

PING_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FleetSpec:
    site: Path  # made by `hamaster init --minion ...`
    ids: list[str]
    master: str  # tcp://127.0.0.1:PORT
    file_root: Path  # each minion's files land under file_root/<id>/
    first: int = 0  # fleet-wide number of ids[0]: minions 2k and 2k+1 make a pair
    heartbeat_s: float = 2.0


@dataclass
class SimMinion:
    cfg: MinionConfig
    sock: zmq.Socket
    next_ping: float
    pair: int
    next_seq: int = 1
    target: int = 0  # events to send this round
    sent: int = 0  # events sent this round
    acked: int = 0  # events acked this round
    pongs: int = 0


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's soft limit on open files (children inherit it); the hard limit is left alone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _grains(minion_id: str, n: int) -> dict[str, Any]:
    return {"id": minion_id, "hostname": minion_id, "os": "debian", "os_version": "12", "kernel": "sim",
            "addresses": [f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"],
            "keepalived": "Keepalived v2.2.7", "nginx": "nginx version: nginx/1.22.1", "python": "3.11"}


def _vrrp_frame(m: SimMinion, count: int) -> bytes:
    """The next `count` events of this minion, stamped now as a node stamps them when keepalived calls;
    pairs (2k, 2k+1) share instance VI_k, so the correlator sees both members."""
    now = time.time_ns()
    events = [{"seq": seq, "node_ns": now + i, "kind": "vrrp", "tag": "vrrp", "instance": f"VI_{m.pair}",
               "state": ("BACKUP", "MASTER")[seq % 2], "priority": 100, "source": "fifo", "data": {}}
              for i, seq in enumerate(range(m.next_seq, m.next_seq + count))]
    m.next_seq += count
    return protocol.encode("events", events=events)


class Worker:
    """One process's share of the fleet: one ZeroMQ context, one poll loop."""

    def __init__(self, spec: FleetSpec, pipe: multiprocessing.connection.Connection) -> None:
        self.spec, self.pipe = spec, pipe
        self.ctx = zmq.Context()
        self.ctx.MAX_SOCKETS = len(spec.ids) + 64  # the default (1023) caps one context's sockets
        master_public, _ = zmq.auth.load_certificate(spec.site / "pki" / "master.key")
        self.minions: dict[zmq.Socket, SimMinion] = {}
        self.poller = zmq.Poller()
        now = time.monotonic()
        for n, mid in enumerate(spec.ids):
            folder = spec.site / "minions" / mid
            public, secret = zmq.auth.load_certificate(folder / "minion.key_secret")
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = secret, public, master_public
            sock.connect(spec.master)
            cfg = MinionConfig(path=folder / "minion.yaml", id=mid, masters=[spec.master],
                               master_key=master_public.decode(), secret_key_file=folder / "minion.key_secret",
                               spool_dir=folder / "spool", fifo=None,
                               raw={"file_root_prefix": str(spec.file_root / mid)})
            number = spec.first + n
            m = SimMinion(cfg, sock, next_ping=now + random.uniform(0, spec.heartbeat_s), pair=number // 2)
            sock.send(protocol.encode("hello", grains=_grains(mid, number), backlog=0))
            sock.send(protocol.encode("ping", ts=time.time_ns()))
            self.minions[sock] = m
            self.poller.register(sock, zmq.POLLIN)
        self.poller.register(pipe.fileno(), zmq.POLLIN)
        self.connected_said = False
        self.t_first = self.t_last = 0.0
        self.batch = self.window = self.busy = 0
        self.jobs_done, self.job_busy_s, self._jobs_said, self._jobs_said_n = 0, 0.0, 0.0, 0

    # -- frames from the master ---------------------------------------------------------------------
    def _on_frame(self, m: SimMinion, frame: bytes) -> None:
        msg = protocol.decode(frame)
        kind = msg["t"]
        if kind == "pong":
            m.pongs += 1
        elif kind == "ack":
            m.acked += sum(hi - lo + 1 for lo, hi in msg["seqs"])
            self.t_last = time.monotonic()
            self._pump(m)
        elif kind == "job":
            self._job(m, msg["jid"], msg["job"])

    def _job(self, m: SimMinion, jid: str, job: dict[str, Any]) -> None:
        from hamaster.minion.executor import run_job

        t0 = time.perf_counter()
        try:
            result = run_job(job, m.cfg)
        except Exception as exc:  # answer the master as the real minion does
            result = {"error": f"{type(exc).__name__}: {exc}",
                      "summary": {"succeeded": 0, "changed": 0, "failed": 1, "duration_ms": 0}}
        m.sock.send(protocol.encode("job_result", jid=jid, result=result))
        self.jobs_done += 1
        self.job_busy_s += time.perf_counter() - t0

    # -- events -------------------------------------------------------------------------------------
    def _start_events(self, per_minion: int, batch: int, window: int) -> None:
        for m in self.minions.values():
            m.target, m.sent, m.acked = per_minion, 0, 0
        self.batch, self.window, self.busy = batch, window, len(self.minions)
        self.t_first = time.monotonic()
        for m in self.minions.values():
            self._pump(m)

    def _pump(self, m: SimMinion) -> None:
        """Send while fewer than `window` batches are unacked; say when the last minion is through."""
        while m.sent < m.target and m.sent - m.acked < self.window * self.batch:
            n = min(self.batch, m.target - m.sent)
            m.sock.send(_vrrp_frame(m, n))
            m.sent += n
        if m.target and m.acked >= m.target:
            m.target = 0
            self.busy -= 1
            if not self.busy:
                acked = sum(x.acked for x in self.minions.values())
                self.pipe.send(("events_done", acked, self.t_first, self.t_last))

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        started = time.monotonic()
        while True:
            ready = dict(self.poller.poll(timeout=100))
            now = time.monotonic()
            for sock in ready:
                if sock == self.pipe.fileno():
                    continue
                m = self.minions[sock]
                for _ in range(100):
                    try:
                        frame = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._on_frame(m, frame)
            while self.pipe.poll():
                cmd = self.pipe.recv()
                if cmd[0] == "stop":
                    return
                if cmd[0] == "events":
                    self._start_events(*cmd[1:])
            for m in self.minions.values():
                if now >= m.next_ping:
                    m.sock.send(protocol.encode("ping", ts=time.time_ns()))
                    m.next_ping = now + self.spec.heartbeat_s
            if not self.connected_said:
                n = sum(m.pongs > 0 for m in self.minions.values())
                if n == len(self.minions):
                    self.pipe.send(("connected", n))
                    self.connected_said = True
                elif now - started > PING_TIMEOUT_S:
                    self.pipe.send(("error", f"only {n} of {len(self.minions)} minions got a pong"))
                    return
            # only news: a parent busy elsewhere (a blocking `hamaster apply`) reads nothing, and a pipe full of
            # repeats would block this send, and every simulated minion with it (4 minutes in, at 5 a second)
            if self.jobs_done != self._jobs_said_n and now - self._jobs_said >= 0.2:
                self.pipe.send(("jobs", self.jobs_done, self.job_busy_s))
                self._jobs_said, self._jobs_said_n = now, self.jobs_done

    def close(self) -> None:
        for sock in self.minions:
            sock.close(linger=0)
        self.ctx.term()


def _worker_main(spec: FleetSpec, pipe: multiprocessing.connection.Connection) -> None:
    raise_fd_limit(4 * len(spec.ids) + 256)
    worker = Worker(spec, pipe)
    try:
        worker.run()
    except Exception as exc:  # tell the parent, which would otherwise wait for its timeout
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        worker.close()
        pipe.close()


class Fleet:
    """The parent's handle on the worker processes (spawned, so no ZeroMQ state crosses a fork)."""

    def __init__(self, specs: list[FleetSpec]) -> None:
        mp = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        for spec in specs:
            parent, child = mp.Pipe()
            proc = mp.Process(target=_worker_main, args=(spec, child), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.jobs = [0] * len(specs)
        self.job_busy_s = [0.0] * len(specs)

    def _take(self, i: int, msg: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Book progress reports; return anything else."""
        if msg[0] == "jobs":
            self.jobs[i], self.job_busy_s[i] = msg[1], msg[2]
            return None
        if msg[0] == "error":
            raise RuntimeError(f"load generator {i}: {msg[1]}")
        return msg

    def poll(self, timeout: float) -> None:
        """Read progress reports for up to `timeout` seconds."""
        for pipe in multiprocessing.connection.wait(self.pipes, timeout):
            i = self.pipes.index(pipe)  # type: ignore[arg-type]
            msg = self._take(i, pipe.recv())
            if msg is not None:
                raise RuntimeError(f"load generator {i}: unexpected {msg[0]}")

    def _gather(self, kind: str, timeout: float) -> list[tuple[Any, ...]]:
        """Wait for one `kind` message from every worker."""
        got: dict[int, tuple[Any, ...]] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(self.pipes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(got)} of {len(self.pipes)} load generators said {kind} in {timeout:g} s")
            for pipe in multiprocessing.connection.wait(self.pipes, left):
                i = self.pipes.index(pipe)  # type: ignore[arg-type]
                msg = self._take(i, pipe.recv())
                if msg is not None and msg[0] == kind:
                    got[i] = msg
        return [got[i] for i in sorted(got)]

    def wait_connected(self, timeout: float) -> int:
        return sum(msg[1] for msg in self._gather("connected", timeout))

    def send_events(self, per_minion: int, batch: int, window: int, timeout: float) -> tuple[int, float]:
        """Every minion sends `per_minion` events; returns (events acked, seconds from first send to last ack)."""
        for pipe in self.pipes:
            pipe.send(("events", per_minion, batch, window))
        done = self._gather("events_done", timeout)
        return sum(d[1] for d in done), max(d[3] for d in done) - min(d[2] for d in done)

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop",))
            except OSError:
                pass  # that worker is gone already
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        for pipe in self.pipes:
            pipe.close()
