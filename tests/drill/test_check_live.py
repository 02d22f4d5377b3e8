"""`hamaster check`'s live probe on the lab pair: each node's minion asks its keepalived (two JSON dumps three
advert intervals apart, one data dump) and `check` turns the reports into findings. Nothing on a healthy pair;
each planted fault found on the node it is on. Two labs: faults planted in keepalived.conf (one reload), and
faults of the running processes (VRRP blocked, a probe that cannot be answered in time, a stopped keepalived)."""

import json
import os
import signal
from collections.abc import Iterator

import pytest

from hamaster.lab import services
from hamaster.lab.site import LabSite, wait_until

pytestmark = pytest.mark.lab


def check(site: LabSite, *args: str) -> tuple[int, list[dict], dict]:
    done = site.cli("check", "--json", "--states", str(site.states), "--pillar", str(site.pillar), *args,
                    check=False)
    assert "Traceback" not in done.stderr, done.stderr
    out = json.loads(done.stdout)
    return done.returncode, out["findings"], out["live"]


def live_of(found: list[dict], node: str | None = None) -> list[dict]:
    return [f for f in found if f["source"] == "live" and (node is None or f["node"] == node)]


def keepalived_pids(site: LabSite, node: str) -> list[int]:
    parent = services.pid_of(services.KEEPALIVED, site.lab.node(node).run)
    assert parent is not None
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == parent]
    return [parent, *children]


def _ppid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


ALWAYS_OK = """#!/bin/sh
# prints the result instead of exiting with it: keepalived reads only the exit status
if pidof nginx >/dev/null; then
    echo 0
else
    echo 1
fi
"""


def test_a_healthy_pair_has_no_live_finding_and_planted_config_faults_are_found(site: LabSite) -> None:
    jobs = site.query("SELECT COUNT(*) FROM jobs")
    code, found, live = check(site)
    assert code == 0 and live_of(found) == [], found
    assert site.query("SELECT COUNT(*) FROM jobs") == jobs  # not an "apply --test" row in the timeline
    assert live["asked"] == live["answered"] == ["node1", "node2"]
    assert live["notes"] and "30 days" in live["notes"][0]  # the lab's timeline is minutes old
    assert check(site, "--no-live")[2] is None

    # node2's keepalived.conf edited by hand, reloaded: another auth_pass, a check script that fails, one that
    # prints instead of exiting, a program that always exits 0, and no notify_fifo (doctor sees it)
    etc = site.lab.node("node2").etc / "keepalived"
    (etc / "chk_prints.sh").write_text(ALWAYS_OK)
    (etc / "chk_prints.sh").chmod(0o755)
    conf = etc / "keepalived.conf"
    text = conf.read_text()
    secret = text.split("auth_pass ", 1)[1].split()[0]
    scripts = ('vrrp_script chk_fails {\n    script "/bin/false"\n    interval 1\n    weight -1\n}\n'
               'vrrp_script chk_prints {\n    script "/etc/keepalived/chk_prints.sh"\n    interval 1\n}\n'
               'vrrp_script chk_true {\n    script "/bin/true"\n    interval 1\n}\n')
    edited = (text.replace(f"auth_pass {secret}", "auth_pass 0ther0ne")
              .replace("vrrp_instance", scripts + "vrrp_instance", 1)
              .replace("        chk_nginx\n", "        chk_nginx\n        chk_fails\n        chk_prints\n"
                       "        chk_true\n", 1))
    edited = "\n".join(line for line in edited.splitlines() if "notify_fifo" not in line) + "\n"
    assert edited.count("chk_fails") == 2 and "notify_fifo" not in edited
    conf.write_text(edited)
    os.kill(keepalived_pids(site, "node2")[0], signal.SIGHUP)

    want = {"auth": lambda f: "rejected" in f["problem"] and "auth_pass differs" in f["problem"],
            "bad": lambda f: "chk_fails" in f["problem"] and "is BAD" in f["problem"],
            "prints": lambda f: "chk_prints" in f["problem"] and "cannot fail" in f["problem"],
            "true": lambda f: "chk_true" in f["problem"] and "cannot fail" in f["problem"],
            "fifo": lambda f: "notify_fifo" in f["problem"] and "haminion doctor" in f["problem"]}

    def all_seen() -> tuple[int, dict[str, dict], list[dict]] | None:
        code, found, _ = check(site)
        mine = live_of(found, "node2")
        got = {k: next((f for f in mine if match(f)), None) for k, match in want.items()}
        return (code, got, found) if all(got.values()) else None
    code, got, found = wait_until(all_seen, 40, "check to see every fault planted on node2", step=0.5)
    assert code == 2
    assert got["auth"]["severity"] == "error" and got["auth"]["instance"] == "VI_1"
    assert got["bad"]["severity"] == "error" and "/bin/false" in got["bad"]["todo"]
    assert "echo 0" in got["prints"]["problem"] and got["prints"]["severity"] == "warning"
    assert "exit 1" in got["prints"]["todo"]
    assert "notify_fifo" in got["fifo"]["todo"]
    # chk_nginx (the state tree's) can fail: no finding for it on either node
    assert not [f for f in live_of(found) if "chk_nginx" in f["problem"]], found
    # node1 hears node2's adverts and rejects them too
    shown = json.dumps(found) + site.cli("check", check=False).stdout
    assert secret not in shown and "0ther0ne" not in shown  # neither password, ever

    # node2 hears no valid advert, claims the VIP after its master-down timer and advertises: node1 rejects those
    wait_until(lambda: [f for f in live_of(check(site)[1], "node1") if "auth_pass differs" in f["problem"]], 30,
               "check to see node1 reject node2's adverts", step=0.5)


@pytest.fixture
def frozen() -> Iterator[list[int]]:
    """pids to SIGSTOP in a test, each thawed at its end whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_vrrp_blocked_a_late_answer_and_a_stopped_keepalived_are_found(site: LabSite, frozen: list[int]) -> None:
    # the BACKUP's VRRP dropped on its way in: it hears nothing (and claims the VIP after its master-down timer)
    site.lab.block_vrrp("node2")

    def deaf() -> dict | None:
        _, found, _ = check(site)
        return next((f for f in live_of(found, "node2") if "hears no adverts" in f["problem"]), None)
    f = wait_until(deaf, 30, "check to see that node2 hears no adverts", step=0.5)
    assert f["severity"] == "error" and "IP protocol 112" in f["todo"] and f["instance"] == "VI_1"
    assert "node1 sent them" in f["problem"] or "(BACKUP)" in f["problem"], f

    # a wait shorter than the probe (three advert intervals): both minions are late, the check still ends
    code, found, live = check(site, "--live-timeout", "1")
    late = [f for f in live_of(found) if "did not answer the readiness probe within 1 s" in f["problem"]]
    assert code == 2 and sorted(f["node"] for f in late) == ["node1", "node2"], found
    assert live["answered"] == []
    site.lab.unblock_vrrp("node2")

    # node1's keepalived stopped (SIGSTOP, every process): it writes no dump, sends no advert
    frozen += keepalived_pids(site, "node1")
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)

    def hung() -> dict | None:
        _, found, _ = check(site)
        return next((f for f in live_of(found, "node1") if "does not answer" in f["problem"]), None)
    f = wait_until(hung, 30, "check to see node1's keepalived not answering", step=0.5)
    assert f["severity"] == "error" and "restart keepalived on node1" in f["todo"]
