"""Reconciliation trusts only a dump it can vouch for: real keepalived in lab nodes, a real spool on disk.

A dump is used only when it is this keepalived's (its TMPDIR its own, written after our signal, by the process
signalled, with the instances its config has) and newer than the transition it would correct."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labtools import start_pair, wait_until, write_notify_script

from hamaster.core.errors import StateError
from hamaster.core.events import vrrp_tag
from hamaster.lab import services
from hamaster.lab.pair import Lab
from hamaster.minion import keepalived
from hamaster.minion.spool import NewEvent, Spool

pytestmark = pytest.mark.lab
BIN = Path(sys.executable).parent
HAMASTER, HAMINION = str(BIN / "hamaster"), str(BIN / "haminion")


def pid(lab: Lab, node: str) -> int:
    found = services.pid_of(services.KEEPALIVED, lab.node(node).run)
    assert found is not None
    return found


def reconcile_events(dump: keepalived.Dump) -> list[NewEvent]:
    """What the beacons thread hands the spool for a dump (minion/beacons.py)."""
    return [NewEvent(dump.written_ns, "vrrp", vrrp_tag(name, st.state), name, st.state, st.priority, "reconcile")
            for name, st in dump.instances.items()]


def hook(at_ns: int, state: str) -> NewEvent:
    return NewEvent(at_ns, "vrrp", vrrp_tag("VI_1", state), "VI_1", state, 100, "hook")


def test_a_dump_is_dated_by_keepalived_and_carries_this_nodes_instances(pair: Lab) -> None:
    before = time.time_ns()
    dump = keepalived.take_dump(pid(pair, "node1"))
    assert dump.pid == pid(pair, "node1") and dump.instances["VI_1"].state == "MASTER"
    assert dump.signalled_ns <= dump.written_ns <= time.time_ns()
    assert dump.written_ns >= before - 10_000_000  # the file clock is coarse: a tick behind at most
    assert keepalived.sharing_tmpdir(dump.pid) == []


def test_a_dump_older_than_the_last_transition_is_not_used(pair: Lab, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    first = spool.identity["first_seq"] + 1  # after the spool's own minion/spool/new
    assert spool.add([hook(time.time_ns() - 10**9, "BACKUP")]) == [first]  # what we recorded a second ago
    stale = keepalived.take_dump(pid(pair, "node1"))  # node1 is MASTER here
    assert spool.add([hook(time.time_ns(), "BACKUP")]) == [first + 1]  # a transition after keepalived wrote the dump
    assert spool.add(reconcile_events(stale)) == []  # MASTER would contradict it: not used, counted
    assert spool.stale_dumps == 1

    fresh = keepalived.take_dump(pid(pair, "node1"))  # written after the last transition: it corrects it
    [seq] = spool.add(reconcile_events(fresh))
    assert spool.db.execute("SELECT state, source, node_ns FROM spool WHERE seq = ?", (seq,)).fetchone() == \
        ("MASTER", "reconcile", fresh.written_ns)
    assert spool.stale_dumps == 1
    spool.close()


def test_a_dump_from_another_keepalived_in_a_shared_tmpdir_is_not_used(lab: Lab, tmp_path: Path) -> None:
    # node2's keepalived writes into node1's TMPDIR, as two keepalived without a private /tmp would
    node1, node2 = lab.node("node1"), lab.node("node2")
    (node1.run / "tmp").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(node2.run / "tmp", ignore_errors=True)
    (node2.run / "tmp").symlink_to(node1.run / "tmp")
    script = tmp_path / "notify.sh"
    write_notify_script(script, tmp_path / "transitions.log")
    start_pair(lab, script)

    for mine, other in (("node1", "node2"), ("node2", "node1")):
        with pytest.raises(keepalived.UntrustedDump) as caught:
            keepalived.take_dump(pid(lab, mine))
        assert caught.value.reason == "shared_tmpdir"
        assert f"with keepalived pid {pid(lab, other)}" in str(caught.value)
    assert "FIX  keepalived's TMPDIR" in doctor(lab, "node2", tmp_path)
    # what node2 would have read had it signalled its keepalived: node1's dump, node1's MASTER for its own
    os.kill(pid(lab, "node1"), keepalived.json_signal())
    there = node2.run / "tmp" / "keepalived.json"
    wait_until(lambda: there.exists() and there.read_text().rstrip().endswith("]"), 10, "node1's dump")
    assert keepalived.parse_dump(json.loads(there.read_text()))["VI_1"].base_priority == 100  # node2's is 90


def doctor(lab: Lab, node: str, tmp_path: Path) -> str:
    """`haminion doctor` inside `node`, with a minion folder made by `hamaster init`."""
    site = tmp_path / "site"
    if not site.exists():
        subprocess.run([HAMASTER, "init", str(site), "--master-addr", "127.0.0.1:1", "--minion", node], check=True,
                       capture_output=True, timeout=60)
    out = lab.run(node, [HAMINION, "doctor", "-c", str(site / "minions" / node / "minion.yaml")], timeout=30)
    return out.stdout + out.stderr


def test_doctor_passes_a_keepalived_with_its_own_tmpdir(pair: Lab, tmp_path: Path) -> None:
    out = doctor(pair, "node2", tmp_path)
    assert f"ok   keepalived's TMPDIR {pair.node('node2').run / 'tmp'} is its own" in out


def test_a_dump_whose_instances_are_not_this_configs_is_not_used(pair: Lab) -> None:
    # the config on disk says priority 90 -> 80, keepalived still runs 90 (not reloaded yet): its dump does not
    # describe the config this node has, as another node's dump would not
    conf = pair.node("node2").etc / "keepalived" / "keepalived.conf"
    conf.write_text(conf.read_text().replace("priority 90", "priority 80"))
    with pytest.raises(keepalived.UntrustedDump) as caught:
        keepalived.take_dump(pid(pair, "node2"))
    assert caught.value.reason == "instances_differ"
    assert "s3cr3tpw" not in str(caught.value)

    services.reload(services.KEEPALIVED, pair.node("node2").run)  # loaded: the dump is node2's again
    dump = wait_until(lambda: _trusted(pair, "node2"), 10, "node2's dump to match its reloaded config")
    assert dump.instances["VI_1"].base_priority == 80


def _trusted(lab: Lab, node: str) -> keepalived.Dump | None:
    try:
        return keepalived.take_dump(pid(lab, node))
    except keepalived.UntrustedDump:
        return None
    except StateError:  # a reload drops a signal that came while it re-read the config: ask again
        return None


def test_parsing_a_config_follows_includes_and_ignores_nested_priorities(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "vi2.conf").write_text("vrrp_instance VI_2 {\n virtual_router_id 52\n priority 90\n}\n")
    (tmp_path / "conf.d" / "vi3.conf").write_text("vrrp_instance VI_3 {\n virtual_router_id 53\n}\n")
    text = ("include /conf.d/vi2.conf\ninclude vi3.conf\n! a comment: vrrp_instance VI_9 {\n"
            "vrrp_instance VI_1 {\n  virtual_router_id 51\n  track_script {\n    chk priority 7\n  }\n"
            "  priority 150\n}\n")
    assert keepalived.configured_instances(text, tmp_path, "/conf.d") == \
        {"VI_1": (51, 150), "VI_2": (52, 90), "VI_3": (53, 100)}
