"""The executor honours requisites at run time; a watch reloads; results mask secrets; test mode predicts."""

from pathlib import Path

from hamaster.master.states.compiler import compile_states
from hamaster.master.states.render import render_states
from hamaster.core.secrets import MASK
from hamaster.minion.executor import run_chunks
from hamaster.minion.statemods import Ctx

SERVICE = """
svc:
  service.running:
    - name: demo
    - commands:
        start: touch {p}/running
        stop: rm -f {p}/running
        reload: echo reload >> {p}/actions
        restart: echo restart >> {p}/actions
        status: test -e {p}/running
    - on_watch: {on_watch}
    - watch:
      - file: conf
"""


def run(tmp_path: Path, sls: str, test: bool = False, secrets: tuple[str, ...] = ()) -> dict[str, dict]:
    root = tmp_path / "tree"
    root.mkdir(exist_ok=True)
    (root / "top.sls").write_text("'*': [a]\n")
    (root / "a.sls").write_text(sls)
    chunks = compile_states(render_states(root, "node1", {}, {}).states)
    result = run_chunks(chunks, Ctx(test=test, prefix=tmp_path / "root"), list(secrets), "node1")
    return {s["id"]: s for s in result["states"]} | {"summary": result["summary"]}


def test_a_failed_requisite_skips_its_dependents_and_says_so(tmp_path: Path) -> None:
    out = run(tmp_path, """
broken:
  cmd.run:
    - name: exit 1
after:
  cmd.run:
    - name: touch {p}/after
    - require: [broken]
later:
  cmd.run:
    - name: echo later
    - require: [after]
""".replace("{p}", str(tmp_path)))
    assert out["after"]["result"] is False
    assert out["after"]["comment"] == "One or more requisite failed: cmd: broken"
    assert out["later"]["comment"] == "One or more requisite failed: cmd: after"
    assert not (tmp_path / "after").exists()
    assert out["summary"]["failed"] == 3


def test_onchanges_runs_only_after_a_change_and_onfail_only_after_a_failure(tmp_path: Path) -> None:
    sls = f"""
conf:
  file.managed:
    - name: /etc/demo.conf
    - contents: "v1"
on_change:
  cmd.run:
    - name: echo changed >> {tmp_path}/log
    - onchanges: [conf]
on_fail:
  cmd.run:
    - name: echo failed >> {tmp_path}/log
    - onfail: [conf]
"""
    (tmp_path / "root" / "etc").mkdir(parents=True)
    first = run(tmp_path, sls)
    assert first["on_change"]["result"] is True and first["on_change"]["changes"]
    assert first["on_fail"]["comment"] == "State was not run because none of the onfail reqs failed"
    second = run(tmp_path, sls)
    assert second["on_change"]["comment"] == "State was not run because none of the onchanges reqs changed"
    assert (tmp_path / "log").read_text() == "changed\n"


def test_a_changed_watched_file_reloads_a_running_service(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "running").touch()
    conf = "conf:\n  file.managed:\n    - name: /etc/demo.conf\n    - contents: \"{v}\"\n"
    svc = SERVICE.replace("{p}", str(tmp_path)).replace("{on_watch}", "reload")
    out = run(tmp_path, conf.replace("{v}", "v1") + svc)
    assert out["svc"]["result"] is True
    assert "Service demo reloaded (watching file: conf)" in out["svc"]["comment"]
    assert run(tmp_path, conf.replace("{v}", "v1") + svc)["svc"]["changes"] == {}  # nothing changed: no reload
    restart = SERVICE.replace("{p}", str(tmp_path)).replace("{on_watch}", "restart")
    run(tmp_path, conf.replace("{v}", "v2") + restart)
    assert (tmp_path / "actions").read_text() == "reload\nrestart\n"


def test_a_service_started_by_this_run_is_not_reloaded_too(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    conf = "conf:\n  file.managed:\n    - name: /etc/demo.conf\n    - contents: \"v1\"\n"
    out = run(tmp_path, conf + SERVICE.replace("{p}", str(tmp_path)).replace("{on_watch}", "reload"))
    assert out["svc"]["comment"] == "Started service demo"
    assert not (tmp_path / "actions").exists()


def test_test_mode_predicts_the_reload_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "running").touch()
    conf = "conf:\n  file.managed:\n    - name: /etc/demo.conf\n    - contents: \"v1\"\n"
    out = run(tmp_path, conf + SERVICE.replace("{p}", str(tmp_path)).replace("{on_watch}", "reload"), test=True)
    assert out["conf"]["result"] is None and out["svc"]["result"] is None
    assert "Service demo is set to reload" in out["svc"]["comment"]
    assert not (tmp_path / "root" / "etc" / "demo.conf").exists() and not (tmp_path / "actions").exists()


def test_secrets_never_leave_in_a_result(tmp_path: Path) -> None:
    (tmp_path / "root" / "etc").mkdir(parents=True)
    (tmp_path / "root" / "etc" / "k.conf").write_text("auth_pass oldpass1\nkey hunter22\n")
    out = run(tmp_path, "k:\n  file.managed:\n    - name: /etc/k.conf\n"
                        "    - contents: \"auth_pass newpass2\\nkey hunter23\\n\"\n",
              secrets=("hunter23",))
    diff = out["k"]["changes"]["diff"]
    assert "oldpass1" not in diff and "newpass2" not in diff and "hunter23" not in diff
    assert f"+auth_pass {MASK}" in diff and f"+key {MASK}" in diff and "-key hunter22" in diff
