"""Rolling apply: BACKUPs first, one at a time, each back in BACKUP before the MASTER; stop at the first failure."""

from pathlib import Path

from hamaster.events import Event
from hamaster.master import store
from hamaster.master.cmd_apply import Plan, Wave, run_waves, wait_backup, waves_for
from hamaster.minion.executor import run_chunks
from hamaster.minion.statemods import Ctx

VRRP = {"node1": {"VI_1": ("MASTER", 100, 1)}, "node2": {"VI_1": ("BACKUP", 99, 1)}}


def test_backups_go_first_then_the_master_and_loners_before_both() -> None:
    assert waves_for(["node1", "node2", "web"], VRRP) == [
        Wave(["web"], {}), Wave(["node2"], {"node2": ["VI_1"]}), Wave(["node1"], {})]


def test_a_failed_backup_stops_the_run_and_leaves_the_master_untouched(tmp_path: Path) -> None:
    def plan(minion: str, command: str) -> Plan:
        chunk = {"key": "cmd|c", "id": "c", "fun": "cmd.run", "name": command, "args": {}, "req": {}}
        return Plan(minion, {"chunks": [chunk]}, [], None)

    plans = {"node2": plan("node2", "exit 1"), "node1": plan("node1", f"touch {tmp_path}/master-touched")}
    ran: list[str] = []

    def send(jobs: dict) -> dict:
        ran.extend(jobs)
        return {m: run_chunks(j["chunks"], Ctx(), [], m) for m, j in jobs.items()}

    results, notes = run_waves(waves_for(["node1", "node2"], VRRP), plans, send, wait=lambda waits: None)
    assert ran == ["node2"]
    assert results["node1"] is None and notes["node1"] == "not applied: rolling apply stopped at node2"
    assert not (tmp_path / "master-touched").exists()


def test_waiting_for_backup_reads_the_store(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    conn = store.connect(db)
    store.insert_events(conn, "node2", 1, [Event(1, 1, "vrrp", "vrrp/VI_1/FAULT", "VI_1", "FAULT", 99)])
    conn.commit()
    assert wait_backup(str(db), {"node2": ["VI_1"]}, 0.3) == "node2 VI_1 is FAULT, not back in BACKUP within 0.3 s"
    store.insert_events(conn, "node2", 2, [Event(2, 2, "vrrp", "vrrp/VI_1/BACKUP", "VI_1", "BACKUP", 99)])
    conn.commit()
    conn.close()
    assert wait_backup(str(db), {"node2": ["VI_1"]}, 5) is None
