"""State modules, one data case per file in cases/: each runs for real under its own file root prefix.

A case runs three times: in test mode (must change nothing on disk), then for real (`first`), then again
(`second`, which for a good state finds nothing to do). `after` says what the disk holds after `first`.
"""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from hamaster.minion.statemods import FUNCTIONS, Ctx

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _fill(value: Any, prefix: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{prefix}", str(prefix))
    if isinstance(value, dict):
        return {k: _fill(v, prefix) for k, v in value.items()}
    return value


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"") for p in sorted(root.rglob("*"))}


def _check(ret: Any, expect: dict[str, Any], step: str) -> None:
    assert ret.result is expect["result"], f"{step}: result {ret.result} ({ret.comment})"
    if "changes" in expect:
        assert sorted(ret.changes) == sorted(expect["changes"]), f"{step}: changes {ret.changes}"
    if "comment" in expect:
        assert expect["comment"] in ret.comment, f"{step}: comment {ret.comment!r}"
    if "diff_has" in expect:
        assert expect["diff_has"] in ret.changes["diff"], f"{step}: diff {ret.changes['diff']!r}"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_state_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    fn = FUNCTIONS[case["state"]]
    name, args = _fill(case["name"], tmp_path), _fill(case.get("args", {}), tmp_path)
    for path, spec in case.get("before", {}).items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(spec["contents"])
        os.chmod(target, int(spec.get("mode", "0644"), 8))

    before = _snapshot(tmp_path)
    _check(fn(Ctx(test=True, prefix=tmp_path), name, **args), case["expect"]["test"], "test")
    assert _snapshot(tmp_path) == before, "test mode changed the disk"
    if "first" not in case["expect"]:
        return
    _check(fn(Ctx(prefix=tmp_path), name, **args), case["expect"]["first"], "first")
    for path, spec in case.get("after", {}).items():
        target = tmp_path / path.lstrip("/")
        if spec is None:
            assert not target.exists(), f"{path} should not exist"
            continue
        if spec.get("dir"):
            assert target.is_dir()
        else:
            assert target.read_text() == spec["contents"]
        if "mode" in spec:
            assert f"{target.stat().st_mode & 0o7777:04o}" == spec["mode"]
    if "second" in case["expect"]:
        _check(fn(Ctx(prefix=tmp_path), name, **args), case["expect"]["second"], "second")


def test_no_temporary_files_are_left_beside_the_target(tmp_path: Path) -> None:
    managed = FUNCTIONS["file.managed"]
    (tmp_path / "etc").mkdir()
    assert managed(Ctx(prefix=tmp_path), "/etc/a.conf", contents="x\n").result is True
    assert managed(Ctx(prefix=tmp_path), "/etc/a.conf", contents="y\n", check_cmd="false").result is False
    assert [p.name for p in (tmp_path / "etc").iterdir()] == ["a.conf"]
