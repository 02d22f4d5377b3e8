"""`hamaster check` with no master running: the monitoring system hears an error (exit 2), not a traceback."""

import json
import subprocess
import sys
from pathlib import Path

HAMASTER = str(Path(sys.executable).parent / "hamaster")


def test_check_says_the_master_is_down_and_exits_2(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([HAMASTER, "init", str(site), "--master-addr", "127.0.0.1:45999", "--minion", "a",
                    "--minion", "b"], check=True, capture_output=True)
    done = subprocess.run([HAMASTER, "check", "--json", "-c", str(site / "master.yaml")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr == "", done.stderr
    found = json.loads(done.stdout)
    assert found["ready"] is False
    assert [f["severity"] for f in found["findings"]] == ["error", "error"]
    assert "the master does not answer" in found["findings"][0]["problem"]
    assert "no event store here" in found["findings"][1]["problem"]
    assert not (site / "store.db").exists()  # check reads; it makes nothing


def test_check_called_wrongly_is_unknown_not_a_broken_pair(tmp_path: Path) -> None:
    """Nagios reads 2 as CRITICAL: a typo in the monitor's command line or a broken master.yaml is 3."""
    site = tmp_path / "site"
    subprocess.run([HAMASTER, "init", str(site), "--master-addr", "127.0.0.1:45998", "--minion", "a"],
                   check=True, capture_output=True)
    config = str(site / "master.yaml")
    for args in (["--no-such-option"], ["--live-timeout", "0"], ["--live-timeout", "-1"]):
        done = subprocess.run([HAMASTER, "check", *args, "-c", config], capture_output=True, text=True, timeout=60)
        assert done.returncode == 3, (args, done.returncode, done.stderr)
    (site / "master.yaml").write_text("store: [unclosed\n")
    done = subprocess.run([HAMASTER, "check", "-c", config], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "hamaster: error:" in done.stderr, done.stderr
