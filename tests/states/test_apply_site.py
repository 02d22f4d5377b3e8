"""`hamaster apply` end to end: the CLI, a real master and real minion processes on loopback, files under
per-minion roots (file_root_prefix)."""

import json
import signal
from pathlib import Path

from sitelib import Site, wait_for

SLS = """
page:
  file.managed:
    - name: /srv/www/index.html
    - contents: "{{ minion_id }} {{ pillar['address'] }}\\n"
    - makedirs: true
"""


def make_site(site: Site, tmp_path: Path) -> tuple[Path, Path]:
    for m in ("node1", "node2"):
        with open(site.minion_config(m), "a") as f:
            f.write("file_root_prefix: root\n")
    states, pillar = tmp_path / "states", tmp_path / "pillar"
    states.mkdir()
    pillar.mkdir()
    (states / "top.sls").write_text("'*': [web]\n")
    (states / "web.sls").write_text(SLS)
    (pillar / "top.sls").write_text("'*': [common]\n")
    (pillar / "common.sls").write_text("address: 10.0.0.{{ minion_id[-1] }}\n")
    site.start_master()
    for m in ("node1", "node2"):
        site.start_minion(m)
    wait_for(lambda: site.count("SELECT COUNT(*) FROM minions WHERE grains IS NOT NULL") == 2, 20, "both minions")
    return states, pillar


def page(site: Site, minion: str) -> Path:
    return site.root / "minions" / minion / "root" / "srv/www/index.html"


def test_apply_changes_once_then_nothing_and_test_mode_changes_nothing(site: Site, tmp_path: Path) -> None:
    states, pillar = make_site(site, tmp_path)
    args = ("apply", str(states), "--pillar", str(pillar), "--timeout", "20")

    dry = site.cli(*args, "--test")
    assert "File /srv/www/index.html is set to be created" in dry.stdout
    assert not page(site, "node1").exists()

    first = site.cli(*args)
    assert first.stdout.count("Succeeded: 1 (changed=1)  Failed: 0") == 2, first.stdout
    assert page(site, "node2").read_text() == "node2 10.0.0.2\n"

    second = json.loads(site.cli(*args, "--json").stdout)
    assert second["summary"] == {"succeeded": 2, "changed": 0, "failed": 0, "missing": 0}
    assert site.count("SELECT COUNT(*) FROM jobs WHERE finished_ns IS NOT NULL") == 3


def test_a_dead_minion_is_named_after_the_timeout(site: Site, tmp_path: Path) -> None:
    states, pillar = make_site(site, tmp_path)
    site.stop(site.minion_procs["node2"], signal.SIGKILL)
    out = site.cli("apply", str(states), "--pillar", str(pillar), "--timeout", "2", check=False)
    assert out.returncode == 1
    assert "node2 did not answer within 2 s" in out.stdout
    assert page(site, "node1").exists()
