"""The state tree wires the drain track file into keepalived.conf (pillar `drain:`, on by default), and the pair
lint refuses a drain weight that could not move the VIPs away."""

import shutil
from pathlib import Path

from hamaster.core import keepalived_conf
from hamaster.master.states.pairlint import lint
from hamaster.master.states.rolling import plan_minion

STATES = Path(__file__).resolve().parents[2] / "states"


def rendered(pillar: Path) -> dict[str, str]:
    out = {}
    for m in ("node1", "node2"):
        conf = plan_minion(STATES, pillar, m, {"id": m}, True).keepalived_conf
        assert conf is not None
        out[m] = conf
    return out


def test_the_shipped_tree_wires_the_drain_track_file_and_lints_clean() -> None:
    confs = rendered(STATES / "pillar")
    parsed = keepalived_conf.parse(confs["node1"])
    assert parsed.track_files["hamaster_drain"].path == "/etc/keepalived/hamaster-drain"
    assert parsed.track_files["hamaster_drain"].weight == -50
    assert parsed.instances["VI_1"].tracked["hamaster_drain"] == -50
    assert [x for x in lint(confs) if x.severity == "error"] == []


def test_a_drain_weight_within_the_priority_gap_is_an_error(tmp_path: Path) -> None:
    pillar = tmp_path / "pillar"
    shutil.copytree(STATES / "pillar", pillar)
    node2 = pillar / "node2.sls"
    node2.write_text(node2.read_text().replace("priority: 99", "priority: 40"))
    errors = [x.message for x in lint(rendered(pillar)) if x.severity == "error"]
    assert errors == ["hamaster_drain weight -50 cannot move the VIPs away on `hamaster drain`: node1 100 vs "
                      "node2 40 (gap 60); raise pillar drain.weight above 60"]


def test_the_pillar_switch_leaves_the_track_file_out(tmp_path: Path) -> None:
    pillar = tmp_path / "pillar"
    shutil.copytree(STATES / "pillar", pillar)
    pair = pillar / "pair.sls"
    pair.write_text(pair.read_text().replace("  enabled: true ", "  enabled: false"))
    parsed = keepalived_conf.parse(rendered(pillar)["node1"])
    assert parsed.track_files == {} and "hamaster_drain" not in parsed.instances["VI_1"].tracked
