"""The hook stamps the moment keepalived spawned it, not the moment Python got to main.

Python's start-up is made slow on purpose (a sitecustomize that sleeps 1 s, imported before main): the event's
node time must still be the fork's: never before it, at most the clock tick the kernel rounds it to after it."""

import os
import time
from pathlib import Path

from sitelib import HOOK

SLOW_START_S = 1.0
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def fork_exec_hook(tmp_path: Path, *args: str) -> tuple[int, int, str]:
    """Fork and exec the hook as keepalived does; -> (ns before fork, ns after fork, the inbox line)."""
    slow = tmp_path / "slow"
    slow.mkdir(exist_ok=True)
    (slow / "sitecustomize.py").write_text(f"import time\ntime.sleep({SLOW_START_S})\n")
    config = tmp_path / "minion.yaml"
    config.write_text(f"spool_dir: {tmp_path / 'spool'}\n")
    env = {**os.environ, "PYTHONPATH": str(slow)}
    before = time.time_ns()
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(HOOK, [HOOK, "-c", str(config), *args], env)
        finally:
            os._exit(127)
    after = time.time_ns()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (event,) = (tmp_path / "spool" / "inbox").glob(f"*-{pid}.ev")
    return before, after, event.read_text()


def test_the_event_is_stamped_with_the_spawn_not_with_a_slow_python_start(tmp_path: Path) -> None:
    before, after, line = fork_exec_hook(tmp_path, "INSTANCE", "VI_1", "MASTER", "100")
    fields = line.rstrip("\n").split("\t")
    assert fields[0] == "1" and fields[2:] == ["INSTANCE", "VI_1", "MASTER", "100", "hook"]  # no clock note
    stamped = int(fields[1])
    assert before <= stamped <= after + TICK_NS, (
        f"stamped {(stamped - before) / 1e6:.1f} ms after the fork began: Python's start-up, not the spawn")


def test_the_time_at_main_is_still_there_for_measurements_and_says_so(tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("HAMINION_HOOK_CLOCK", "main")  # what bench/hook.py compares with
    before, _, line = fork_exec_hook(tmp_path, "INSTANCE", "VI_1", "BACKUP", "90")
    fields = line.rstrip("\n").split("\t")
    assert fields[0] == "2" and fields[-1] == "clock=main"
    assert int(fields[1]) >= before + SLOW_START_S * 1e9  # the sleep came before main
