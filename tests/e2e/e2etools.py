"""Helpers of the end-to-end tests (a module of its own: `from conftest import` depends on which conftest
pytest happened to import first)."""

import json
import re
from typing import Any

from hamaster.lab.pillar import INSTANCE, ROUTER_ID
from hamaster.lab.receivers import Received
from hamaster.lab.site import LabSite, wait_until


def titles(received: list[Received], part: str) -> list[str]:
    """The titles holding `part`, a failover's without its gap (" in 3.4 s", which differs every run)."""
    return [no_gap(m.title) for m in received if part in m.title]


def no_gap(title: str) -> str:
    return re.sub(r" in \d[^()]*?(?= \(|$)", "", title)


def label(vip: str) -> str:
    """How the lab's VRRP group is named in its alerts (its minions report VI_1's VRID and VIP)."""
    return f"VIP {vip} ({INSTANCE}, VRID {ROUTER_ID})"


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
