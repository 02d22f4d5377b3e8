"""The store's disk fills up (a small tmpfs of our own): the master stops acking, says why, lives on, and
stores what the minion kept once space returns."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitelib import Site, fill_disk, wait_for

STORE = "disk/store.db"


@pytest.fixture
def small_disk(site: Site) -> Iterator[Path]:
    disk = site.root / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        site.close()  # nothing may hold the store when it goes
        subprocess.run(["umount", str(disk)], check=True)


def status(site: Site) -> dict:
    return json.loads(site.cli("status", "--json").stdout)


def test_a_full_store_stops_acks_and_resumes_by_itself(site: Site, small_disk: Path) -> None:
    cfg = Path(site.config)
    cfg.write_text(cfg.read_text().replace("store: store.db", f"store: {STORE}"))
    site.start_master()
    site.start_minion("node1")
    site.hook("node1", "INSTANCE", "VI_1", "BACKUP", "99")
    wait_for(lambda: site.count(store=STORE) == 1, 20, "the first event")

    filler = fill_disk(small_disk)
    for state in ("MASTER", "FAULT", "BACKUP"):
        assert site.hook("node1", "INSTANCE", "VI_1", state, "100").returncode == 0
    wait_for(lambda: status(site)["store"].get("writable") is False, 30, "status to say the store is full")
    assert site.master_proc is not None and site.master_proc.poll() is None
    text = site.cli("status").stdout
    assert "store: FULL" in text and "not acking" in text
    assert site.count(store=STORE) == 1
    assert "store full" in (site.root / "master.log").read_text()

    filler.unlink()
    wait_for(lambda: site.count(store=STORE) == 4, 60, "the minion's kept events once space returned")
    assert status(site)["store"] == {"writable": True}
    states = [s for (s,) in site.query("SELECT state FROM events WHERE kind = 'vrrp' ORDER BY seq", store=STORE)]
    assert states == ["BACKUP", "MASTER", "FAULT", "BACKUP"]
    assert site.master_proc.poll() is None
