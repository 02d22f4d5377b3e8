"""Fixtures of the timeline tests: a scenario loaded into a real store on disk, opened read-only."""

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scenario import load

from hamaster.master import store


@pytest.fixture
def open_scenario(tmp_path: Path) -> Iterator[Callable[[str], sqlite3.Connection]]:
    """open_scenario("failover") -> a read-only connection to a fresh store holding that scenario."""
    conns: list[sqlite3.Connection] = []

    def _open(name: str) -> sqlite3.Connection:
        db = tmp_path / f"{name}.db"
        load(name, db)
        conns.append(store.connect(db, readonly=True))
        return conns[-1]

    yield _open
    for c in conns:
        c.close()
