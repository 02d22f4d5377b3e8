"""Group `scale`: one master holding 1,000 minions (simulated by bench/loadgen.py, real CURVE clients).

    minions_1000_master_rss_mb            VmRSS of the master, 1,000 minions connected and heartbeating
    minions_1000_master_cpu_percent       the master's CPU (% of one core) over HOLD_S seconds of heartbeats
    intake_events_per_s_1000_minions      every minion sends PER_MINION VRRP events (BATCH per frame, at most
                                          WINDOW frames unacked); counted when the last ack is in
    minions_1000_master_rss_after_intake_mb
    apply_trivial_1000_s                  a whole `hamaster apply` CLI process, one file.managed, to all
                                          1,000 (--no-rolling: the pairs' rolling order is not what is measured)
    apply_trivial_1000_nochange_s         the same again, nothing to change

The fleet runs in LOADGEN_PROCS processes beside the master on the same machine, so the figures are
for a master sharing its cores with 1,000 minions' worth of load. Progress goes to stderr.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HAMASTER, Site, emit, sized, wait_for
from loadgen import Fleet, FleetSpec, raise_fd_limit

MINIONS, LOADGEN_PROCS = sized(1000, 20), 2
HOLD_S = sized(10, 1)
PER_MINION, BATCH, WINDOW = 200, 50, 4
TRIVIAL_SLS = """\
motd:
  file.managed:
    - name: /etc/motd.d/hamaster
    - makedirs: true
    - contents: "managed by hamaster for {{ grains['id'] }}"
"""
# the last line of `hamaster apply` beyond 10 minions (the summary form, as an operator sees it)
SUMMARY = re.compile(r"^(\d+) minions \((\d+) unchanged\): Succeeded: (\d+) \(changed=(\d+)\)\s+Failed: (\d+)"
                     r"\s+No answer: (\d+)", re.MULTILINE)


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_tree(root: Path) -> tuple[Path, Path]:
    states, pillar = root / "trivial", root / "trivial-pillar"
    states.mkdir()
    pillar.mkdir()
    (states / "top.sls").write_text("base:\n  '*':\n    - motd\n")
    (states / "motd.sls").write_text(TRIVIAL_SLS)
    (pillar / "top.sls").write_text("base: {}\n")
    return states, pillar


def timed_apply(site: Site, fleet: Fleet, states: Path, pillar: Path, label: str) -> float:
    """Run `hamaster apply` to all minions, showing progress from the fleet; returns its wall time."""
    out = site.root / f"apply-{label}.out"
    before = sum(fleet.jobs)
    argv = [HAMASTER, "apply", str(states), "-c", site.config, "--pillar", str(pillar), "--no-rolling",
            "--timeout", "120"]
    with open(out, "w") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            shown = -1
            while proc.poll() is None:
                if time.perf_counter() - t0 > 180:
                    raise SystemExit(f"apply {label}: still running after 180 s")
                fleet.poll(0.5)
                answered = sum(fleet.jobs) - before
                if answered != shown:
                    say(f"apply {label}: {answered}/{MINIONS} minions answered, {time.perf_counter() - t0:.1f} s")
                    shown = answered
            elapsed = time.perf_counter() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    text = out.read_text()
    found = SUMMARY.search(text)
    minions, unchanged, succeeded, changed, failed, silent = map(int, found.groups()) if found else (0,) * 6
    say(f"apply {label}: exit {proc.returncode} in {elapsed:.2f} s; {minions} minions ({unchanged} unchanged), "
        f"{succeeded} states succeeded ({changed} changed), {failed} failed, {silent} silent; "
        f"{len(text.splitlines())} lines of output")
    if proc.returncode != 0 or minions != MINIONS or failed or silent:
        raise SystemExit(f"apply {label} did not succeed on all {MINIONS} minions: see {out}")
    return elapsed


def main() -> None:
    raise_fd_limit(4 * MINIONS + 1024)  # the master and the fleet inherit it; the system limit is untouched
    ids = [f"m{i:04d}" for i in range(MINIONS)]
    with tempfile.TemporaryDirectory(prefix="hamaster-scale-") as tmp:
        t0 = time.perf_counter()
        site = Site(Path(tmp) / "site", minions=tuple(ids))
        say(f"`hamaster init` with {MINIONS} minions: {time.perf_counter() - t0:.1f} s")
        states, pillar = write_tree(site.root)
        fleet = None
        try:
            master = site.start_master()
            share = -(-MINIONS // LOADGEN_PROCS)
            fleet = Fleet([FleetSpec(site.root, ids[i:i + share], f"tcp://127.0.0.1:{site.port}",
                                     Path(tmp) / "fs", first=i) for i in range(0, MINIONS, share)])
            t0 = time.perf_counter()
            fleet.wait_connected(120)
            say(f"{MINIONS} minions connected (CURVE handshake, hello, first pong): {time.perf_counter() - t0:.1f} s")
            wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == MINIONS, 30,
                     "every hello in the store")

            c0, w0 = cpu_s(master.pid), time.perf_counter()
            fleet.poll(HOLD_S)
            cpu = 100 * (cpu_s(master.pid) - c0) / (time.perf_counter() - w0)
            emit("minions_1000_master_rss_mb", rss_mb(master.pid), "MiB")
            emit("minions_1000_master_cpu_percent", cpu, "%")

            c0 = cpu_s(master.pid)
            acked, seconds = fleet.send_events(PER_MINION, BATCH, WINDOW, timeout=180)
            say(f"intake: {acked} events acked in {seconds:.2f} s, master CPU {cpu_s(master.pid) - c0:.1f} s")
            stored = site.count()
            if acked != MINIONS * PER_MINION or stored != acked:
                raise SystemExit(f"intake: {acked} acked, {stored} stored, expected {MINIONS * PER_MINION}")
            emit("intake_events_per_s_1000_minions", acked / seconds, "events/s")
            emit("minions_1000_master_rss_after_intake_mb", rss_mb(master.pid), "MiB")

            emit("apply_trivial_1000_s", timed_apply(site, fleet, states, pillar, "first"), "s")
            emit("apply_trivial_1000_nochange_s", timed_apply(site, fleet, states, pillar, "again"), "s")
            say(f"minions' time in the executor: {sum(fleet.job_busy_s):.2f} s for {sum(fleet.jobs)} jobs")
            if master.poll() is not None:
                raise SystemExit(f"the master exited with {master.returncode}")
        finally:
            if fleet is not None:
                fleet.close()
            site.close()


if __name__ == "__main__":
    main()
