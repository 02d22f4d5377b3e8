"""Group `intake`: events persisted and acked per second by one master, 50 minions sending at once.

The minions are real ZeroMQ DEALER sockets with their own accepted CURVE keys (made by `hamaster init`),
driven from this process, each sending its events in batches of 1000 the way `haminion run` does
and keeping up to 20 batches in flight. The clock stops when the last ack arrives: every event
counted is committed in the store.

    intake_events_per_s   target 20,000 or more
"""

import tempfile
import time
from pathlib import Path

import zmq
import zmq.auth
from common import Site, emit, sized

from hamaster.core import protocol

MINIONS, PER_MINION, BATCH, WINDOW = sized(50, 5), sized(4000, 2000), 1000, 20


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-") as tmp:
        names = tuple(f"m{i:02d}" for i in range(MINIONS))
        site = Site(Path(tmp) / "site", minions=names)
        ctx = zmq.Context()
        socks = []
        try:
            site.start_master()
            master_public, _ = zmq.auth.load_certificate(site.root / "pki" / "master.key")
            for name in names:
                public, secret = zmq.auth.load_certificate(site.root / "minions" / name / "minion.key_secret")
                s = ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.LINGER, 0)
                s.curve_secretkey, s.curve_publickey, s.curve_serverkey = secret, public, master_public
                s.connect(f"tcp://127.0.0.1:{site.port}")
                socks.append(s)
            now = time.time_ns()
            frames = [[protocol.encode("events", events=[
                {"seq": seq, "node_ns": now + seq, "kind": "vrrp", "tag": "vrrp/VI_1/MASTER", "instance": "VI_1",
                 "state": ("MASTER", "BACKUP")[seq % 2], "priority": 100, "source": "fifo", "data": {}}
                for seq in range(first, first + BATCH)]) for first in range(1, PER_MINION + 1, BATCH)] for _ in names]
            for s in socks:  # connect and authenticate before the clock starts
                s.send(protocol.encode("ping", ts=1))
            for s in socks:
                if not s.poll(10_000):
                    raise SystemExit("a simulated minion got no pong")
                s.recv()
            poller = zmq.Poller()
            for s in socks:
                poller.register(s, zmq.POLLIN)
            sent = [0] * MINIONS
            acked = [0] * MINIONS
            total = MINIONS * PER_MINION
            t0 = time.perf_counter()
            for i, s in enumerate(socks):
                while sent[i] < len(frames[i]) and sent[i] < WINDOW:
                    s.send(frames[i][sent[i]])
                    sent[i] += 1
            while sum(acked) < total:
                if time.perf_counter() - t0 > 120:
                    raise SystemExit(f"only {sum(acked)} of {total} events acked in 120 s")
                for s, _ in poller.poll(1000):
                    i = socks.index(s)
                    msg = protocol.decode(s.recv())
                    if msg["t"] == "ack":
                        acked[i] += sum(hi - lo + 1 for lo, hi in msg["seqs"])
                        if sent[i] < len(frames[i]):
                            s.send(frames[i][sent[i]])
                            sent[i] += 1
            elapsed = time.perf_counter() - t0
            stored = site.count()
            if stored != total:
                raise SystemExit(f"{stored} stored, expected {total}")
            emit("intake_events_per_s", total / elapsed, "events/s")
        finally:
            for s in socks:
                s.close()
            ctx.term()
            site.close()


if __name__ == "__main__":
    main()
