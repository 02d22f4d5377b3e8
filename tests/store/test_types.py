"""mypy --strict is clean on master/store: both engines' connections are checked against the Connection protocol
(connect() returns either as one), and so is every caller's use of a store function."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "master", "minion", "notify", "lab")  # pyproject's package-dir: hamaster.<name> is <name>/


def test_mypy_strict_on_the_store(tmp_path: Path) -> None:
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed: pip install -e '.[test]'")
    # mypy cannot follow setuptools' package-dir mapping of an editable install: give it the tree it names
    tree = tmp_path / "src" / "hamaster"
    tree.mkdir(parents=True)
    for name in PACKAGES:
        (tree / name).symlink_to(ROOT / name)
    argv = [str(mypy), "--strict", "--cache-dir", str(tmp_path / "cache"), "-p", "hamaster.master.store"]
    proc = subprocess.run(argv, cwd=tmp_path / "src", env={**os.environ, "MYPYPATH": str(tmp_path / "src")},
                          capture_output=True, text=True, timeout=240)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
