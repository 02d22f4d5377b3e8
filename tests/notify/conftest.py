"""Fixtures of the notify tests: a real store on disk (the receivers are in tests/conftest.py); `lab`-marked
tests (the real pair) are skipped, with the reason, without root, keepalived or nginx."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hamaster.master import store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    store.connect(path).close()
    return path


@pytest.fixture
def conn(store_path: Path) -> Iterator[sqlite3.Connection]:
    c = store.connect(store_path)
    yield c
    c.close()
