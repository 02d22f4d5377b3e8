"""Fixtures of the notify tests: the real receivers of receivers.py, and a real store on disk."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from receivers import HttpReceiver, SmtpReceiver

from hamaster.master import store


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().up()
    try:
        yield r
    finally:
        r.down()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    r.controller.start()
    try:
        yield r
    finally:
        r.controller.stop()


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
