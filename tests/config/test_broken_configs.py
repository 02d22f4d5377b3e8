"""A corpus of broken configs (cases/*.yaml), each run through the real CLI as an operator would.

Each case is the config file itself; its first comment lines say which command reads it (default
`hamaster status`) and what the error must say (`# expect:`, one or more). `master-*` cases are a site's
master.yaml, `minion-*` a node's minion.yaml, both written into a site made by `hamaster init`, so relative
paths resolve as they would there. Every case: exit 2, one line on stderr naming the file and the field,
no traceback, nothing on stdout.
"""

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitelib import HAMASTER, HAMINION, Site

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
STATES = Path(__file__).parents[2] / "states"


def header(path: Path) -> tuple[list[str], list[str]]:
    command, expect = ["status"], []
    for line in path.read_text().splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        if key == "command":
            command = value.split()
        elif key == "expect":
            expect.append(value)
    return command, expect


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("config") / "site", minions=("node1",))
    try:
        yield s
    finally:
        s.close()


def argv(command: list[str], config: Path) -> list[str]:
    if command[0] == "haminion":
        return [HAMINION, *command[1:], "-c", str(config)]
    extra = [str(STATES)] if command == ["apply"] else []
    return [HAMASTER, *command, *extra, "-c", str(config)]


def test_the_corpus_is_large_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        assert header(case)[1], f"{case.name}: no '# expect:' line"
        assert case.name.startswith(("master-", "minion-")), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_a_broken_config_is_one_line_exit_2_naming_the_field(site: Site, case: Path) -> None:
    command, expect = header(case)
    folder = site.root / "minions" / "node1" if case.name.startswith("minion-") else site.root
    config = folder / case.name
    shutil.copy(case, config)
    proc = subprocess.run(argv(command, config), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(("hamaster: error: ", "haminion: error: ")) and str(config) in err, err
    for fragment in expect:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert proc.stdout == ""
