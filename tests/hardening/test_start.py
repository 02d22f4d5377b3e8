"""A master that cannot start says why in one line and leaves nothing running."""

import socket
import subprocess
import threading

import pytest
from sitelib import HAMASTER, Site

from hamaster.core.config import load_master_config
from hamaster.core.errors import ConfigError
from hamaster.master.intake.daemon import MasterDaemon


def start_fails(site: Site) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAMASTER, "master", "-c", site.config], capture_output=True, text=True, timeout=30)


def test_a_port_in_use_is_one_line_and_the_master_exits(site: Site) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", site.port))
        taken.listen()
        proc = start_fails(site)
    assert proc.returncode == 2  # what is wrong is in master.yaml or beside it: a config error
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("hamaster: error: ") and f"127.0.0.1:{site.port}" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not (site.root / "control.sock").exists()


def test_a_broken_master_key_is_one_line(site: Site) -> None:
    (site.root / "pki" / "master.key_secret").write_text("not a certificate\n")
    proc = start_fails(site)
    assert proc.returncode == 2  # what is wrong is in master.yaml or beside it: a config error
    assert proc.stderr.strip().splitlines()[-1].startswith("hamaster: error: ")
    assert "master key" in proc.stderr and "Traceback" not in proc.stderr


def test_the_master_starts_again_once_the_port_is_free(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", site.port))
        taken.listen()
        assert start_fails(site).returncode == 2
    site.start_master()
    assert site.cli("status").returncode == 0


def test_a_failed_start_in_process_leaves_no_thread_behind(site: Site) -> None:
    cfg = load_master_config(site.config)
    before = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", site.port))
        taken.listen()
        with pytest.raises(ConfigError, match="cannot listen"):
            MasterDaemon(cfg)
    assert set(threading.enumerate()) - before == set()  # no ZAP thread, no notifier, no probe
