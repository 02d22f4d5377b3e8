"""Node-side facts (hamaster.minion.keepalived), each read from inside a real lab node, as the minion does."""

import json
import sys

import pytest
from labtools import wait_until

from hamaster.lab.pair import Lab
from hamaster.minion import keepalived

pytestmark = pytest.mark.lab

SNIPPET = """
import json, sys
from hamaster.minion import keepalived as k
what = sys.argv[1]
if what == "dump":
    print(json.dumps({name: s.to_dict() for name, s in k.dump_state().items()}))
elif what == "pid":
    print(json.dumps(k.keepalived_pid()))
elif what == "vips":
    print(json.dumps(sorted(k.held_vips(sys.argv[2:]))))
"""


def in_node(lab: Lab, node: str, *args: str) -> object:
    proc = lab.run(node, [sys.executable, "-c", SNIPPET, *args], check=True)
    return json.loads(proc.stdout)


def test_each_node_dumps_its_own_keepalived_state(pair: Lab):
    node1, node2 = in_node(pair, "node1", "dump"), in_node(pair, "node2", "dump")
    assert node1["VI_1"]["state"] == "MASTER" and node1["VI_1"]["priority"] == 100
    assert node2["VI_1"]["state"] == "BACKUP" and node2["VI_1"]["priority"] == 90
    assert node1["VI_1"]["vips"] == node2["VI_1"]["vips"] == [pair.vip]
    assert node1["VI_1"]["interface"] == "eth0" and node1["VI_1"]["vrid"] == 51
    # each keepalived wrote into its own TMPDIR, not the shared /tmp
    for node in pair.nodes:
        assert (node.run / "tmp" / "keepalived.json").exists()


def test_the_dump_never_carries_the_vrrp_password(pair: Lab):
    raw = (pair.nodes[0].run / "tmp" / "keepalived.json")
    in_node(pair, "node1", "dump")
    assert "s3cr3tpw" in raw.read_text()  # keepalived itself writes it ...
    assert "s3cr3tpw" not in json.dumps(in_node(pair, "node1", "dump"))  # ... we never pass it on


def test_the_dump_follows_a_split_brain(pair: Lab):
    pair.block_vrrp("node2")
    wait_until(lambda: in_node(pair, "node2", "dump")["VI_1"]["state"] == "MASTER", 10, "node2 MASTER")
    assert in_node(pair, "node1", "dump")["VI_1"]["state"] == "MASTER"
    pair.unblock_vrrp("node2")
    wait_until(lambda: in_node(pair, "node2", "dump")["VI_1"]["state"] == "BACKUP", 10, "node2 BACKUP again")


def test_keepalived_pid_is_found_per_namespace_without_a_pid_file(pair: Lab):
    pids = {n.name: in_node(pair, n.name, "pid") for n in pair.nodes}
    assert pids == {n.name: int((n.run / "keepalived.pid").read_text()) for n in pair.nodes}
    assert keepalived.keepalived_pid(pair.nodes[0].run / "keepalived.pid") == pids["node1"]


def test_held_vips_tell_which_node_has_the_address(pair: Lab):
    assert in_node(pair, "node1", "vips", f"{pair.vip}/24", "192.0.2.1") == [pair.vip]
    assert in_node(pair, "node2", "vips", pair.vip) == []


def test_dump_without_keepalived_is_a_clear_error(lab: Lab):
    proc = lab.run("node1", [sys.executable, "-c", SNIPPET, "dump"])
    assert proc.returncode != 0
    assert "StateError: keepalived is not running in this network namespace" in proc.stderr


def test_versions_name_the_installed_daemons():
    found = keepalived.versions()
    assert found["keepalived"] and found["keepalived"][0].isdigit()
    assert found["nginx"] and found["nginx"][0].isdigit()
