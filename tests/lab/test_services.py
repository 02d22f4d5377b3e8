"""The services command line as a `service.running` state calls it: from inside the node, run dir from the env."""

import subprocess
import sys

import pytest
from labtools import wait_until

from hamaster.lab.pair import Lab
from hamaster.master.intake.probe import VipProbe

pytestmark = pytest.mark.lab

def service(lab: Lab, node: str, daemon: str, action: str, *extra: str) -> tuple[int, str]:
    proc = lab.run(node, [sys.executable, "-m", "hamaster.lab.services", daemon, action, *extra])
    return proc.returncode, (proc.stdout + proc.stderr).strip()

def test_nginx_start_status_reload_stop(lab: Lab):
    node1 = lab.nodes[0]
    assert service(lab, "node1", "nginx", "status") == (3, "nginx is stopped")
    code, out = service(lab, "node1", "nginx", "start")
    assert code == 0 and out.startswith("nginx started (pid ")
    assert service(lab, "node1", "nginx", "start")[1].startswith("nginx already running")
    assert VipProbe(node1.addr).ask() == "node1"

    (node1.etc / "nginx" / "html" / "index.html").write_text("renamed\n")
    assert service(lab, "node1", "nginx", "reload") == (0, "nginx reloaded")
    assert VipProbe(node1.addr).ask() == "renamed"  # static files need no reload, but the master survived one

    assert service(lab, "node1", "nginx", "stop") == (0, "nginx stopped")
    assert service(lab, "node1", "nginx", "status") == (3, "nginx is stopped")
    assert VipProbe(node1.addr).ask() is None

def test_keepalived_reload_applies_a_new_priority(pair: Lab):
    conf = pair.nodes[1].etc / "keepalived" / "keepalived.conf"
    conf.write_text(conf.read_text().replace("priority 90", "priority 110"))
    assert service(pair, "node2", "keepalived", "reload") == (0, "keepalived reloaded")
    wait_until(lambda: pair.holders() == ["node2"], 10, "node2 to preempt with priority 110")
    assert service(pair, "node2", "keepalived", "status")[0] == 0

def test_errors_are_one_line_and_a_nonzero_exit(lab: Lab):
    assert service(lab, "node1", "keepalived", "reload") == (
        1, f"keepalived reload: keepalived is not running (no live pid in {lab.nodes[0].run}/keepalived.pid)")
    (lab.nodes[0].etc / "keepalived" / "keepalived.conf").write_text("vrrp_instance {\n")
    code, out = service(lab, "node1", "keepalived", "start")
    assert code == 1
    assert out.startswith("keepalived start: /etc/keepalived/keepalived.conf fails keepalived's config test: ")
    assert len(out.splitlines()) == 1


def test_from_outside_the_node_with_netns_and_run_dir(lab: Lab):
    node = lab.nodes[1]
    argv = [sys.executable, "-m", "hamaster.lab.services", "nginx", "start", "--netns", node.netns,
            "--run-dir", str(node.run)]
    assert subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    assert VipProbe(node.addr).ask() == "node2"
