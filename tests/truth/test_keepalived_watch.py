"""The minion's keepalived watch on real processes: a process named keepalived in this network namespace (a
copy of sleep; the lab tests do the same with the real keepalived), killed -9: the down event comes at once,
dated by the node's clock at the kernel's wake-up, not at the next look."""

import shutil
import signal
import subprocess
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
