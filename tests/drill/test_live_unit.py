"""`hamaster check`'s live rules from readiness reports (master/drills/live.py), case by case, and the minion's
side that needs no keepalived: the data dump's scripts section, a script's text, the job in the executor.
The lab tests (test_check_live.py) plant the faults for real."""

import os
from pathlib import Path
from typing import Any

import pytest

from hamaster.core.config import load_minion_config
from hamaster.master.drills import live
from hamaster.minion import keepalived
from hamaster.minion.executor import run_job
from hamaster.minion.statemods import Ctx
from hamaster.minion.statemods.readiness import parse_scripts, readiness, script_text

DAY_NS = 86400 * 10**9
NOW = 100 * DAY_NS
CHK = "#!/bin/sh\npidof nginx >/dev/null || systemctl start nginx\nsleep 1\npidof nginx\n"


def inst(state: str, rcvd: int = 3, sent: int = 0, auth: int = 0) -> dict[str, Any]:
    return {"state": state, "priority": 100, "base_priority": 100, "advert_int": 1.0, "vrid": 66,
            "advert_rcvd": rcvd, "advert_sent": sent, "auth_failures": auth, "become_master": 0}


def script(status: str = "GOOD", text: str = CHK, kind: str = "file", weight: int = 2) -> dict[str, Any]:
    return {"status": status, "command": "'/etc/keepalived/chk.sh'", "weight": weight, "instances": ["VI_1"],
            "text": text, "kind": kind, "truncated": False}


def report(*instances: tuple[str, dict[str, Any]], scripts: dict[str, Any] | None = None, **kw: Any) -> dict:
    return {"v": 1, "keepalived": "running", "pid": 1, "window_s": 3.0, "errors": [], "instances": dict(instances),
            "scripts": scripts if scripts is not None else {"chk_nginx": script()}, "doctor": [], **kw}


def healthy() -> dict[str, Any]:
    return {"node1": report(("VI_1", inst("MASTER", rcvd=0, sent=3))), "node2": report(("VI_1", inst("BACKUP")))}


def said(reports: dict[str, Any], **kw: Any) -> list[tuple[str, str | None, str]]:
    return [(f.severity, f.node, f.problem) for f in live.findings(reports, **kw)]


def test_a_healthy_pair_says_nothing() -> None:
    assert said(healthy()) == []
    assert said(healthy(), failures={}, history_s=10 * 86400, now_ns=NOW) == []  # 10 days: too short to judge
    assert live.notes(10 * 86400) and live.notes(None) and live.notes(31 * 86400) == []


def test_a_minion_that_did_not_answer_or_cannot_run_the_probe() -> None:
    reports: dict[str, Any] = {**healthy(), "node2": None}
    assert said(reports, timeout_s=10) == [
        ("error", "node2", "node2's minion did not answer the readiness probe within 10 s")]
    reports["node2"] = live.report_of({"states": [{"fun": "keepalived.readiness", "result": False,
                                                   "comment": "state function keepalived.readiness is not known"}]})
    [(sev, node, problem)] = said(reports)
    assert sev == "warning" and node == "node2" and "not known" in problem


def test_auth_rejections_name_the_auth_pass() -> None:
    reports = healthy()
    reports["node2"]["instances"]["VI_1"] = inst("BACKUP", rcvd=3, auth=3)
    [f] = live.findings(reports)
    assert (f.severity, f.node, f.instance) == ("error", "node2", "VI_1")
    assert "auth_pass differs" in f.problem and "apply" in f.todo


def test_who_hears_no_adverts() -> None:
    reports = healthy()
    reports["node2"]["instances"]["VI_1"] = inst("BACKUP", rcvd=0)
    [f] = live.findings(reports)
    assert f.node == "node2" and "(BACKUP) hears no adverts" in f.problem and "node1 sent them" in f.problem
    assert "IP protocol 112" in f.todo
    # blocked for longer: it claimed the VIP; two MASTERs, one deaf
    reports["node2"]["instances"]["VI_1"] = inst("MASTER", rcvd=0, sent=3)
    reports["node1"]["instances"]["VI_1"] = inst("MASTER", rcvd=3, sent=3)  # node1 hears node2's
    [f] = live.findings(reports)
    assert f.node == "node2" and "(MASTER) hears no adverts" in f.problem and "split brain" in f.problem
    # a MASTER hears nothing from its BACKUP: normal
    assert said(healthy()) == []


def test_adverts_are_not_judged_over_a_window_too_short_for_the_advert_interval() -> None:
    reports = healthy()
    reports["node1"]["instances"]["VI_1"] = dict(inst("MASTER", rcvd=0, sent=0), advert_int=5.0)
    reports["node2"]["instances"]["VI_1"] = dict(inst("BACKUP", rcvd=0), advert_int=5.0)
    assert said(reports) == []  # 3 s of a 5 s advert_int: no advert is due
    reports["node1"]["window_s"] = reports["node2"]["window_s"] = 10.0
    assert len(said(reports)) == 2


def test_a_master_that_sends_nothing_and_a_keepalived_that_does_not_answer() -> None:
    reports = healthy()
    reports["node1"]["instances"]["VI_1"] = inst("MASTER", rcvd=0, sent=0)
    reports["node2"]["instances"]["VI_1"] = inst("BACKUP", rcvd=0)
    problems = [p for _, _, p in said(reports)]
    assert any("node1 is MASTER of VI_1 but sent no advert" in p for p in problems)
    assert any("node2 (BACKUP) hears no adverts" in p for p in problems)
    hung = report(keepalived="hung", errors=["keepalived pid 7 wrote no state dump to x within 2 s"])
    [f] = live.findings({"node1": hung})
    assert f.severity == "error" and "does not answer" in f.problem and "restart keepalived" in f.todo
    [f] = live.findings({"node1": report(keepalived="not running", scripts={})})
    assert f.severity == "error" and "not running" in f.problem


def test_check_scripts_bad_and_ones_that_cannot_fail() -> None:
    reports = healthy()
    reports["node2"]["scripts"] = {"chk_nginx": script("BAD"), "chk_echo": script(text="/bin/echo 1",
                                                                                  kind="program"),
                                   "chk_or": script(text="curl -sf http://127.0.0.1/ || true", kind="inline")}
    found = {f.problem.split()[2]: f for f in live.findings(reports)}
    assert found["chk_nginx"].severity == "error" and "BAD" in found["chk_nginx"].problem
    assert "priority is down by 2" in found["chk_nginx"].problem and "chk.sh" in found["chk_nginx"].todo
    assert found["chk_echo"].severity == "warning" and "cannot fail" in found["chk_echo"].problem
    assert "|| true" in found["chk_or"].problem
    assert found["chk_or"].instance == "VI_1" and found["chk_or"].node == "node2"


@pytest.mark.parametrize(("text", "fails"), [
    ("echo 1", False),
    ("pidof nginx", True),
    ("pidof nginx || true", False),
    ("pidof nginx || :", False),
    ("#!/bin/sh\nif pidof nginx; then\n  echo 0\nelse\n  echo 1\nfi\n", False),
    ("#!/bin/sh\nif pidof nginx; then\n  echo 0\nelse\n  exit 1\nfi\n", True),
    ("#!/bin/sh\nif [ -f /run/nginx.pid ]; then echo up; fi\n", False),
    ("#!/bin/sh\nif a; then if b; then echo 1; else echo 2; fi; else true; fi", False),
    ("#!/bin/sh\nif a; then if b; then echo 1; else pidof x; fi; else true; fi", True),
    ("#!/bin/sh\ncurl -sf http://127.0.0.1/ >/dev/null\necho checked  # the status is echo's\n", False),
    ("#!/bin/sh\ncurl -sf http://127.0.0.1/ || exit 1\necho ok\n", True),
    ("#!/bin/sh\nset -e\ncurl -sf http://127.0.0.1/\necho ok\n", True),
    ("#!/bin/sh\nFAIL=1\nif ! pidof nginx; then exit \"$FAIL\"; fi\necho ok\n", True),  # a quoted status
    ("#!/bin/sh\npidof nginx || exit\necho ok\n", True),  # a bare exit keeps the failed status
    ("#!/bin/sh\npidof nginx || exit 0\necho ok\n", False),
    ("#!/bin/sh\npidof nginx || killall keepalived\necho ok\n", True),  # the seed's way out
    ("#!/bin/sh\n# nothing yet\n", False),
    (CHK, True),
    ("#!/usr/bin/python3\nprint(1)\n", True),  # not shell: not judged
])
def test_a_script_that_cannot_fail(text: str, fails: bool) -> None:
    why = live.cannot_fail(text)
    assert (why is None) == fails, why


def test_a_program_that_cannot_fail() -> None:
    assert live.cannot_fail("/bin/true", "program") and live.cannot_fail("/usr/bin/echo 1", "program")
    assert live.cannot_fail("/usr/bin/pgrep nginx", "program") is None


def test_a_tracked_script_never_seen_failing_in_30_days() -> None:
    reports = healthy()
    marks = live.failure_marks(reports)
    assert marks[("node2", "chk_nginx")] == [("VI_1", 100)]  # base 100 + its weight 2, less the weight
    long = {"history_s": 40 * 86400, "now_ns": NOW}
    never = said(reports, failures={}, **long)
    assert [(s, n) for s, n, _ in never] == [("info", "node1"), ("info", "node2")]
    assert "has not failed in 30 days" in never[0][2]
    recent = {("node1", "chk_nginx"): NOW - 2 * DAY_NS, ("node2", "chk_nginx"): NOW - 40 * DAY_NS}
    assert [(s, n) for s, n, _ in said(reports, failures=recent, **long)] == [("info", "node2")]
    assert said(reports, failures={}, history_s=29 * 86400, now_ns=NOW) == []  # not enough history to say


def test_a_failed_doctor_check_is_a_warning_with_its_fix() -> None:
    reports = healthy()
    reports["node2"]["doctor"] = [{"what": "notify_fifo writes to /etc/hamaster/keepalived.fifo",
                                   "fix": "in global_defs add: notify_fifo /etc/hamaster/keepalived.fifo"}]
    [f] = live.findings(reports)
    assert f.severity == "warning" and "notify_fifo" in f.problem and f.todo.startswith("in global_defs")


DATA = """------< VRRP Topology >------
 VRRP Instance = VI_1
   Authentication type = SIMPLE_PASSWORD
   Password = s3cr3t
------< VRRP Scripts >------
 VRRP Script = chk_nginx
   Command = '/etc/keepalived/check_nginx.sh'
   Interval = 2 sec
   Weight = 2
   Status = GOOD
   Tracking instances :
     VI_1, weight 2
   State = idle
 VRRP Script = chk_echo
   Command = '/bin/sh' '-c' 'echo 1'
   Weight = 0
   Status = BAD
   Tracking instances :
     VI_1, weight 0
     VI_2, weight 0
------< VRRP Track files >------
 Track file = hamaster_drain
   Status = 0
"""


def test_the_data_dumps_scripts_and_nothing_else() -> None:
    got = parse_scripts(DATA)
    assert got == {"chk_nginx": {"status": "GOOD", "command": "'/etc/keepalived/check_nginx.sh'", "weight": 2,
                                 "instances": ["VI_1"]},
                   "chk_echo": {"status": "BAD", "command": "'/bin/sh' '-c' 'echo 1'", "weight": 0,
                                "instances": ["VI_1", "VI_2"]}}
    assert "s3cr3t" not in str(got)


def test_a_scripts_text_is_read_not_run(tmp_path: Path) -> None:
    me = os.getpid()  # through /proc/<pid>/root, as the minion reads keepalived's files: here our own root
    check = tmp_path / "chk.sh"
    check.write_text("#!/bin/sh\ntouch " + str(tmp_path / "ran") + "\necho 1\n")
    got = script_text(me, f"'{check}'")
    assert got["kind"] == "file" and got["text"] == check.read_text() and not (tmp_path / "ran").exists()
    assert script_text(me, "'/bin/sh' '-c' 'echo 1'") == {"kind": "inline", "text": "echo 1", "truncated": False}
    assert script_text(me, "'/bin/true'")["kind"] == "program"
    check.write_text("echo 1\n" * 2000)
    assert script_text(me, str(check))["truncated"] is True


def test_the_probe_runs_in_test_mode_only_and_the_executor_returns_its_report(tmp_path: Path) -> None:
    assert readiness(Ctx(test=False), "keepalived").result is False
    if keepalived.keepalived_pid() is not None:
        pytest.skip("a keepalived runs in this network namespace")  # labs run theirs in their own
    cfg_path = tmp_path / "minion.yaml"
    cfg_path.write_text("id: a1\nmaster: tcp://127.0.0.1:9\nmaster_key: '" + "k" * 40 + "'\nspool_dir: spool\n")
    result = run_job(live.job(), load_minion_config(cfg_path))
    [state] = result["states"]
    assert state["result"] is True and state["report"]["keepalived"] == "not running"
    # the node's wiring as `haminion doctor` sees it: no key, no daemon, no master here
    whats = " ".join(d["what"] for d in state["report"]["doctor"])
    assert "daemon is running" in whats and "127.0.0.1:9 is reachable" in whats
    assert live.report_of(result) == state["report"]


def test_a_scripts_file_that_is_a_fifo_or_a_device_is_not_read(tmp_path: Path) -> None:
    """A vrrp_script naming a FIFO (or /dev/zero, a device): the probe must not block in open() waiting for a
    writer that never comes, nor read a device; it says the command, as for a program."""
    import threading

    me = os.getpid()
    fifo = tmp_path / "chk.fifo"
    os.mkfifo(fifo)
    got: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: got.append(script_text(me, f"'{fifo}'")), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # release the blocked open() so the thread ends, then fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        reader.join(5)
        pytest.fail("script_text blocked opening a FIFO")
    assert got[0]["text"] == f"{fifo}" and got[0]["kind"] in ("inline", "program")
    zero = tmp_path / "chk_zero"
    zero.symlink_to("/dev/zero")
    assert script_text(me, str(zero))["text"] == str(zero)
