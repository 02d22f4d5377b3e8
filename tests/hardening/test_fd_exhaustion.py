"""1,500 idle TCP connections (the ZMTP signature, then nothing) at a 1,024-fd limit: the master keeps
serving `hamaster status` and its minions. Without the guard, libzmq aborts on accept() of the control socket."""

import json
import socket
from pathlib import Path

import pytest
from sitelib import HAMASTER, Site, wait_for

SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"  # what a ZMTP 3 peer sends first


def fd_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line")


def flood(port: int, n: int) -> list[socket.socket]:
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(SIGNATURE)
        conns.append(s)
    return conns


@pytest.mark.parametrize("limit", ["1024:1024", "1024:4096"])
def test_idle_connections_at_the_fd_limit_starve_neither_status_nor_minions(site: Site, limit: str) -> None:
    site.master_proc = site._spawn(["prlimit", f"--nofile={limit}", HAMASTER, "master", "-c", site.config],
                                   "master.log")
    wait_for(lambda: (site.root / "control.sock").exists(), 10, "the master's control socket")
    soft, hard = fd_limits(site.master_proc.pid)
    assert soft == hard == int(limit.split(":")[1])  # the soft limit raised to the hard one at start
    site.start_minion("node1")
    site.hook("node1", "INSTANCE", "VI_1", "BACKUP", "99")
    wait_for(lambda: site.count() == 1, 20, "the first event")

    conns = flood(site.port, 1500)
    try:
        status = json.loads(site.cli("status", "--json").stdout)
        assert status["master"] == "up" and status["minions"]["node1"]["online"]
        site.hook("node1", "INSTANCE", "VI_1", "MASTER", "100")
        wait_for(lambda: site.count() == 2, 30, "an event while the flood holds its connections")
        if hard == 1024:  # no room to raise the limit: the guard must have shed connections over its bound
            assert status["refused"].get("unauthenticated_bound", 0) > 0
        assert site.master_proc.poll() is None
    finally:
        for c in conns:
            c.close()
    assert json.loads(site.cli("status", "--json").stdout)["master"] == "up"
