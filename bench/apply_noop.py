"""apply_noop_pair_s: the whole `hamaster apply` CLI process on a pair with nothing to change.

A throw-away site on loopback (master and two minions as real processes, files under per-minion roots);
the real states/ tree with a pillar fit for this machine; applied once, then timed (median of 7 runs).
Usage: python bench/apply_noop.py   -> prints `apply_noop_pair_s VALUE s`
"""

import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
RUNS = 7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="hamaster-bench-apply-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([BIN / "hamaster", "init", root, "--master-addr", f"127.0.0.1:{free_port()}",
                        "--minion", "node1", "--minion", "node2"], check=True, capture_output=True)
        pillar = root / "pillar"
        shutil.copytree(REPO / "states" / "pillar", pillar)
        with (pillar / "top.sls").open("a") as f:
            f.write("  'node*':\n    - here\n")
        iface = next(p.name for p in sorted(Path("/sys/class/net").iterdir()) if p.name != "lo")

        def svc(name: str) -> str:  # marker files stand for the daemons: the bench times apply, not keepalived
            m = root / f"{name}.running"
            return f"{{start: 'touch {m}', stop: 'rm -f {m}', status: 'test -e {m}', reload: 'true'}}"

        (root / "run").mkdir()
        (pillar / "here.sls").write_text(
            f"vrrp: {{interface: {iface}}}\n"
            f"keepalived: {{check: process, commands: {svc('keepalived')}}}\n"
            f"nginx: {{package: nginx-light, root: /srv/www, pid: '', run_dir: {root / 'run'}, "
            f"commands: {svc('nginx')}}}\n")
        for m in ("node1", "node2"):
            with open(root / "minions" / m / "minion.yaml", "a") as f:
                f.write("file_root_prefix: root\n")
        procs.append(subprocess.Popen([BIN / "hamaster", "master", "-c", root / "master.yaml"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for m in ("node1", "node2"):
            procs.append(subprocess.Popen([BIN / "haminion", "run", "-c", root / "minions" / m / "minion.yaml"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = sqlite3.connect(f"file:{root / 'store.db'}?mode=ro", uri=True)
                try:
                    if conn.execute("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL").fetchone()[0] == 2:
                        break
                finally:
                    conn.close()
            except sqlite3.Error:
                pass
            time.sleep(0.1)
        argv = [BIN / "hamaster", "apply", REPO / "states", "--pillar", pillar, "-c", root / "master.yaml"]
        subprocess.run(argv, check=True, capture_output=True)  # the first run makes the changes
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            out = subprocess.run(argv, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if out.returncode != 0 or out.stdout.count("(changed=0)") != 2:
                raise SystemExit(f"apply did not find the pair unchanged:\n{out.stdout}{out.stderr}")
        print(f"apply_noop_pair_s {statistics.median(times):.3f} s")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
