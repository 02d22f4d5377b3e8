"""The minion's keepalived watch on real processes: a process named keepalived in this network namespace (a
copy of sleep; the lab tests do the same with the real keepalived), killed -9: the down event comes at once,
dated by the node's clock at the kernel's wake-up, not at the next look."""

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hamaster.minion import keepalived
from hamaster.minion.beacons import KeepalivedWatch
from hamaster.minion.spool import NewEvent


def test_a_killed_keepalived_is_reported_down_with_its_time(tmp_path: Path) -> None:
    if keepalived.keepalived_pid() is not None:
        pytest.skip("a keepalived runs in this network namespace already")
    fake = tmp_path / "keepalived"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake)
    events: list[NewEvent] = []
    got = threading.Condition()

    def submit(ev: NewEvent) -> None:
        with got:
            events.append(ev)
            got.notify_all()

    stopping = threading.Event()
    watch = KeepalivedWatch(60.0, submit, stopping)  # a look a minute: only the pidfd can be this quick
    proc = subprocess.Popen([str(fake), "600"])
    try:
        deadline = time.monotonic() + 10
        while keepalived.keepalived_pid() != proc.pid:
            assert time.monotonic() < deadline, "the fake keepalived is not found"
            time.sleep(0.02)
        watch.start()
        with got:
            assert got.wait_for(lambda: events, 10), "no keepalived/up"
        assert events[0].tag == "beacon/keepalived/up" and events[0].data["pid"] == proc.pid
        killed = time.time_ns()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with got:
            assert got.wait_for(lambda: len(events) >= 2, 10), "no keepalived/down"
    finally:
        stopping.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watch.join(5)
    down = events[1]
    assert down.tag == "beacon/keepalived/down" and down.data == {"pid": proc.pid, "died": True}
    assert killed <= down.node_ns < killed + 30 * 10**9  # the node's own time, after the kill (60 s between looks)


@pytest.mark.skipif(not shutil.which("faketime"), reason="needs faketime (apt-get install faketime)")
def test_the_hooks_spawn_time_and_the_minions_start_are_right_under_faketime() -> None:
    """faketime gives CLOCK_BOOTTIME the faked wall time too: a fork dated on it landed in 1970 (the master
    then replaced every hook time of a node under faketime by its receipt time, up to 1.7 s late)."""
    code = ("import time; from hamaster.minion.hook import spawn_time_ns; from hamaster.minion.beacons import"
            " process_started_ns; print(time.time_ns(), spawn_time_ns()[0], process_started_ns())")
    out = subprocess.run(["faketime", "-f", "+5s", sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    now, spawned, started = (int(x) for x in out)
    assert now - 60 * 10**9 < spawned <= now and now - 60 * 10**9 < started <= now  # in the faked clock, not 1970
