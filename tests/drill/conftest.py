"""drain/undrain, drill and check on a real pair: the seed's states applied to a LabSite with init's defaults.
Each test builds its own lab and tears it down; needs root, keepalived, nginx, ip and nft (skipped without)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from hamaster.lab.site import LabSite


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LabSite]:
    """node1 MASTER of VI_1 and serving the VIP, the apply's planned grace over."""
    with LabSite.create(tmp_path / "site") as s:
        s.apply()
        s.settle()
        yield s
