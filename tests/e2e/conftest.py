"""End-to-end: a real pair (keepalived + nginx in network namespaces), a master, minions inside the nodes, and
local mail and chat receivers, all from `hamaster.lab.site.LabSite`. Each test builds its own lab (unique names)
and tears it down, failing or not. Needs root, keepalived, nginx, ip and nft; skipped, with the reason, without."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hamaster.lab.receivers import Received
from hamaster.lab.site import LabSite, wait_until
from hamaster.master.cmd_demo import missing_requirements


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


def titles(received: list[Received], part: str) -> list[str]:
    return [m.title for m in received if part in m.title]


def wait_titles(get: Any, part: str, count: int, timeout: float = 30) -> list[str]:
    """Until `count` messages whose title holds `part` arrived (mail: apprise sends one per 5.5 s at most)."""
    return wait_until(lambda: len(titles(get(), part)) >= count and titles(get(), part), timeout,
                      f"{count} message(s) titled '{part}'", step=0.1)


def vrrp_timeline(site: LabSite, since_ns: int) -> list[tuple[str, str]]:
    """(node, state) of each VRRP transition `hamaster timeline` shows after `since_ns`, in its order."""
    out = site.cli("timeline", "--kind", "vrrp", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [(r["node"], r["to"]) for r in rows if r.get("type") == "event" and r["at_ns"] >= since_ns]


def in_order(wanted: list[Any], seen: list[Any]) -> bool:
    it = iter(seen)
    return all(any(w == s for s in it) for w in wanted)
