"""Every alert title and body, in English and Chinese, compared with the files beside this one.

The incidents are real: the correlator derives them from the scenarios (scenarios.py) on a store on disk,
at the fixed time of feeder.T0, each taken as it is when the Notifier routes it (right after it is
derived). A few forms no scenario reaches are built here: a split brain still going on, a no-MASTER learnt
after the fact, a planned failover with a VIP in the label, a kind with no template of its own. English is
rendered in UTC, Chinese in Asia/Shanghai, as the seed's operators read it.

After a deliberate change of a template: `UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/notify/golden`, then
read the diff of the .txt files before committing it.
"""

import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from feeder import T0, Feeder
from scenarios import SCENARIOS

from hamaster.core.incidents import KINDS, Incident
from hamaster.master import store
from hamaster.master.correlate.correlator import Correlator
from hamaster.master.store import incidents
from hamaster.notify.render import Renderer

HERE = Path(__file__).parent
TEMPLATES = Path(__file__).parents[3] / "notify" / "templates"
LANGUAGES = {"en": ZoneInfo("UTC"), "zh": ZoneInfo("Asia/Shanghai")}
SCENARIOS_RENDERED = ["fault_on_node1_then_master_on_node2", "new_master_reported_before_the_old_one_steps_down",
                      "node1_silent_while_node2_takes_over", "two_masters_then_heal",
                      "twenty_transitions_in_ten_seconds", "no_master_over_the_threshold_then_recovered",
                      "node_back_after_silence"]
S = 10**9
BUILT = {
    "split_brain-ongoing": Incident("split_brain", "VI_1", T0 + 5 * S, "VI_1: 2 MASTERs at once (node1, node2)",
                                    "k1", nodes=["node1", "node2"], data={"vip": None, "masters": ["node1", "node2"]},
                                    id=101),
    "no_master-after_the_fact": Incident("no_master", "VI_1", T0 + 5 * S, "VI_1 had no MASTER for 7.0 s", "k2",
                                         nodes=["node1"], severity="info", ended_ns=T0 + 12 * S,
                                         data={"vip": None, "gap_ns": 7 * S, "after_the_fact": True}, id=102),
    "failover-planned-vip": Incident(
        "failover", "VI_1", T0 + 5 * S, "VIP 192.168.16.130 moved node1 -> node2 in 1.2 s; node1 STOP", "k3",
        nodes=["node1", "node2"], planned=True, job_id="20250615150640123456",
        data={"vip": "192.168.16.130", "old_holder": "node1", "new_holder": "node2", "gap_ns": 1_234_000_000,
              "cause": "node1 STOP", "cause_state": "STOP", "old_priority": None, "new_priority": 100}, id=103),
    "stale_vip-keepalived_dead": Incident(
        "stale_vip", "VI_1", T0 + 5 * S, "node1 still holds VIP 192.168.16.130 on eth0 while keepalived on node1"
        " is dead: two hosts may answer ARP for it", "k4", nodes=["node1"],
        data={"vip": "192.168.16.130", "interface": "eth0", "node": "node1",
              "reason": "keepalived on node1 is dead"}, id=104),
    "clock_offset-5s_fast": Incident(
        "clock_offset", None, T0 + 5 * S, "node2's clock is 5.0 s fast", "k5", nodes=["node2"],
        data={"offset_ns": 5_000_300_000, "delay_ns": 1_200_000}, id=105),
    "failover-crash_with_stale_vip": Incident(
        "failover", "VI_1", T0 + 5 * S, "VI_1 moved node1 -> node2 in 2.9 s; keepalived on node1 died", "k6",
        nodes=["node1", "node2"], severity="critical",
        data={"vip": None, "old_holder": "node1", "new_holder": "node2", "gap_ns": 2_900_000_000,
              "cause": "keepalived on node1 died without a STOP (killed or crashed)", "old_priority": 150,
              "new_priority": 100, "stale_vip": {"node": "node1", "vip": "192.168.16.130", "interface": "eth0"}},
        id=106),
    "failover-sync_group": Incident(
        "failover", "VG_1", T0 + 5 * S, "VG_1 (VI_1, VI_6) moved node1 -> node2 in 700 ms; node1 FAULT", "k7",
        nodes=["node1", "node2"],
        data={"vip": None, "old_holder": "node1", "new_holder": "node2", "gap_ns": 700_000_000,
              "cause": "node1 FAULT", "cause_state": "FAULT", "old_priority": None, "new_priority": None,
              "members": ["VI_1", "VI_6"], "vips": ["192.168.16.130", "fd00:16::130"], "sync_group": True}, id=107),
    "sync_split-member_left_behind": Incident(
        "sync_split", "VG_1", T0 + 5 * S, "sync group VG_1 is split: VI_1 on node1, VI_6 on node2 (its members"
        " must move together)", "k8", nodes=["node1", "node2"],
        data={"members": ["VI_1", "VI_6"], "holders": {"VI_1": "node1", "VI_6": "node2"},
              "vips": ["192.168.16.130", "fd00:16::130"]}, id=108),
    # what the minion's keepalived.conf facts give the correlator: every VIP of the group and its VRID
    "failover-vip_and_vrid": Incident(
        "failover", "VI_1", T0 + 5 * S, "VI_1 moved node1 -> node2 in 3.0 s; node1 FAULT", "k9",
        nodes=["node1", "node2"],
        data={"vips": ["192.168.16.130"], "vrid": 51, "old_holder": "node1", "new_holder": "node2",
              "gap_ns": 3_000_000_000, "cause": "node1 FAULT (priority 101)", "cause_state": "FAULT",
              "old_priority": 101, "new_priority": 100}, id=109),
    "split_brain-two_vips": Incident(
        "split_brain", "VI_1", T0 + 5 * S, "VI_1: 2 MASTERs at once (node1, node2)", "k10",
        nodes=["node1", "node2"], severity="critical",
        data={"vips": ["192.168.16.130", "192.168.16.131"], "vrid": 51, "masters": ["node1", "node2"]}, id=110),
    "no_master-three_vips": Incident(
        "no_master", "VI_WEB", T0 + 5 * S, "VI_WEB has no MASTER since 23:06:45; node1 FAULT", "k11",
        nodes=["node1", "node2"], severity="critical",
        data={"vips": ["10.0.0.10", "10.0.0.11", "fd00::10"], "vrid": 7, "cause": "node1 FAULT"}, id=111),
    "recovered-vrid_only": Incident(
        "recovered", "VI_1", T0 + 5 * S, "VI_1 back to one MASTER: node1", "k12", nodes=["node1"],
        severity="info", data={"vrid": 51, "holder": "node1", "closes": 110, "duration_ns": 4_200_000_000},
        id=112),
}


def cases(tmp_path: Path) -> dict[str, Incident]:
    out: dict[str, Incident] = {}
    for scenario in SCENARIOS_RENDERED:  # each on a store of its own, as test_correlator runs them
        conn = store.connect(tmp_path / f"{scenario}.db")
        try:
            feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10))
            for step in SCENARIOS[scenario][0]:  # each incident as it is when routed: right after it is derived
                seen = len(feeder.new)
                feeder.run([step])
                for incident_id in feeder.new[seen:]:
                    inc = incidents.get(conn, incident_id)
                    assert inc is not None
                    out[f"{inc.kind}-{scenario}-{incident_id}"] = inc
        finally:
            conn.close()
    # the same failover with the facts every vrrp event of a minion that read its keepalived.conf carries
    conn = store.connect(tmp_path / "facts.db")
    try:
        feeder = Feeder(conn, Correlator(conn, {}, silent_after_s=10),
                        data={"vrid": 51, "vips": ["192.168.16.130"], "interface": "eth0", "family": "inet"})
        feeder.run(SCENARIOS["fault_on_node1_then_master_on_node2"][0])
        (failover,) = (incidents.get(conn, i) for i in feeder.new)
        assert failover is not None
        out["failover-keepalived_conf_facts"] = failover
    finally:
        conn.close()
    return out | BUILT


def rendered(inc: Incident, language: str) -> str:
    title, body = Renderer({}, "master.yaml", language, LANGUAGES[language]).render(inc)
    return f"{title}\n\n{body}\n"


def test_golden_alerts_in_both_languages(tmp_path: Path) -> None:
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    made = cases(tmp_path)
    assert {inc.kind for inc in made.values()} >= set(KINDS), "every incident kind has a golden alert"
    wrong = []
    for language in LANGUAGES:
        for name, inc in made.items():
            path = HERE / language / f"{name}.txt"
            text = rendered(inc, language)
            if update:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
            elif not path.is_file() or path.read_text() != text:
                wrong.append(f"{path.relative_to(HERE)}:\n{text}")
    stale = {p.relative_to(HERE) for p in HERE.glob("*/*.txt")} - {Path(lang) / f"{n}.txt" for lang in LANGUAGES
                                                                    for n in made}
    assert not wrong, "rendered differently (UPDATE_GOLDEN=1 to accept):\n" + "\n".join(wrong)
    assert not stale, f"golden files no case renders: {sorted(map(str, stale))}"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_every_english_template_has_a_chinese_one(template: str) -> None:
    assert (TEMPLATES / "zh" / template).is_file(), f"notify/templates/zh/{template} is missing"


def test_a_template_that_fails_falls_back_to_a_plain_message_in_the_language(tmp_path: Path) -> None:
    inc = cases(tmp_path)["failover-planned-vip"]
    broken = {"failover": {"title": "{{ data.cause.upper(1, 2) }}"}}
    assert Renderer(broken, "m.yaml", "zh", LANGUAGES["zh"]).render(inc)[0] == \
        "【警告】主备切换：VIP 192.168.16.130（VI_1）"
    assert Renderer(broken, "m.yaml", "en", LANGUAGES["en"]).render(inc)[0] == \
        "[warning] failover: VIP 192.168.16.130 (VI_1)"
