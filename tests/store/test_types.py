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
# callers of the store, checked against its types (imports they make are followed silently)
CALLERS = ("hamaster.notify.outbox", "hamaster.notify.notifier", "hamaster.master.timeline.rows",
           "hamaster.master.timeline.postmortem", "hamaster.master.cli.events", "hamaster.master.cli.silence",
           "hamaster.master.cli.timeline", "hamaster.master.intake.jobs", "hamaster.master.intake.metrics",
           "hamaster.master.timeline.report", "hamaster.master.web.state", "hamaster.master.web.watch")


def test_mypy_strict_on_the_store_and_clean_on_its_callers(tmp_path: Path) -> None:
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed: pip install -e '.[test]'")
    # mypy cannot follow setuptools' package-dir mapping of an editable install: give it the tree it names
    tree = tmp_path / "src" / "hamaster"
    tree.mkdir(parents=True)
    for name in PACKAGES:
        (tree / name).symlink_to(ROOT / name)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    callers = [a for m in CALLERS for a in ("-m", m)]
    lenient = ["--follow-imports=silent", "--ignore-missing-imports", "--no-site-packages"]  # libraries as Any
    strict = ["--strict", "-p", "hamaster.master.store"]
    # the master's outbox is what notify asks for (the daemon hands one to the Notifier)
    conforms = tmp_path / "src" / "outbox_conforms.py"
    conforms.write_text("from hamaster.master.store.outbox import OutboxStore\n"
                        "from hamaster.notify import outbox\n\n\n"
                        "def given(store: OutboxStore) -> outbox.OutboxStore:\n    return store\n")
    for argv in ([str(mypy), *cache, *strict], [str(mypy), *cache, *lenient, *callers, "-m", "outbox_conforms"]):
        proc = subprocess.run(argv, cwd=tmp_path / "src", env={**os.environ, "MYPYPATH": str(tmp_path / "src")},
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
