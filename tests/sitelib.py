"""A real hamaster site for tests: made by `hamaster init`, with master and minions as real processes.

Every process a Site starts is tracked by pid and stopped at teardown (SIGTERM, then SIGKILL); nothing
else is touched. All traffic stays on 127.0.0.1.
"""

import errno
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zmq

BIN = Path(sys.executable).parent
HAMASTER, HAMINION, HOOK = str(BIN / "hamaster"), str(BIN / "haminion"), str(BIN / "haminion-hook")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
             interval: float = 0.05) -> Any:
    """Poll `predicate` every `interval` s until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Site:
    def __init__(self, root: Path, minions: tuple[str, ...] = ("node1", "node2")) -> None:
        self.root = root
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master_proc: subprocess.Popen[bytes] | None = None
        self.minion_procs: dict[str, subprocess.Popen[bytes]] = {}
        self.run_cli("init", str(root), "--master-addr", f"127.0.0.1:{self.port}",
                     *[a for m in minions for a in ("--minion", m)])
        self.config = str(root / "master.yaml")
        for m in minions:  # no keepalived runs here: the tests play it by firing its hooks and FIFO lines, so
            with open(self.minion_config(m), "a") as f:  # a watch of its process would only report it dead
                f.write("beacons:\n  keepalived: false\n")

    # -- processes ----------------------------------------------------------------------------------
    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.root / log_name, "ab")  # noqa: SIM115 - closed when the process is reaped
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def start_master(self) -> subprocess.Popen[bytes]:
        self.master_proc = self._spawn([HAMASTER, "master", "-c", self.config], "master.log")
        wait_for(lambda: (self.root / "control.sock").exists(), 10, "the master's control socket")
        return self.master_proc

    def start_pair(self) -> None:
        """Master, node1 and node2 running; node1 MASTER and node2 BACKUP of VI_1 stored."""
        self.start_master()
        for m in ("node1", "node2"):
            self.start_minion(m)
        self.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
        self.hook("node2", "INSTANCE", "VI_1", "BACKUP", "99")
        wait_for(lambda: self.count() == 2, 20, "the pair's first states")

    def start_with_fifo(self, minion: str = "node1") -> Path:
        """Master and `minion` running; returns keepalived's notify_fifo once the minion has made it."""
        self.start_master()
        self.start_minion(minion)
        fifo = self.fifo_path(minion)
        wait_for(fifo.exists, 10, "the minion's FIFO")
        return fifo

    def minion_config(self, minion: str) -> str:
        return str(self.root / "minions" / minion / "minion.yaml")

    def start_minion(self, minion: str) -> subprocess.Popen[bytes]:
        proc = self._spawn([HAMINION, "run", "-c", self.minion_config(minion)], f"minion-{minion}.log")
        self.minion_procs[minion] = proc
        return proc

    def stop(self, proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)

    # -- commands -----------------------------------------------------------------------------------
    def run_cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([HAMASTER, *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"hamaster {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`hamaster ARGS -c master.yaml`"""
        return self.run_cli(*args, "-c", self.config, check=check)

    def hook(self, minion: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Fire keepalived's notify hook as keepalived does (the script that keepalived.conf names)."""
        return subprocess.run([HOOK, "-c", self.minion_config(minion), *args],
                              capture_output=True, text=True, timeout=10)

    def fifo_path(self, minion: str) -> Path:
        return self.root / "minions" / minion / "keepalived.fifo"

    # -- the store ----------------------------------------------------------------------------------
    def query(self, sql: str, *args: Any, store: str = "store.db") -> list[tuple[Any, ...]]:
        db = self.root / store
        if not db.exists():
            return []
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []
        finally:
            conn.close()

    def count(self, sql: str = "SELECT COUNT(*) FROM events WHERE kind = 'vrrp'", *args: Any,
              store: str = "store.db") -> int:
        rows = self.query(sql, *args, store=store)
        return rows[0][0] if rows else 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def fill_disk(folder: Path) -> Path:
    """Write zeros into `folder` until its filesystem is full (ENOSPC); returns the file, to remove for room."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to flush (and fail) when it closes
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def dealer_of(ctx: "zmq.Context[Any]", site: Site, minion: str) -> "zmq.Socket[bytes]":
    """A raw ZeroMQ socket with `minion`'s accepted key, to send the master whatever we like."""
    import zmq.auth  # (only the tests that speak ZeroMQ themselves pay for it)

    public, secret = zmq.auth.load_certificate(site.root / "minions" / minion / "minion.key_secret")
    master_public, _ = zmq.auth.load_certificate(site.root / "pki" / "master.key")
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_serverkey = secret, public, master_public
    sock.connect(f"tcp://127.0.0.1:{site.port}")
    return sock


def acked(sock: "zmq.Socket[bytes]", seq: int, timeout: float = 20.0) -> bool:
    """Whether the master acks `seq` on `sock` (a dealer_of socket) within `timeout` s."""
    from hamaster.core import protocol

    deadline = time.monotonic() + timeout
    while sock.poll(int(max(0.0, deadline - time.monotonic()) * 1000)):
        reply = protocol.decode(sock.recv())
        if reply["t"] == "ack" and any(a <= seq <= b for a, b in reply["seqs"]):
            return True
    return False


def refused(site: Site) -> dict[str, int]:
    """What the master refused, by reason (`hamaster status --json`)."""
    import json

    return json.loads(site.cli("status", "--json").stdout)["refused"]
