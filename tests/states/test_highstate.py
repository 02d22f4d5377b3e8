"""Highstate output: golden text for people, the same as data with --json; secrets masked in both."""

import io
import json
from pathlib import Path

from rich.console import Console

from hamaster.master.states.highstate import as_json, pillar_secrets, print_highstate, print_lints, print_summary
from hamaster.master.states.pairlint import Lint

GOLDEN = Path(__file__).parent / "golden" / "highstate.txt"


def state(id_: str, fun: str, name: str, result: bool | None, comment: str, changes: dict | None = None) -> dict:
    return {"key": f"{fun.split('.')[0]}|{id_}", "id": id_, "fun": fun, "name": name, "sls": "keepalived",
            "result": result, "comment": comment, "changes": changes or {}, "duration_ms": 12.5, "started_ns": 1}


RESULTS = {
    "node1": {"minion": "node1", "test": False, "summary": {"succeeded": 2, "changed": 1, "failed": 1,
                                                             "duration_ms": 830.0},
              "states": [
                  state("keepalived", "pkg.installed", "keepalived", True,
                        "All specified packages are already installed: keepalived"),
                  state("keepalived_conf", "file.managed", "/etc/keepalived/keepalived.conf", True,
                        "File /etc/keepalived/keepalived.conf updated",
                        {"diff": "--- old\n+++ new\n@@ -1,2 +1,2 @@\n-    priority 99\n+    priority 100\n"
                                 "     auth_pass s3cret!"}),
                  state("keepalived_service", "service.running", "keepalived", False,
                        "Service keepalived failed to reload (exit 1):\nno such process"),
              ]},
    "node2": None,
}
NOTES = {"node2": "node2 did not answer within 30 s"}
LINTS = [Lint("warning", "VI_1", "priorities tie: node1 and node2 both 100")]


def render() -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, highlight=False, soft_wrap=True)
    print_lints(console, LINTS)
    print_highstate(console, RESULTS, NOTES, pillar_secrets({"vrrp": {"auth_pass": "s3cret!"}}))
    return out.getvalue()


def test_highstate_text_matches_the_golden_file() -> None:
    text = render()
    assert "s3cret!" not in text
    assert text == GOLDEN.read_text()


def test_json_has_the_same_results_masked() -> None:
    data = json.loads(as_json(RESULTS, LINTS, NOTES, ["s3cret!"]))
    assert data["summary"] == {"succeeded": 2, "changed": 1, "failed": 1, "missing": 1}
    assert data["minions"]["node2"] is None and data["notes"]["node2"] == "node2 did not answer within 30 s"
    assert "s3cret!" not in json.dumps(data)
    assert data["lint"] == [{"severity": "warning", "instance": "VI_1",
                             "message": "priorities tie: node1 and node2 both 100"}]


def test_pillar_secrets_are_values_under_secret_looking_keys() -> None:
    pillar = {"vrrp": {"auth_pass": "1111", "priority": 100}, "notify": {"token": "abc", "tokens": ["x", "y"]},
              "db": {"password": "pw"}, "secrets": {"api": {"key": "deep"}}, "address": "10.0.0.1"}
    assert sorted(pillar_secrets(pillar)) == ["1111", "abc", "deep", "pw", "x", "y"]


def test_the_summary_for_many_minions_names_only_what_changed_failed_or_was_silent() -> None:
    quiet = {"summary": {"succeeded": 3, "changed": 0, "failed": 0, "duration_ms": 5.0},
             "states": [state("page", "file.managed", "/x", True, "already right")]}
    changed = {"summary": {"succeeded": 1, "changed": 1, "failed": 0, "duration_ms": 5.0},
               "states": [state("page", "file.managed", "/x", True, "updated", {"diff": "+1"})]}
    results = {**{f"m{i:03d}": quiet for i in range(40)}, "m040": changed, **RESULTS}
    out = io.StringIO()
    print_summary(Console(file=out, width=120, color_system=None), results, NOTES, ["s3cret!"])
    assert out.getvalue().splitlines() == [
        "m040: changed page",
        "node1: FAILED keepalived_service: Service keepalived failed to reload (exit 1): / no such process",
        "node2: node2 did not answer within 30 s",
        "43 minions (40 unchanged): Succeeded: 123 (changed=2)  Failed: 1  No answer: 1",
    ]
