"""Fixtures for lab tests: a real keepalived + nginx pair in network namespaces, torn down after each test."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import Transitions, start_pair, write_notify_script

from hamaster.lab.pair import Lab


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A lab with nothing running yet; its run dirs (logs, pid files) are kept in tmp_path for post-mortems."""
    with Lab.create(("node1", "node2"), workdir=tmp_path / "lab") as the_lab:
        yield the_lab


@pytest.fixture
def transitions(tmp_path: Path) -> Transitions:
    return Transitions(tmp_path / "transitions.log")


@pytest.fixture
def pair(lab: Lab, tmp_path: Path, transitions: Transitions) -> Lab:
    """The seed's pair, running: node1 MASTER (priority 100), node2 BACKUP (90), notify lines in `transitions`."""
    script = tmp_path / "notify.sh"
    write_notify_script(script, transitions.path)
    start_pair(lab, script)
    return lab
