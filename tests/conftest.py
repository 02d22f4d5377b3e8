"""Shared fixtures: a real site (master and minions as processes on loopback) and real alert receivers
(HTTP for apprise json://, SMTP for mailto://) on 127.0.0.1, torn down after each test."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import HttpReceiver, SmtpReceiver
from sitelib import Site


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `lab` (real keepalived and nginx in network namespaces) are skipped, saying what is
    missing, on a machine without root or the tools `scripts/setup` installs; CI has them all."""
    from hamaster.master.cli.demo import missing_requirements

    missing = missing_requirements()
    for item in items:
        if missing and item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.skip(reason="needs " + "; ".join(missing)))


@pytest.fixture(autouse=True)
def hook_fallback_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks and minions that tests start keep the hook's fallback spool in the test's folder, not in /run."""
    monkeypatch.setenv("HAMINION_FALLBACK", str(tmp_path / "hook-fallback"))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A site made by `hamaster init` with minions node1 and node2; start what you need with start_*()."""
    s = Site(tmp_path / "site")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().up()
    try:
        yield r
    finally:
        r.down()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    r.controller.start()
    try:
        yield r
    finally:
        r.controller.stop()
