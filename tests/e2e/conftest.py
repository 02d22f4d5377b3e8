"""End-to-end: a real pair (keepalived + nginx in network namespaces), a master, minions inside the nodes, and
local mail and chat receivers, all from `hamaster.lab.site.LabSite`. Each test builds its own lab (unique names)
and tears it down, failing or not. Needs root, keepalived, nginx, ip and nft; skipped, with the reason, without."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from hamaster.lab.site import LabSite


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LabSite]:
    """The seed's pair configured by `hamaster apply states/`, node1 MASTER and the start-up churn over."""
    with LabSite.create(tmp_path / "site") as s:
        s.apply()
        s.settle()
        yield s
