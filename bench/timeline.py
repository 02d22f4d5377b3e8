"""Benchmark: `hamaster timeline` over one day of a store holding 1,000,000 events.

    bench/run timeline        (or .venv/bin/python bench/timeline.py [--events N] [--runs N])

The store (50 minions in 25 pairs, 30 days, VRRP transitions with hook+FIFO second reports, beacons,
incidents and alerts) is built once and cached under $TMPDIR/hamaster-bench, keyed by schema and
size. Under `bench/run --quick`, 20,000 events and one run. Prints `NAME VALUE UNIT` lines (median of the runs):

    timeline_1m_day_ms        the whole CLI process: timeline --since DAY --until DAY+1 --format json -o /dev/null
    timeline_1m_day_table_ms  the same with the default --format table
    timeline_1m_day_query_ms  the JSON of that window in-process: query, fold, merge and JSON, no start-up
    timeline_1m_day_rows      rows in that window
    timeline_1m_minute_ms     the CLI over one minute: what start-up (interpreter, imports, config) costs
"""

import argparse
import hashlib
import io
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import sized

from hamaster.master import store
from hamaster.master.timeline import formats as tf
from hamaster.master.timeline import rows as tl

DAY_NS = 86400 * 10**9
START_NS = 1_714_521_600 * 10**9  # 2024-05-01T00:00:00Z
DAYS, MINIONS = 30, 50
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")


def build(path: Path, n_events: int) -> None:
    """Fill a fresh store: big executemany batches in one transaction each, no fsync per row."""
    rng = random.Random(5)
    conn = store.connect(path, synchronous="OFF")
    per_minion = n_events // MINIONS
    sql = ("INSERT INTO events (minion, seq, node_ns, master_ns, kind, tag, instance, state, priority, source, data)"
           " VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    for m in range(MINIONS):
        minion, instance = f"node{m:02d}", f"VI_{m // 2}"
        times = sorted(rng.randrange(START_NS, START_NS + DAYS * DAY_NS) for _ in range(per_minion))
        rows, seq = [], 0
        for t in times:
            seq += 1
            delay = rng.randrange(1_000_000, 5_000_000) if rng.random() > 0.01 else rng.randrange(10, 3600) * 10**9
            if rng.random() < 0.6:
                state = rng.choice(STATES)
                source = rng.choice(("hook", "fifo", "reconcile"))
                rows.append((minion, seq, t, t + delay, "vrrp", f"vrrp/{instance}/{state}", instance, state,
                             100 + m % 2, source, None))
                if source != "reconcile" and rng.random() < 0.5:  # the other path reports it too
                    seq += 1
                    other = "fifo" if source == "hook" else "hook"
                    rows.append((minion, seq, t + 1_000_000, t + delay + 1_000_000, "vrrp",
                                 f"vrrp/{instance}/{state}", instance, state, 100 + m % 2, other,
                                 json.dumps({"duplicate_of": seq - 1})))
            else:
                what = rng.choice(("vip/held", "vip/lost", "nginx/up", "nginx/down"))
                rows.append((minion, seq, t, t + delay, "beacon", f"beacon/{what}", None, None, None, "beacon", None))
        conn.executemany(sql, rows)
        conn.commit()
    incidents = [(f"failover:{k}", "failover", f"VI_{k % 25}", "critical", t, t + 620_000_000,
                  json.dumps([f"node{2 * (k % 25):02d}", f"node{2 * (k % 25) + 1:02d}"]), "VIP moved",
                  json.dumps({"gap_ns": 620_000_000}))
                 for k, t in enumerate(sorted(rng.randrange(START_NS, START_NS + DAYS * DAY_NS) for _ in range(3000)))]
    conn.executemany("INSERT INTO incidents (dedup_key, kind, instance, severity, started_ns, ended_ns, nodes,"
                     " summary, data) VALUES (?,?,?,?,?,?,?,?,?)", incidents)
    conn.executemany("INSERT INTO deliveries (incident_id, route, target, status, attempts, created_ns, updated_ns)"
                     " VALUES (?,?,?,?,?,?,?)",
                     [(k + 1, "ops-mail", "mailto://ops:****@mail.example.com", "sent", 1, i[4], i[4] + 10**8)
                      for k, i in enumerate(incidents)])
    conn.commit()
    conn.close()


def cached_store(n_events: int) -> Path:
    folder = Path(tempfile.gettempdir()) / "hamaster-bench"
    schema = hashlib.sha256(store.SCHEMA.encode()).hexdigest()[:8]  # an index added means a new store
    path = folder / f"timeline-{schema}-{n_events}.db"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        t0 = time.perf_counter()
        build(partial, n_events)
        partial.rename(path)
        print(f"# built {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def statements_of(conn: sqlite3.Connection, q: tl.Query) -> list[str]:
    """The SELECTs the timeline runs for `q`, parameters filled in, as SQLite traced them: the plans shown are of
    the queries the code runs today, whichever module builds them."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        tf.write_json(tl.timeline(conn, q), io.StringIO())
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]


def wall_ms(argv: list[str]) -> float:
    """Wall time of one run of the process, which must succeed.

    A blocking wait: Popen.wait(timeout=...) polls with sleeps growing to 50 ms, which added up to 50 ms
    to every figure. A timer kills a run that hangs instead.
    """
    t0 = time.perf_counter()
    with subprocess.Popen(argv) as proc:
        killer = threading.Timer(120, proc.kill)
        killer.start()
        try:
            code = proc.wait()
        finally:
            killer.cancel()
    if code:
        raise subprocess.CalledProcessError(code, argv)
    return (time.perf_counter() - t0) * 1000


def cli_ms(argv: list[str], runs: int) -> float:
    """Median wall time of the whole process, after one warm-up run."""
    wall_ms(argv)
    return statistics.median(wall_ms(argv) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=sized(1_000_000, 20_000))
    ap.add_argument("--runs", type=int, default=sized(7, 1))
    args = ap.parse_args()
    db = cached_store(args.events)
    day = START_NS + 14 * DAY_NS
    q = tl.Query(since_ns=day, until_ns=day + DAY_NS)
    conn = store.connect(db, readonly=True)
    try:
        plans: dict[str, list[str]] = {}  # one line per distinct plan: the same query per minion is one
        for sql in statements_of(conn, q):
            plan = "; ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            plans.setdefault(plan, []).append(sql)
        for plan, sqls in plans.items():
            print(f"# plan of {len(sqls)} x `{sqls[0][:50]}...`: {plan}", file=sys.stderr)
        query_ms, rows = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            rows = tf.write_json(tl.timeline(conn, q), io.StringIO())
            query_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "master.yaml"
        cfg.write_text(f"store: {db}\n")
        iso = [tf.fmt_time(ns, tf.parse_tz("UTC")).replace(" ", "T") for ns in (day, day + DAY_NS, day + 60 * 10**9)]
        argv = [str(Path(sys.executable).parent / "hamaster"), "timeline", "-c", str(cfg), "--since", iso[0],
                "-o", "/dev/null"]
        json_ms = cli_ms([*argv, "--until", iso[1], "--format", "json"], args.runs)
        table_ms = cli_ms([*argv, "--until", iso[1], "--format", "table"], args.runs)
        startup_ms = cli_ms([*argv, "--until", iso[2], "--format", "json"], args.runs)
    suffix = "1m" if args.events == 1_000_000 else f"{args.events}"
    print(f"timeline_{suffix}_day_ms {json_ms:.0f} ms")
    print(f"timeline_{suffix}_day_table_ms {table_ms:.0f} ms")
    print(f"timeline_{suffix}_day_query_ms {statistics.median(query_ms):.0f} ms")
    print(f"timeline_{suffix}_day_rows {rows} rows")
    print(f"timeline_{suffix}_minute_ms {startup_ms:.0f} ms")


if __name__ == "__main__":
    main()
