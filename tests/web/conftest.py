"""Fixtures of the web tests: a real site (master, minions), `hamaster web` on it, Debian's chromium."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pgcluster import pg_server, pg_url
from sitelib import Site
from webtools import WebProcess, browser, chromium_missing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "timeline"))  # its scenarios: stores filled as
# a master fills them (tests/timeline/scenario.py)

__all__ = ["pg_server", "pg_url"]  # the PostgreSQL tests' server, for the status tests on both engines


@pytest.fixture
def pair_site(site: Site) -> Site:
    """Master, node1 MASTER and node2 BACKUP of VI_1, both minions running."""
    site.start_pair()
    return site


@pytest.fixture
def web(pair_site: Site) -> Iterator[WebProcess]:
    w = WebProcess(pair_site.config, log=pair_site.root / "web.log")
    try:
        w.wait_up()
        yield w
    finally:
        w.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A browser context; in CI (CI=true) a missing chromium fails the test instead of skipping it."""
    missing = chromium_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    with browser() as ctx:
        yield ctx
