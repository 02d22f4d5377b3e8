"""The seed's drill on a LabSite, step by step, with what the probe and the master saw at each step.

    1. the VIP serves node1's page
    2. nginx stopped on node1: the check script starts it again, the VIP stays on node1 (no failover)
    3. node1 is switched off: the VIP serves node2's page
    4. node1 boots again and takes the VIP back

`run_drill(site, on_step)` calls `on_step(step)` as each step begins and ends (the demo prints them); `failovers()`
pairs each failover incident the correlator derived with the outage the probe saw for it.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hamaster.core.timeutil import now_ns
from hamaster.lab import services
from hamaster.lab.netns import LabError
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.intake.probe import VipProbe, handovers


@dataclass
class Step:
    name: str
    doing: str  # what we do, said as it starts
    started_ns: int = 0
    ended_ns: int | None = None
    outcome: str = ""  # what was seen, said as it ends
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failover:
    incident_id: int
    old: str
    new: str
    started_ns: int
    incident_gap_ns: int | None  # the correlator's account: time with no MASTER
    probe_gap_ns: int | None  # ground truth: time the VIP answered nobody (None: no matching handover seen)
    gap_range_ns: tuple[int, int] | None = None  # a death nobody saw: the bracket the gap lies in


OnStep = Callable[[Step], None]


def _answer(site: LabSite) -> str | None:
    return VipProbe(site.lab.vip, timeout=1.0, nodes=[n.name for n in site.lab.nodes]).ask()


def run_drill(site: LabSite, on_step: OnStep = lambda step: None, first: str = "node1",
              second: str = "node2") -> list[Step]:
    steps: list[Step] = []

    def step(name: str, doing: str, act: Callable[[Step], str]) -> None:
        s = Step(name, doing, started_ns=now_ns())
        steps.append(s)
        on_step(s)
        s.outcome = act(s)
        s.ended_ns = now_ns()
        on_step(s)

    def serves_first(s: Step) -> str:
        site.wait_probe(first, timeout=20)
        s.facts["answered"] = answered = _answer(site)
        return f"http://{site.lab.vip}/ answers {answered}'s page"

    def nginx_restart(s: Step) -> str:
        run = site.lab.node(first).run
        old_pid = services.pid_of(services.NGINX, run)
        site.lab.stop_nginx(first)
        new_pid = wait_until(lambda: services.pid_of(services.NGINX, run), 15, f"{first}'s check script to start nginx")
        s.facts.update(old_pid=old_pid, new_pid=new_pid, restarted_after_s=(now_ns() - s.started_ns) / 1e9,
                       holders=site.lab.holders())
        site.wait_probe(first, timeout=10)
        return (f"the check script started nginx again (pid {old_pid} -> {new_pid}) after"
                f" {s.facts['restarted_after_s']:.1f} s; the VIP stayed on {', '.join(s.facts['holders'])}")

    def power_off(s: Step) -> str:
        site.power_off(first)
        answered_ns = site.wait_probe(second, timeout=20)
        s.facts["answered"] = _answer(site)
        return f"{second} answers on the VIP {(answered_ns - s.started_ns) / 1e9:.2f} s after {first} went dark"

    def boot(s: Step) -> str:
        site.boot(first)
        answered_ns = site.wait_probe(first, timeout=20)
        s.facts.update(answered=_answer(site), holders=site.lab.holders())
        return f"{first} is back and answers on the VIP {(answered_ns - s.started_ns) / 1e9:.2f} s after power-on"

    step("serves", f"ask http://{site.lab.vip}/ (the VIP)", serves_first)
    step("nginx_stop", f"stop nginx on {first} (the seed's `systemctl stop nginx`)", nginx_restart)
    step("power_off", f"switch {first} off (every process dies, the cable goes dark)", power_off)
    step("boot", f"boot {first} again (its minion, nginx, keepalived start)", boot)
    return steps


def failovers(site: LabSite, since_ns: int, wait_s: float = 15.0) -> list[Failover]:
    """Failover incidents since `since_ns`, each with the probe's gap for the same handover (nearest in time).
    The probe can see a handover before the correlator has stored its incident (the drill's last step ends when
    the probe sees the VIP back): waits up to `wait_s` until each handover the probe saw has its incident."""
    found: list[Failover] = []

    def complete() -> bool:
        probe = [h for h in handovers(site.probe_changes()) if h.start_ns >= since_ns]
        found[:] = [_paired(inc, probe) for inc in site.incidents("failover") if inc["started_ns"] >= since_ns]
        seen = Counter((h.before, h.after) for h in probe if h.before and h.after)
        return seen <= Counter((f.old, f.new) for f in found)

    try:
        wait_until(complete, wait_s, "an incident for each handover the probe saw")
    except LabError:
        pass  # the correlator missed one: the caller compares what there is with the probe's account
    return found


def _paired(inc: dict[str, Any], probe: list[Any]) -> Failover:
    d = inc["data"]
    same = [h for h in probe if (h.before, h.after) == (d["old_holder"], d["new_holder"])]
    near = min(same, key=lambda h: abs(h.start_ns - inc["started_ns"]), default=None)
    span = d.get("gap_range_ns")
    return Failover(inc["id"], d["old_holder"], d["new_holder"], inc["started_ns"], d.get("gap_ns"),
                    near.duration_ns if near else None, tuple(span) if span else None)
