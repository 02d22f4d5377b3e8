"""Group `apply`: the whole `hamaster apply` CLI process with nothing to change.

    apply_noop_pair_s   two real `haminion run` processes
    apply_noop_100_s    100 minions simulated by bench/loadgen.py (real CURVE clients that run each job
                        through the real executor), 50 pairs

Both apply the real states/ tree (pkg.installed, file.managed with check_cmd, service.running) with a
pillar fit for this machine; every minion's files land under its own root, and marker files stand for the
daemons (the bench times apply, not keepalived). Each tree is applied once (changes), then timed: median
of 7 runs, each checked to have changed nothing, so a broken run cannot become a figure.
Usage: python bench/apply_noop.py   -> prints `apply_noop_pair_s VALUE s`, `apply_noop_100_s VALUE s`
"""

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import HAMASTER, Site, emit, sized, wait_for
from loadgen import Fleet, FleetSpec

REPO = Path(__file__).resolve().parents[1]
RUNS = sized(7, 1)
HUNDRED = [f"m{i:03d}" for i in range(sized(100, 12))]  # quick: still past 10, the summary form


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def write_pillar(root: Path, target: str, here: str) -> Path:
    """states/pillar plus `here.sls` (this machine's interface, marker-file services) for `target`."""
    pillar = root / "pillar"
    shutil.copytree(REPO / "states" / "pillar", pillar)
    with (pillar / "top.sls").open("a") as f:
        f.write(f"  '{target}':\n    - here\n")
    (pillar / "here.sls").write_text(here)
    (root / "run").mkdir()
    (root / "svc").mkdir()
    return pillar


def services(root: Path, check: str) -> str:
    """Pillar lines: the nginx check, and each minion's keepalived and nginx as marker files (Jinja fills in
    the minion id)."""
    def svc(name: str) -> str:
        m = f"{root}/svc/{{{{ minion_id }}}}-{name}"
        return f"{{start: 'touch {m}', stop: 'rm -f {m}', status: 'test -e {m}', reload: 'true'}}"

    return (f"keepalived: {{check: {check}, commands: {svc('keepalived')}}}\n"
            f"nginx: {{package: nginx-light, root: /srv/www, pid: '', run_dir: {root / 'run'}, "
            f"commands: {svc('nginx')}}}\n")


def interface() -> str:
    return next(p.name for p in sorted(Path("/sys/class/net").iterdir()) if p.name != "lo")


def median_noop(argv: list[str], unchanged: Callable[[str], bool], label: str) -> float:
    """Apply once (the changes), then the median wall time of RUNS runs that must change nothing."""
    first = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if first.returncode != 0:
        raise SystemExit(f"{label}: the first apply failed:\n{first.stdout[-3000:]}{first.stderr[-3000:]}")
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - t0)
        if out.returncode != 0 or not unchanged(out.stdout):
            raise SystemExit(f"{label}: apply did not find everything unchanged:\n{out.stdout[-3000:]}{out.stderr}")
    say(f"{label}: runs {', '.join(f'{t:.3f}' for t in times)} s")
    return statistics.median(times)


def pair(tmp: Path) -> float:
    site = Site(tmp / "pair")
    try:
        here = f"vrrp: {{interface: {interface()}}}\n" + services(site.root, "process")
        pillar = write_pillar(site.root, "node*", here)
        for m in ("node1", "node2"):
            with open(site.minion_config(m), "a") as f:
                f.write("file_root_prefix: root\n")
        site.start_master()
        for m in ("node1", "node2"):
            site.start_minion(m)
        wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == 2, 30,
                 "both minions' hello")
        argv = [HAMASTER, "apply", str(REPO / "states"), "--pillar", str(pillar), "-c", site.config]
        return median_noop(argv, lambda out: out.count("(changed=0)") == 2, "pair")
    finally:
        site.close()


# 50 pairs: m(2k) MASTER and m(2k+1) BACKUP of VI_k (its own router id and VIP), so pair lint passes
HUNDRED_PILLAR = """\
{% set n = minion_id[1:] | int %}
address: {{ grains['addresses'][0] }}
vrrp:
  interface: IFACE
  instance: VI_{{ n // 2 }}
  virtual_router_id: {{ n // 2 + 1 }}
  role: {{ 'BACKUP' if n % 2 else 'MASTER' }}
  priority: {{ 100 - n % 2 }}
  vips: [10.200.{{ n // 2 }}.1]
"""


def say_executor_time(argv: list[str]) -> None:
    """Where the time goes: one more no-change run, as JSON, for each minion's time in the executor."""
    out = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=300)
    took = sorted(r["summary"]["duration_ms"] for r in json.loads(out.stdout)["minions"].values())
    say(f"{len(took)} minions: in the executor {statistics.median(took):.0f} ms per minion (median), "
        f"{sum(took) / 1000:.2f} s in all, run by 2 processes on the 2 cores the master uses too")


def hundred(tmp: Path) -> float:
    t0 = time.perf_counter()
    site = Site(tmp / "hundred", minions=tuple(HUNDRED))
    say(f"`hamaster init` with {len(HUNDRED)} minions: {time.perf_counter() - t0:.1f} s")
    fleet = None
    try:
        # the same tree as the pair's: three file.managed (page, nginx.conf, keepalived.conf), two
        # pkg.installed, two service.running. check: process, since keepalived -t would look for a check
        # script at its real path, not under the minion's root
        pillar = write_pillar(site.root, "m*", HUNDRED_PILLAR.replace("IFACE", interface())
                              + services(site.root, "process"))
        site.start_master()
        # two worker processes of 50 minions each, as in group scale; they share the 2 cores with the master
        half = len(HUNDRED) // 2
        fleet = Fleet([FleetSpec(site.root, HUNDRED[i:i + half], f"tcp://127.0.0.1:{site.port}", tmp / "fs", first=i)
                       for i in (0, half)])
        fleet.wait_connected(60)
        wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == len(HUNDRED), 30,
                 "every hello in the store")
        argv = [HAMASTER, "apply", str(REPO / "states"), "--pillar", str(pillar), "-c", site.config]
        n = len(HUNDRED)
        unchanged = f"{n} minions ({n} unchanged): Succeeded: {7 * n} (changed=0)  Failed: 0  No answer: 0"
        value = median_noop(argv, lambda out: unchanged in out, f"{n} minions")
        say_executor_time(argv)
        return value
    finally:
        if fleet is not None:
            fleet.close()
        site.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-apply-") as tmp:
        emit("apply_noop_pair_s", pair(Path(tmp)), "s")
        emit("apply_noop_100_s", hundred(Path(tmp)), "s")


if __name__ == "__main__":
    main()
