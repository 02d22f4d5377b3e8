"""Helpers for lab tests: polling, the notify log, a running pair."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitelib import wait_for

from hamaster.lab import services
from hamaster.lab.pair import Lab


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll every 20 ms (lab transitions take tens of ms); fail the test with `what` after `timeout` s."""
    return wait_for(predicate, timeout, what, interval=0.02)


class Transitions:
    """The lines keepalived's notify script appended: (node, TYPE, NAME, STATE, PRIORITY)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[tuple[str, ...]]:
        if not self.path.exists():
            return []
        return [tuple(line.split()) for line in self.path.read_text().splitlines() if line.strip()]

    def states(self, node: str) -> list[str]:
        return [t[3] for t in self.all() if t[0] == node]


def write_notify_script(path: Path, log: Path) -> None:
    path.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    path.chmod(0o755)


def start_pair(lab: Lab, notify: Path) -> None:
    """nginx and keepalived on every node; node1 has the highest priority. Returns when node1 holds the VIP."""
    for i, node in enumerate(lab.nodes):
        lab.start_nginx(node)
        conf = services.keepalived_conf(vip=f"{lab.vip}/{lab.prefixlen}", priority=100 - 10 * i,
                                        notify=f'"{notify} {node.name}"', auth_pass="s3cr3tpw")
        lab.start_keepalived(node, conf)
    # keepalived 2 starts every instance as BACKUP unless its priority is 255: node1 takes over after ~3.6 s
    wait_until(lambda: lab.holders() == [lab.nodes[0].name], 15, "node1 to hold the VIP")
