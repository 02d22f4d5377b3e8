"""The real states/ tree with the example pillar: it renders clean, and it runs for real under a file root
prefix with a test pillar on top (loopback interface, marker-file services), with real `keepalived -t` and
`nginx -t` as check_cmd."""

import shutil
from pathlib import Path

import pytest

from hamaster.master.states.rolling import plan_minion
from hamaster.master.states.pairlint import lint
from hamaster.minion.executor import run_chunks
from hamaster.minion.statemods import Ctx

REPO = Path(__file__).resolve().parents[2]
STATES = REPO / "states"


# keepalived -t wants an interface that exists and is not loopback; nothing is sent on it (nothing starts)
IFACE = next(p.name for p in sorted(Path("/sys/class/net").iterdir(), key=lambda p: p.name != "eth0")
             if p.name != "lo")


def service(marker: Path) -> dict[str, str]:
    return {"start": f"touch {marker}", "stop": f"rm -f {marker}", "status": f"test -e {marker}",
            "reload": f"echo reload >> {marker}.reloads"}


@pytest.fixture
def pillar_root(tmp_path: Path) -> Path:
    """The example pillar, then an override for this machine (last in top.sls, so it wins)."""
    root = tmp_path / "pillar"
    shutil.copytree(STATES / "pillar", root)
    run = tmp_path / "run"
    run.mkdir()
    with (root / "top.sls").open("a") as f:
        f.write("  'node*':\n    - here\n")
    (root / "here.sls").write_text(f"""
vrrp: {{interface: {IFACE}, vips: [10.250.0.100]}}
keepalived:
  check: process
  commands: {service(tmp_path / "keepalived.running")}
nginx:
  package: nginx-light
  root: /srv/www
  pid: ""
  run_dir: {run}
  commands: {service(tmp_path / "nginx.running")}
""")
    return root


def test_the_example_pillar_builds_the_seeds_pair() -> None:
    plans = {m: plan_minion(STATES, STATES / "pillar", m, {}, test=False) for m in ("node1", "node2")}
    assert lint({m: p.keepalived_conf for m, p in plans.items()}) == []
    node1, node2 = plans["node1"].keepalived_conf, plans["node2"].keepalived_conf
    assert "state MASTER" in node1 and "priority 100" in node1 and "192.168.16.130" in node1
    assert "state BACKUP" in node2 and "priority 99" in node2
    assert 'notify "/usr/local/bin/haminion-hook -c /etc/hamaster/minion.yaml"' in node1
    assert "notify_fifo /etc/hamaster/keepalived.fifo" in node1
    page = next(c for c in plans["node2"].job["chunks"] if c["id"] == "nginx_page")
    assert page["args"]["contents"] == "node2 192.168.16.129\n"
    assert plans["node1"].secrets == ["1111"]
    assert [c["id"] for c in plans["node1"].job["chunks"]] == [
        "nginx", "nginx_page", "nginx_conf", "nginx_service", "keepalived", "check_nginx_script",
        "keepalived_conf", "keepalived_service"]


def test_the_tree_applies_then_has_nothing_to_change(tmp_path: Path, pillar_root: Path) -> None:
    prefix = tmp_path / "node1"

    def apply(test: bool) -> dict:
        plan = plan_minion(STATES, pillar_root, "node1", {}, test)
        return run_chunks(plan.job["chunks"], Ctx(test=test, prefix=prefix), plan.secrets, "node1")

    dry = apply(test=True)
    assert dry["summary"]["failed"] == 0 and dry["summary"]["changed"] == 5, [s["comment"] for s in dry["states"]]
    assert not prefix.exists() and not (tmp_path / "nginx.running").exists()

    first = apply(test=False)
    assert first["summary"] == {**first["summary"], "failed": 0, "changed": 5}, first["states"]
    conf = (prefix / "etc/keepalived/keepalived.conf").read_text()
    assert "vrrp_track_process chk_nginx" in conf and "auth_pass 1111" in conf
    assert (prefix / "srv/www/index.html").read_text() == "node1 192.168.16.128\n"
    assert (tmp_path / "keepalived.running").exists()

    second = apply(test=False)
    assert second["summary"]["changed"] == 0 and second["summary"]["failed"] == 0


def test_a_config_keepalived_rejects_is_not_installed(tmp_path: Path, pillar_root: Path) -> None:
    prefix = tmp_path / "node1"
    good = plan_minion(STATES, pillar_root, "node1", {}, False)
    run_chunks(good.job["chunks"], Ctx(prefix=prefix), [], "node1")
    before = (prefix / "etc/keepalived/keepalived.conf").read_text()
    (pillar_root / "here.sls").write_text((pillar_root / "here.sls").read_text().replace(
        f"interface: {IFACE}", f"interface: {IFACE}, virtual_router_id: 300"))
    bad = plan_minion(STATES, pillar_root, "node1", {}, False)
    result = {s["id"]: s for s in run_chunks(bad.job["chunks"], Ctx(prefix=prefix), [], "node1")["states"]}
    assert result["keepalived_conf"]["result"] is False
    assert "check_cmd failed" in result["keepalived_conf"]["comment"]
    assert result["keepalived_service"]["comment"] == "One or more requisite failed: file: keepalived_conf"
    assert (prefix / "etc/keepalived/keepalived.conf").read_text() == before
