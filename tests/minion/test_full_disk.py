"""A full disk under the spool loses no event and kills no daemon (a small tmpfs, real hooks, a real minion).

Before: 78 hooks exited 0 with 37 events lost (only the hook's stderr said so), and the minion daemon died on
"database or disk is full" and stayed down."""

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitelib import Site, fill_disk, wait_for

HOOKS_WHILE_FULL = 30
FIFO_WHILE_FULL = 5


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of our own, unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def status(site: Site) -> dict:
    return json.loads(site.cli("status", "--json").stdout)["minions"].get("node1", {})


def test_a_full_spool_disk_loses_nothing_and_the_daemon_rides_it_out(site: Site, small_disk: Path,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAMINION_FALLBACK", str(tmp_path / "run-fallback"))  # stands for /run, for hooks and minion
    config = Path(site.minion_config("node1"))
    config.write_text(config.read_text().replace("spool_dir: spool", f"spool_dir: {small_disk / 'spool'}"))
    fifo = site.start_with_fifo("node1")
    for i in range(3):
        assert site.hook("node1", "INSTANCE", f"BEFORE_{i}", "BACKUP", "100").stderr == ""
    wait_for(lambda: site.count() == 3, 20, "the events before the disk fills")

    filler = fill_disk(small_disk)
    outcomes = [site.hook("node1", "INSTANCE", f"FULL_{i}", "MASTER", "100") for i in range(HOOKS_WHILE_FULL)]
    assert all(p.returncode == 0 for p in outcomes)
    assert all("the event is kept in the fallback spool" in p.stderr for p in outcomes), outcomes[0].stderr
    with open(fifo, "w") as f:  # keepalived's own FIFO lines, while the spool cannot take them
        for i in range(FIFO_WHILE_FULL):
            f.write(f'INSTANCE "FIFO_{i}" MASTER 100\n')
    wait_for(lambda: status(site).get("spool") == "disk full", 20, "the minion telling the master its disk is full")
    minion = site.minion_procs["node1"]
    assert minion.poll() is None, "the minion daemon died of the full disk"

    filler.unlink()  # room again
    expected = 3 + HOOKS_WHILE_FULL + FIFO_WHILE_FULL
    wait_for(lambda: site.count() == expected, 30, f"all {expected} events stored")
    names = {n for (n,) in site.query("SELECT instance FROM events WHERE kind = 'vrrp'")}
    assert names == {f"BEFORE_{i}" for i in range(3)} | {f"FULL_{i}" for i in range(HOOKS_WHILE_FULL)} | {
        f"FIFO_{i}" for i in range(FIFO_WHILE_FULL)}
    # each event that went the fallback way says why, and the episode itself is on record
    noted = dict(site.query("SELECT instance, json_extract(data, '$.fallback') FROM events"
                            " WHERE json_extract(data, '$.fallback') IS NOT NULL"))
    assert set(noted) == names - {f"BEFORE_{i}" for i in range(3)}
    assert all("No space left on device" in noted[f"FULL_{i}"] for i in range(HOOKS_WHILE_FULL)), noted
    assert all(noted[f"FIFO_{i}"] == "spool disk full" for i in range(FIFO_WHILE_FULL)), noted
    wait_for(lambda: site.count("SELECT COUNT(*) FROM events WHERE tag = 'minion/spool/full'") == 1, 20,
             "the minion/spool/full event")
    wait_for(lambda: status(site).get("spool") == "ok", 20, "the minion saying its spool has room again")
    assert minion.poll() is None
    log = (site.root / "minion-node1.log").read_text()
    assert "disk full" in log and "has room again" in log

    filler = fill_disk(small_disk)  # full again, and this time the daemon crashes and starts on the full disk
    site.stop(minion, signal.SIGKILL)
    minion = site.start_minion("node1")
    for i in range(3):
        assert "fallback" in site.hook("node1", "INSTANCE", f"AFTER_CRASH_{i}", "FAULT", "100").stderr
    wait_for(lambda: status(site).get("spool") == "disk full", 20, "the restarted minion reporting the full disk")
    filler.unlink()
    wait_for(lambda: site.count() == expected + 3, 30, "the events fired while the restarted minion waited")
    assert minion.poll() is None
