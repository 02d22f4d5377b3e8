"""Reactor `state:` rules: a matching event makes the master run an SLS on the node, once per cooldown."""

import re
from pathlib import Path

from sitelib import Site, wait_for


def test_a_fault_makes_the_master_reapply_a_state_on_that_node(site: Site, tmp_path: Path) -> None:
    states, pillar, files = tmp_path / "states", tmp_path / "pillar", tmp_path / "node1-root"
    for folder in (states, pillar, files):
        folder.mkdir()
    (states / "top.sls").write_text("base:\n  '*':\n    - unrelated\n")
    (states / "unrelated.sls").write_text("never:\n  file.managed:\n    - name: /never.txt\n    - contents: no\n")
    (states / "repair.sls").write_text("repair:\n  file.managed:\n    - name: /repaired.txt\n"
                                       "    - contents: \"{{ minion_id }} {{ pillar['word'] }}\"\n")
    (pillar / "top.sls").write_text("base:\n  '*':\n    - common\n")
    (pillar / "common.sls").write_text("word: mended\n")
    config = Path(site.config)  # init's state_root and pillar_root replaced: a key given twice is refused
    config.write_text(re.sub(r"(?m)^(state_root|pillar_root): .*\n", "", config.read_text())
                      + f"state_root: {states}\npillar_root: {pillar}\n"
                      "reactor:\n  - match: vrrp/*/FAULT\n    state: repair\n    cooldown_s: 3600\n")
    minion = Path(site.minion_config("node1"))  # its beacons off altogether (the site gives it a beacons: section)
    minion.write_text(minion.read_text().replace("beacons:\n  keepalived: false\n", "beacons: {enabled: false}\n")
                      + f"file_root_prefix: {files}\n")
    site.start_master()
    site.start_minion("node1")

    site.hook("node1", "INSTANCE", "VI_1", "BACKUP", "100")
    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")
    wait_for(lambda: (files / "repaired.txt").exists(), 20, "the reactor's state run on node1")
    assert (files / "repaired.txt").read_text() == "node1 mended"
    assert not (files / "never.txt").exists()  # only the rule's SLS, not the highstate
    wait_for(lambda: site.count("SELECT COUNT(*) FROM jobs WHERE finished_ns IS NOT NULL") == 1, 10, "the job row")

    site.hook("node1", "INSTANCE", "VI_1", "FAULT", "100")  # within the cooldown: no second run
    wait_for(lambda: site.count() == 3, 10, "the third event")
    assert site.count("SELECT COUNT(*) FROM jobs") == 1
