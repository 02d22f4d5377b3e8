"""Group `hook`: the keepalived hook's whole-process cost, beside a bare Python start, and hook -> stored latency.

    hook_wall_ms          median wall time of `haminion-hook ...` (what keepalived.conf names; daemon up)
    hook_subcommand_ms    the same through `haminion hook ...` (pip's console-script wrapper imports `re`)
    python_startup_ms     median wall time of `python3 -c pass`, same interpreter, same run
    hook_vs_python        their ratio (target: at most 1.5)
    hook_to_stored_p50_ms / _p99_ms   from spawning the hook to the event committed in the master's store
    hook_time_error_p50_ms / _p99_ms  how far the event's node time is from the moment its parent forked it (as
                          keepalived does: fork + exec), taken as the parent's clock read around fork();
                          the hook's own clock (/proc start tick narrowed by schedstat)
    hook_time_error_{ticks,main}_p99_ms   the same for the start tick alone (midpoint) and for the time Python
                          reached main (what the hook stamped before), for comparison
    hook_time_error_loaded_p99_ms  spawn clock while two CPU burners compete for the cores
    lab_hook_time_error_p99_ms, lab_fifo_time_error_p99_ms   with real keepalived (root, keepalived installed):
                          node time of the hook's event, and the time a FIFO reader read keepalived's
                          notify_fifo line, against a notify script of our own that logs bash's $EPOCHREALTIME
                          first and then execs the hook (same process: its spawn is the script's spawn)
    lab_hook_main_time_error_p99_ms   the same for the time Python reached main (HAMINION_HOOK_CLOCK=main)
    lab_hook_minus_fifo_p50_ms, lab_hook_earlier_than_fifo   per transition both reported: the hook's stamp
                          minus the FIFO line's read time, and how often the hook's is the earlier (both can
                          only lag keepalived's moment, so the earlier is the nearer)
"""

import os
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import HAMINION, HOOK, Site, emit, median_wall_ms, percentile, sized, wait_for

RUNS, LATENCY_ROUNDS = sized(200, 3), sized(100, 5)
CLOCK_RUNS = sized(200, 5)


def hook_time_errors_ms(root: Path, clock: str, runs: int) -> list[float]:
    """Fork and exec the hook as keepalived does; the truth is the parent's clock just before fork()."""
    spool = root / f"clock-{clock}"
    config = root / f"clock-{clock}.yaml"
    config.write_text(f"spool_dir: {spool}\n")
    env = {**os.environ, "HAMINION_HOOK_CLOCK": clock}
    errors = []
    for i in range(runs):
        before = time.time_ns()
        pid = os.fork()
        if pid == 0:
            try:
                os.execve(HOOK, [HOOK, "-c", str(config), "INSTANCE", f"T_{i}", "MASTER", "100"], env)
            finally:
                os._exit(127)
        after = time.time_ns()  # the fork happened between `before` and here: no clock can tell nearer than that
        os.waitpid(pid, 0)
        (event,) = (spool / "inbox").glob(f"*-{pid}.ev")
        stamped = int(event.read_text().split("\t")[1])
        errors.append((stamped - before if stamped < before else max(0, stamped - after)) / 1e6)
        event.unlink()
    return errors


def lab_errors_ms(root: Path, clock: str, cycles: int = 4) -> tuple[list[float], list[float], list[float]]:
    """A real pair, node1 stopped and started `cycles` times; -> (hook - truth, FIFO read - truth, hook - FIFO
    read, for transitions both reported) in ms."""
    from hamaster.lab import services
    from hamaster.lab.pair import Lab

    truth_log, fifo_lines = root / "truth.log", []
    script = root / "notify.sh"
    script.write_text(f'#!/bin/bash\nnode=$1; shift\necho "$EPOCHREALTIME $node $*" >> {truth_log}\n'
                      f'HAMINION_HOOK_CLOCK={clock} exec {HOOK} -c {root}/$node.yaml "$@"\n')
    script.chmod(0o755)
    stop = threading.Event()
    with Lab.create(("node1", "node2"), workdir=root / "lab") as lab:
        fds = {}
        for node in lab.nodes:
            fifo = node.run / "keepalived.fifo"
            os.mkfifo(fifo)
            fds[os.open(fifo, os.O_RDWR | os.O_NONBLOCK)] = node.name

        def read_fifos() -> None:  # as the minion's FIFO reader does: stamp each line when it is read
            while not stop.is_set():
                for fd in select.select(list(fds), [], [], 0.1)[0]:
                    at = time.time_ns()
                    fifo_lines.extend((at, fds[fd], *line.split()) for line in os.read(fd, 65536).decode().splitlines())

        reader = threading.Thread(target=read_fifos, daemon=True)
        reader.start()
        for i, node in enumerate(lab.nodes):
            (root / f"{node.name}.yaml").write_text(f"spool_dir: {root}/spool-{node.name}\n")
            conf = services.keepalived_conf(vip=f"{lab.vip}/{lab.prefixlen}", priority=100 - 10 * i,
                                            notify=f'"{script} {node.name}"').replace(
                "script_user root", f"script_user root\n    notify_fifo {node.run / 'keepalived.fifo'}")
            lab.start_keepalived(node, conf)
        try:
            wait_for(lambda: lab.holders() == ["node1"], 20, "node1 to hold the VIP")
            for _ in range(cycles):
                lab.stop_keepalived("node1")
                wait_for(lambda: lab.holders() == ["node2"], 20, "node2 to take over")
                lab.start_keepalived("node1")
                wait_for(lambda: lab.holders() == ["node1"], 20, "node1 to take the VIP back")
            time.sleep(1)  # the last hooks finish
            measured_until = time.time_ns()  # the lab's teardown transitions have no FIFO reader: not counted
        finally:
            stop.set()
            reader.join()
            for fd in fds:
                os.close(fd)
    hooks = []
    for node in ("node1", "node2"):
        for ev in (root / f"spool-{node}" / "inbox").glob("*.ev"):
            f = ev.read_text().split("\t")
            hooks.append((int(f[1]), node, f[3], f[4]))
    hook_err, fifo_err, hook_vs_fifo = [], [], []
    for line in truth_log.read_text().splitlines():
        ts, node, _vtype, name, state = line.split()[:5]
        truth = int(ts.replace(".", "")) * 1000  # $EPOCHREALTIME: seconds with 6 decimals
        if truth > measured_until:
            continue
        near = [h[0] for h in hooks if h[1:] == (node, name, state)]
        fifo = [f[0] for f in fifo_lines if (f[1], f[3].strip('"'), f[4]) == (node, name, state)]
        hook_ns = min(near, key=lambda t: abs(t - truth)) if near else None
        fifo_ns = min(fifo, key=lambda t: abs(t - truth)) if fifo else None
        if hook_ns is not None:
            hook_err.append((hook_ns - truth) / 1e6)
        if fifo_ns is not None:
            fifo_err.append((fifo_ns - truth) / 1e6)
        if hook_ns is not None and fifo_ns is not None:
            hook_vs_fifo.append((hook_ns - fifo_ns) / 1e6)
    return hook_err, fifo_err, hook_vs_fifo


def lab_figures(root: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("keepalived"):
        print("# lab clock figures skipped: they need root and keepalived", file=sys.stderr)
        return
    for clock in ("spawn", "main"):
        (root / clock).mkdir()
        hook_err, fifo_err, hook_vs_fifo = lab_errors_ms(root / clock, clock, cycles=sized(4, 1))
        name = "lab_hook_time_error" if clock == "spawn" else "lab_hook_main_time_error"
        emit(f"{name}_p50_ms", percentile(hook_err, 50), "ms")
        emit(f"{name}_p99_ms", percentile([abs(e) for e in hook_err], 99), "ms")
        emit(f"{name}_n", len(hook_err), "transitions")
        if clock == "spawn":
            emit("lab_fifo_time_error_p50_ms", percentile(fifo_err, 50), "ms")
            emit("lab_fifo_time_error_p99_ms", percentile([abs(e) for e in fifo_err], 99), "ms")
            emit("lab_hook_minus_fifo_p50_ms", percentile(hook_vs_fifo, 50), "ms")
            emit("lab_hook_earlier_than_fifo", sum(d < 0 for d in hook_vs_fifo) / len(hook_vs_fifo), "fraction")


def clock_figures(root: Path) -> None:
    for clock in ("spawn", "ticks", "main"):
        errors = hook_time_errors_ms(root, clock, CLOCK_RUNS)
        suffix = "" if clock == "spawn" else f"_{clock}"
        if clock == "spawn":
            emit("hook_time_error_p50_ms", percentile(errors, 50), "ms")
        emit(f"hook_time_error{suffix}_p99_ms", percentile(errors, 99), "ms")
        emit(f"hook_time_error{suffix}_max_abs_ms", max(abs(e) for e in errors), "ms")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        errors = hook_time_errors_ms(root, "spawn", CLOCK_RUNS // 2)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    emit("hook_time_error_loaded_p99_ms", percentile(errors, 99), "ms")
    emit("hook_time_error_loaded_max_abs_ms", max(abs(e) for e in errors), "ms")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hamaster-bench-") as tmp:
        site = Site(Path(tmp) / "site", minions=("node1",))
        try:
            site.start_master()
            site.start_minion("node1")
            cfg = site.minion_config("node1")
            wait_for(lambda: site.count("SELECT COUNT(*) FROM minions") == 1, 20, "the minion's hello")
            python = median_wall_ms([sys.executable, "-c", "pass"], RUNS)
            hook = median_wall_ms([HOOK, "-c", cfg, "INSTANCE", "VI_1", "BACKUP", "100"], RUNS)
            subcommand = median_wall_ms([HAMINION, "hook", "-c", cfg, "INSTANCE", "VI_1", "BACKUP", "100"], RUNS)
            emit("python_startup_ms", python, "ms")
            emit("hook_wall_ms", hook, "ms")
            emit("hook_vs_python", hook / python, "ratio")
            emit("hook_subcommand_ms", subcommand, "ms")

            db = sqlite3.connect(f"file:{site.root / 'store.db'}?mode=ro", uri=True)
            latencies = []
            for i in range(LATENCY_ROUNDS):
                t0 = time.perf_counter()
                subprocess.run([HOOK, "-c", cfg, "INSTANCE", f"LAT_{i}", "MASTER", "100"], check=True)
                while not db.execute("SELECT 1 FROM events WHERE instance = ?", (f"LAT_{i}",)).fetchone():
                    if time.perf_counter() - t0 > 10:
                        raise SystemExit(f"hook {i}: not stored within 10 s")
                    time.sleep(0.0005)
                latencies.append((time.perf_counter() - t0) * 1000)
            db.close()
            emit("hook_to_stored_p50_ms", percentile(latencies, 50), "ms")
            emit("hook_to_stored_p99_ms", percentile(latencies, 99), "ms")
            clock_figures(Path(tmp))
            lab_figures(Path(tmp))
        finally:
            site.close()


if __name__ == "__main__":
    main()
