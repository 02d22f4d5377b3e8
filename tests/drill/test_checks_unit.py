"""`hamaster check`'s findings from a site's picture, case by case (the lab tests plant the faults for real;
here each kind of picture a store can hold, with no node to ask: no address, so no page is fetched)."""

import hashlib
from typing import Any

from hamaster.core.incidents import Incident
from hamaster.core.timeutil import now_ns
from hamaster.master.drills.checks import drift_findings, findings
from hamaster.master.drills.snapshot import Snapshot
from hamaster.master.store.drills import DrainMark

NOW_ISH = now_ns()  # the last drill: just now


def snap(states: dict[str, str], *, online: dict[str, bool] | None = None, configs: dict[str, Any] | None = None,
         status: dict[str, Any] | None = None, **kw: Any) -> Snapshot:
    vrrp = {m: {"VI_1": (s, 100, 0)} for m, s in states.items()}
    return Snapshot(vrrp, online if online is not None else dict.fromkeys(states, True), {m: {} for m in states},
                    kw.get("drained", {}), configs or {}, [("10.0.0.100", tuple(states))], status or {},
                    kw.get("standing", []))


def problems(s: Snapshot) -> list[tuple[str, str | None, str]]:
    return [(f.severity, f.node, f.problem) for f in findings(s, NOW_ISH) if f.severity != "info"]


def test_a_healthy_pair_has_nothing_to_say() -> None:
    assert problems(snap({"node1": "MASTER", "node2": "BACKUP"})) == []


def test_no_master_two_masters_and_a_backup_in_fault() -> None:
    assert [p[2] for p in problems(snap({"node1": "BACKUP", "node2": "BACKUP"}))] == [
        "VI_1 has no MASTER: nobody serves its VIPs"]
    assert [p[2] for p in problems(snap({"node1": "MASTER", "node2": "MASTER"}))] == [
        "VI_1 has two MASTERs (node1, node2): split brain"]
    assert problems(snap({"node1": "MASTER", "node2": "FAULT"})) == [("error", "node2", "node2 is in FAULT")]


def test_a_minion_gone_or_drained_is_said_once_with_what_to_do() -> None:
    gone = findings(snap({"node1": "MASTER", "node2": "BACKUP"}, online={"node1": True, "node2": False}), NOW_ISH)
    [f] = [f for f in gone if f.severity == "error"]
    assert f.node == "node2" and "haminion doctor" in f.todo
    drained = snap({"node1": "BACKUP", "node2": "MASTER"},
                   drained={"node1": DrainMark("node1", True, 0, "j", ("VI_1",))})
    assert problems(drained) == [("warning", "node1", "node1 is drained: it will not take over")]


def test_the_minions_own_troubles_from_its_pings() -> None:
    status = {"minions": {"node2": {"online": True, "spool": "disk full", "reconcile_skipped": 3}}}
    found = problems(snap({"node1": "MASTER", "node2": "BACKUP"}, status=status))
    assert [(s, n) for s, n, _ in found] == [("error", "node2"), ("warning", "node2")]
    assert "disk full" in found[0][2] and "skipped 3" in found[1][2]


def facts(vrid: int, vips: list[str], priority: int, tracked: dict[str, int]) -> dict[str, Any]:
    return {"instances": {"VI_1": {"vrid": vrid, "vips": vips, "priority": priority, "tracked": tracked}}}


def test_live_configs_that_differ_or_a_weight_that_cannot_flip_mastership() -> None:
    configs = {"node1": facts(66, ["10.0.0.100"], 100, {"chk_nginx": 2, "hamaster_drain": -50}),
               "node2": facts(67, ["10.0.0.101"], 40, {"chk_nginx": 2, "hamaster_drain": -50})}
    found = problems(snap({"node1": "MASTER", "node2": "BACKUP"}, configs=configs))
    assert [p[2].split(":")[0] for p in found] == ["virtual_router_id differ between the live configs",
                                                  "VIPs differ between the live configs",
                                                  "chk_nginx weight 2 cannot flip mastership",
                                                  "hamaster_drain weight -50 cannot flip mastership"]
    assert "gap 60" in found[-1][2]


def test_live_configs_whose_authentication_differs_say_so_without_the_secret() -> None:
    from hamaster.core import keepalived_conf

    def live(password: str) -> dict[str, Any]:
        return keepalived_conf.facts(keepalived_conf.parse(
            "vrrp_instance VI_1 {\n virtual_router_id 66\n priority 100\n authentication {\n auth_type PASS\n"
            f" auth_pass {password}\n }}\n virtual_ipaddress {{\n 10.0.0.100\n }}\n}}\n"))
    same = problems(snap({"node1": "MASTER", "node2": "BACKUP"}, configs={"node1": live("s3cr3t"),
                                                                          "node2": live("s3cr3t")}))
    assert not [p for p in same if "authentication" in p[2]]
    found = problems(snap({"node1": "MASTER", "node2": "BACKUP"}, configs={"node1": live("s3cr3t"),
                                                                           "node2": live("s3cr3T")}))
    [auth] = [p for p in found if "authentication" in p[2]]
    assert auth[0] == "error" and "node1, node2" in auth[2] and "s3cr3" not in str(found)


def test_standing_incidents_a_stale_vip_and_a_clock_off() -> None:
    standing = [Incident("stale_vip", "VI_1", 0, "node2 still holds VIP 10.0.0.100 on eth0 while BACKUP", "k1",
                         nodes=["node2"]),
                Incident("clock_offset", None, 0, "node1's clock is 5.0 s fast", "k2", nodes=["node1"])]
    found = findings(snap({"node1": "MASTER", "node2": "BACKUP"}, standing=standing), NOW_ISH)
    assert [(f.severity, f.node) for f in found if f.severity != "info"] == [("error", "node2"), ("warning", "node1")]


def test_no_drill_yet_is_info_and_an_old_one_a_warning() -> None:
    s = snap({"node1": "MASTER", "node2": "BACKUP"})
    assert [(f.severity, f.problem) for f in findings(s, None)] == [
        ("info", "no drill yet: failover is not proven here")]
    assert [f.severity for f in findings(s, 1)] == ["warning"]  # 1970


def test_drift_is_a_live_config_whose_sha256_is_not_the_rendered_ones() -> None:
    rendered = "vrrp_instance VI_1 {}\n"
    configs = {"node1": {"sha256": hashlib.sha256(rendered.encode()).hexdigest(), "path": "/etc/k.conf"},
               "node2": {"sha256": "0" * 64, "path": "/etc/k.conf"}}
    s = snap({"node1": "MASTER", "node2": "BACKUP"}, configs=configs)
    [f] = drift_findings(s, {"node1": rendered, "node2": rendered, "node3": None}, "hamaster apply states")
    assert f.node == "node2" and "differs from what `hamaster apply` would write" in f.problem
    assert "hamaster apply states -t node2 --test" in f.todo
