"""Rolling apply: the BACKUPs of all pairs first (with the minions in no pair), each back in BACKUP before the
MASTERs go; never both members of a pair at once; stop at the first failure."""

from pathlib import Path

from hamaster.core.events import Event
from hamaster.master import store
from hamaster.master.states.rolling import Plan, Wave, run_waves, wait_backup, waves_for
from hamaster.minion.executor import run_chunks
from hamaster.minion.statemods import Ctx

VRRP = {"node1": {"VI_1": ("MASTER", 100, 1)}, "node2": {"VI_1": ("BACKUP", 99, 1)}}


def test_backups_and_loners_go_first_then_the_master() -> None:
    assert waves_for(["node1", "node2", "web"], VRRP) == [
        Wave(["node2", "web"], {"node2": ["VI_1"]}), Wave(["node1"], {})]


def test_500_pairs_roll_in_two_waves() -> None:
    vrrp = {f"m{i:04d}": {f"VI_{i // 2}": ("BACKUP" if i % 2 else "MASTER", 100, 1)} for i in range(1000)}
    first, second = waves_for(sorted(vrrp), vrrp)
    assert first.minions == [f"m{i:04d}" for i in range(1, 1000, 2)]
    assert first.wait_backup == {m: [f"VI_{int(m[1:]) // 2}"] for m in first.minions}
    assert second == Wave([f"m{i:04d}" for i in range(0, 1000, 2)], {})


def test_peers_are_never_in_flight_together() -> None:
    vrrp = {
        "a1": {"VI_A": ("MASTER", 101, 1), "VI_B": ("BACKUP", 100, 2)},  # active-active: each holds one VIP
        "a2": {"VI_A": ("BACKUP", 100, 1), "VI_B": ("MASTER", 101, 2)},
        "n1": {"VI_N": ("BACKUP", 100, 3)}, "n2": {"VI_N": ("FAULT", 100, 3)},  # a pair with no MASTER
        "s1": {"VI_S": ("MASTER", 100, 4)}, "s2": {"VI_S": ("MASTER", 100, 4)},  # split brain
        "web": {},
    }
    waves = waves_for(sorted(vrrp), vrrp)
    assert waves == [Wave(["n1", "web"], {"n1": ["VI_N"]}),
                     Wave(["a1", "n2", "s1"], {"a1": ["VI_B"], "n2": ["VI_N"]}),
                     Wave(["a2", "s2"], {"a2": ["VI_A"]})]


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
