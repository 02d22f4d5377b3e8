"""The store's contract suite runs every test on both engines: a real SQLite file and a database of the
throw-away PostgreSQL server (tests/pgcluster.py; skipped with the reason where it cannot run)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pgcluster import pg_server, pg_url

from hamaster.master import store

__all__ = ["pg_server", "pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a path or a postgresql:// URL (a fresh, empty database each time)."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def opened(where: str) -> Iterator[Callable[..., store.Connection]]:
    """Open connections to the store (all closed after the test)."""
    conns: list[store.Connection] = []

    def _open(**kwargs: object) -> store.Connection:
        conns.append(store.connect(where, **kwargs))  # type: ignore[arg-type]
        return conns[-1]
    yield _open
    for c in conns:
        c.close()


@pytest.fixture
def conn(opened: Callable[..., store.Connection]) -> store.Connection:
    return opened()
