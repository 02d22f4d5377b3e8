"""A lab leaves nothing behind: not on close, not on an exception, not on SIGTERM, and lab-clean covers crashes."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from labtools import wait_until

from hamaster.lab import netns
from hamaster.lab.netns import LabError
from hamaster.lab.pair import Lab

pytestmark = pytest.mark.lab


def traces(lab_id: str) -> list[str]:
    """Everything on this machine that carries the lab's id."""
    found = [f"netns {n}" for n in netns.list_netns() if lab_id in n]
    found += [f"link {n}" for n in netns.list_links("hm") if lab_id in n]
    found += [f"dir {p}" for p in Path("/etc/netns").glob(f"*{lab_id}*")]
    found += [f"record {p}" for p in netns.RUN_ROOT.glob(f"{lab_id}*")]
    return found


def connects(lab: Lab, node: str, addr: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(({addr!r}, {port}), timeout=1).close()"
    return lab.run(node, [sys.executable, "-c", code]).returncode == 0


def alive(pid: int) -> bool:
    return netns.process_start_time(pid) is not None


def test_close_removes_namespaces_links_dirs_and_every_process(tmp_path: Path):
    with Lab.create(("node1", "node2"), workdir=tmp_path) as lab:
        lab.start_nginx("node1")
        sleeper = lab.spawn("node2", ["sleep", "60"])
        pids = [pid for node in lab.nodes for pid in netns.netns_pids(node.netns)]
        assert len(pids) >= 3  # nginx master and worker, sleep
        assert len(traces(lab.names.id)) == 2 + 1 + 2 + 2 + 1  # netns, bridge, veths, etc dirs, record
    assert traces(lab.names.id) == []
    assert not any(alive(p) for p in pids)
    assert sleeper.returncode is not None


def test_an_exception_inside_the_lab_still_tears_it_down():
    with pytest.raises(RuntimeError, match="boom"), Lab.create(("a",)) as lab:
        raise RuntimeError("boom")
    assert traces(lab.names.id) == []


def test_sigterm_to_the_owner_tears_the_lab_down(tmp_path: Path):
    script = textwrap.dedent("""
        import sys, time
        from hamaster.lab.pair import Lab
        lab = Lab.create(("node1",))
        lab.start_nginx("node1")
        print(lab.names.id, flush=True)
        time.sleep(60)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as owner:
        lab_id = owner.stdout.readline().strip()
        assert traces(lab_id)
        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=20) == 128 + signal.SIGTERM
    assert traces(lab_id) == []


def test_lab_clean_removes_a_crashed_lab_and_leaves_a_live_one_alone(tmp_path: Path):
    crash = textwrap.dedent("""
        import os
        from hamaster.lab.pair import Lab
        lab = Lab.create(("node1", "node2"))
        lab.start_nginx("node1")
        print(lab.names.id, flush=True)
        os._exit(9)  # no atexit, no finally: what a kill -9 or a power cut leaves
    """)
    crashed = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=30)
    crashed_id = crashed.stdout.strip()
    assert crashed.returncode == 9 and traces(crashed_id)
    nginx_pids = [p for ns in netns.list_netns() if crashed_id in ns for p in netns.netns_pids(ns)]
    assert nginx_pids

    with Lab.create(("node1",), workdir=tmp_path) as live:
        removed = netns.clean_leftovers()
        assert f"lab {crashed_id}" in removed
        assert not any(live.names.id in r for r in removed)
        assert len(traces(live.names.id)) == 5
        assert live.run("node1", ["true"]).returncode == 0
    assert traces(crashed_id) == []
    wait_until(lambda: not any(alive(p) for p in nginx_pids), 5, "the crashed lab's nginx to be gone")


def test_two_labs_get_different_names_and_subnets_within_linux_limits():
    with Lab.create(("node1", "node2")) as one, Lab.create(("node1", "node2")) as two:
        assert one.names.id != two.names.id and one.names.subnet != two.names.subnet
        assert {n.netns for n in one.nodes}.isdisjoint(n.netns for n in two.nodes)
        for lab in (one, two):
            assert all(len(name) <= 15 for name in [lab.names.bridge, lab.names.veth(1), lab.names.veth(2)])
        # a node reaches a listener on its own lab's bridge address (where the master listens), not the other's
        with socket.create_server((one.bridge_addr, 0)) as master:
            port = master.getsockname()[1]
            assert connects(one, "node1", one.bridge_addr, port)
            assert not connects(two, "node1", one.bridge_addr, port)


@pytest.mark.parametrize("nodes", [(), ("node1", "node1"), ("bad name",), ("x" * 40,)])
def test_bad_node_names_are_refused_before_anything_is_built(nodes: tuple[str, ...]):
    before = netns.list_netns()
    with pytest.raises(LabError, match="node names must be"):
        Lab.create(nodes)
    assert netns.list_netns() == before


def test_the_owner_record_survives_pid_reuse():
    names = netns.LabNames("zzzzzz", ("n",), "10.1.2.0/24", os.getpid(), 1)  # right pid, wrong start time
    assert not netns.owner_alive(names)
