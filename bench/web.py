"""Benchmark: the dashboard (`hamaster web`) on a site of 1,000 minions in 500 pairs, and live updates.

    bench/run web        (or .venv/bin/python bench/web.py)

Prints `NAME VALUE UNIT` lines:

    web_status_ms     GET /api/status over HTTP on loopback, median of the runs (1,000 minions, 500 groups)
    web_page_ms       GET / (the status page, its status section as last rendered), median
    web_update_ms     what one change costs the web process: the status document built and its section
                      rendered again (in-process, 1,000 minions), median
    web_idle_cpu_pct  the web process's CPU while nothing changes (its watcher looks every 0.1 s), 5 s
    web_live_p50_ms   a transition fired through keepalived's hook on a real pair (master, two minions)
    web_live_p99_ms   -> the open page's DOM changed in Debian's chromium: hook's node time to the change

The 1,000-minion store is filled directly (every minion's last VRRP state, beacons for keepalived, nginx and
its VIP, liveness, a day of incidents), as the master would have left it; no master runs for it, so the page
reads the store alone. Under `bench/run --quick`: 20 minions, 3 runs, 5 transitions.
"""

import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import QUICK, Site, emit, percentile, sized, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "web"))
from webtools import WebProcess, browser, chromium_missing

from hamaster.core.timeutil import now_ns
from hamaster.master import store

MINIONS = sized(1000, 20)
RUNS = sized(30, 3)
TRANSITIONS = sized(40, 5)


def fill(path: Path, minions: int) -> None:
    """The store of a site of `minions` nodes in pairs, as a running master leaves it."""
    rng = random.Random(13)
    conn = store.connect(path, synchronous="OFF")
    now = now_ns()
    rows, seen = [], []
    for m in range(minions):
        minion, pair = f"node{m:04d}", m // 2
        instance, vip = f"VI_{pair}", f"10.{pair // 250}.{pair % 250}.100"
        state = "MASTER" if m % 2 == 0 else "BACKUP"
        t = now - rng.randrange(60, 86_400) * 10**9
        data = json.dumps({"vips": [vip], "vrid": pair % 255 + 1, "interface": "eth0", "family": "inet"})
        rows.append((minion, 1, t, t + 2_000_000, "vrrp", f"vrrp/{instance}/{state}", instance, state,
                     100 - m % 2, "hook", data))
        rows.append((minion, 2, t + 10**6, t + 3_000_000, "beacon", "beacon/keepalived/up", None, "True", None,
                     "beacon", None))
        rows.append((minion, 3, t + 2 * 10**6, t + 4_000_000, "beacon", "beacon/nginx/up", None, "True", None,
                     "beacon", None))
        if state == "MASTER":
            rows.append((minion, 4, t + 3 * 10**6, t + 5_000_000, "beacon", f"beacon/vip/{vip}/held", None, "True",
                         None, "beacon", None))
        seen.append((minion, now - 10**9, now - 10**9, "{}"))
    conn.executemany("INSERT INTO events (minion, seq, node_ns, master_ns, kind, tag, instance, state, priority,"
                     " source, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT INTO minions (id, first_seen_ns, last_seen_ns, grains) VALUES (?,?,?,?)", seen)
    incidents = [(f"failover:{k}", "failover", f"VI_{k}", "warning", now - rng.randrange(60, 3600) * 10**9,
                  json.dumps([f"node{2 * k:04d}", f"node{2 * k + 1:04d}"]), f"VIP moved node{2 * k + 1:04d} ->"
                  f" node{2 * k:04d}", json.dumps({"gap_ns": 620_000_000}))
                 for k in range(min(minions // 2, 30))]
    conn.executemany("INSERT INTO incidents (dedup_key, kind, instance, severity, started_ns, nodes, summary, data)"
                     " VALUES (?,?,?,?,?,?,?,?)", incidents)
    conn.commit()
    conn.close()


def timed_get(url: str, runs: int) -> float:
    times = []
    for i in range(runs + 3):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as resp:  # loopback only
            resp.read()
        if i >= 3:  # warm-up: the first answers wait for the first document
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_pages(root: Path) -> None:
    (root / "site").mkdir()
    fill(root / "site" / "store.db", MINIONS)
    config = root / "site" / "master.yaml"
    config.write_text("store: store.db\ncontrol: ipc://control.sock\n")
    web = WebProcess(config, log=root / "web.log")
    try:
        web.wait_up(timeout=120)
        groups = wait_for(lambda: json.loads(urllib.request.urlopen(web.url + "/api/status").read())["groups"], 60,
                          "the status document")
        assert len(groups) == MINIONS // 2, len(groups)
        emit("web_status_ms", timed_get(web.url + "/api/status", RUNS), "ms")
        emit("web_page_ms", timed_get(web.url + "/", RUNS), "ms")
        emit("web_idle_cpu_pct", cpu_pct(web.proc.pid, sized(5, 1)), "%")
    finally:
        web.stop()
    emit("web_update_ms", update_ms(config, RUNS), "ms")


def cpu_pct(pid: int, seconds: float) -> float:
    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    import os

    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), ticks()
    time.sleep(seconds)
    return 100 * (ticks() - c0) / hz / (time.monotonic() - t0)


def update_ms(config: Path, runs: int) -> float:
    """A change's work in the web process: the document built from the store's state, the section rendered."""
    from hamaster.core.config import load_master_config
    from hamaster.master.store import dashboard
    from hamaster.master.timeline import formats as tf
    from hamaster.master.web import app, live, status
    from hamaster.master.web.state import SiteState

    cfg = load_master_config(config)
    fragment = app.templates(tf.parse_tz("UTC")).get_template("_status.html")
    conn = store.connect(cfg.store, readonly=True)
    try:
        site = SiteState.load(conn)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            now = now_ns()
            doc = status.build(site, cfg, live.DOWN, dashboard.liveness(conn),
                               dashboard.incidents_shown(conn, now - 3600 * 10**9, status.OPEN_KINDS), now)
            fragment.render(doc=doc)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return statistics.median(times)


# in the page: note when the group's holder changes (Date.now(), the machine's clock: the hook's is the same)
OBSERVE = """() => {
  window.hamasterChanges = [];
  const status = document.getElementById('status');
  new MutationObserver(() => {
    const g = document.querySelector('article.group[data-group="VI_1"]');
    if (g) window.hamasterChanges.push([g.dataset.holder, Date.now()]);
  }).observe(status, {childList: true, subtree: true});
}"""


def bench_live(root: Path) -> None:
    missing = chromium_missing()
    if missing:
        raise SystemExit(f"bench web: {missing}")
    site = Site(root / "live")
    web = None
    try:
        site.start_pair()
        web = WebProcess(site.config, log=root / "live-web.log")
        web.wait_up()
        latencies = []
        with browser() as ctx:
            page = ctx.new_page()
            page.goto(web.url + "/")
            page.wait_for_selector('#live[data-state="live"]', timeout=30_000)
            page.evaluate(OBSERVE)
            holder, other = "node1", "node2"
            for k in range(TRANSITIONS):
                holder, other = other, holder
                before = site.count()
                site.hook(other, "INSTANCE", "VI_1", "BACKUP", "99")
                site.hook(holder, "INSTANCE", "VI_1", "MASTER", "100")
                page.wait_for_selector(f'article.group[data-group="VI_1"][data-holder="{holder}"]', timeout=30_000)
                wait_for(lambda b=before: site.count() == b + 2, 20, "both transitions stored")
                [(hook_ns,)] = site.query("SELECT MAX(node_ns) FROM events WHERE minion = ? AND state = 'MASTER'",
                                          holder)
                changes = page.evaluate("window.hamasterChanges")
                shown_ms = next(t for h, t in changes if h == holder and t * 1e6 >= hook_ns - 1e9)
                latencies.append(shown_ms - hook_ns / 1e6)
                page.evaluate("window.hamasterChanges = []")
                time.sleep(0.3 if not QUICK else 0.1)  # apart: each change is one transition's
                print(f"# transition {k + 1}: {latencies[-1]:.0f} ms", file=sys.stderr)
        emit("web_live_p50_ms", percentile(latencies, 50), "ms")
        emit("web_live_p99_ms", percentile(latencies, 99), "ms")
    finally:
        if web is not None:
            web.stop()
        site.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-web-") as tmp:
        root = Path(tmp)
        bench_pages(root)
        bench_live(root)


if __name__ == "__main__":
    main()
