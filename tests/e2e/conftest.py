"""End-to-end: a real pair (keepalived + nginx in network namespaces), a master, minions inside the nodes, and
local mail and chat receivers, all from `hamaster.lab.site.LabSite`. Each test builds its own lab (unique names)
and tears it down, failing or not. Needs root, keepalived, nginx, ip and nft; skipped, with the reason, without."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from hamaster.lab.site import LabSite
from hamaster.master.cli.demo import missing_requirements


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = missing_requirements()
    for item in items:
        if missing and item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.skip(reason="needs " + "; ".join(missing)))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LabSite]:
    """The seed's pair configured by `hamaster apply states/`, node1 MASTER and the start-up churn over."""
    with LabSite.create(tmp_path / "site") as s:
        s.apply()
        s.settle()
        yield s
