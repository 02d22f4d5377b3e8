"""One set of defaults: what `hamaster init` writes is what a config that says nothing gets, for master and minion."""

import subprocess
import sys
from pathlib import Path

import yaml

from hamaster.core.config import load_master_config, load_minion_config

HAMASTER = str(Path(sys.executable).parent / "hamaster")


def test_inits_timings_are_the_configs_defaults(tmp_path: Path) -> None:
    subprocess.run([HAMASTER, "init", str(tmp_path), "--master-addr", "127.0.0.1:1", "--minion", "node1"],
                   check=True, capture_output=True, timeout=60)
    for path, load in ((tmp_path / "master.yaml", load_master_config),
                       (tmp_path / "minions" / "node1" / "minion.yaml", load_minion_config)):
        written = load(path)
        bare = yaml.safe_load(path.read_text())
        del bare["heartbeat"]
        path.write_text(yaml.safe_dump(bare))
        assert load(path).heartbeat_interval == written.heartbeat_interval, path
        if path.name == "master.yaml":
            assert load(path).silent_after == written.silent_after
            # silent before VRRP's own takeover at advert_int 1 (3 adverts + skew), and robust to a lost beat
            assert written.heartbeat_interval * 3 < written.silent_after < 3.0
