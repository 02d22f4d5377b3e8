"""A store connection: what the store needs of one (the `Connection` protocol), SQLite's, and `connect`.

SQLite's is Python's own sqlite3 connection (a subclass that knows its dialect); PostgreSQL's is a small
class over psycopg (postgres.py). Both behave as Python's sqlite3 does: a statement opens a transaction,
`commit()` ends it, a read sees the latest commits; a statement that fails raises StoreError. Only the store's
modules run SQL on them.
"""

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from hamaster.core.errors import StoreError, StoreFull
from hamaster.master.store.dialect import SQLITE, Dialect, describe, is_url
from hamaster.master.store.schema import SCHEMA, check_version


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """SQL in `?` placeholders; rows as tuples."""

    @property
    def dialect(self) -> Dialect: ...

    # per minion, the highest seq insert_events has handed out on this connection (a shared store only)
    handed_seq: dict[str, int]

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def begin_write(self) -> None:
        """Open a transaction that holds the write lock from its first statement on."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


def _failure(where: str, exc: sqlite3.Error) -> StoreError:
    full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return (StoreFull if full else StoreError)(f"{where}: {exc}")


class SqliteConnection(sqlite3.Connection):
    """Python's sqlite3 connection whose statements and commits fail with StoreError, as PostgreSQL's do."""

    dialect: Dialect = SQLITE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed_seq: dict[str, int] = {}
        self.where = str(args[0] if args else kwargs.get("database", "store"))

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise _failure(self.where, exc) from None

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            raise _failure(self.where, exc) from None

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise _failure(self.where, exc) from None

    def begin_write(self) -> None:
        """BEGIN IMMEDIATE: a deferred transaction that reads before it writes keeps a snapshot, and when
        another connection (the notifier's) commits meanwhile SQLite refuses the upgrade at once with
        "database is locked", busy timeout or not."""
        if not self.in_transaction:
            self.execute("BEGIN IMMEDIATE")


def connect_sqlite(path: Path, readonly: bool, synchronous: str) -> SqliteConnection:
    try:
        if readonly:
            if not path.exists():
                raise StoreError(f"{path}: no event store here (has the master run?)")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False,
                                   factory=SqliteConnection)
            conn.where = str(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False, factory=SqliteConnection)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.executescript(SCHEMA)
            check_version(conn, str(path))
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    except sqlite3.Error as exc:  # from connect() and executescript()
        raise StoreError(f"{path}: {exc}") from None


def connect(path: str | Path, *, readonly: bool = False, synchronous: str = "FULL") -> Connection:
    """Open the store (a path, or a postgresql:// URL), creating and migrating it unless `readonly`."""
    if isinstance(path, str) and "://" in path:
        if not is_url(path):
            raise StoreError(f"{describe(path)}: unsupported store URL (expected a path or postgresql://...)")
        from hamaster.master.store import postgres  # psycopg is an extra, and costs SQLite users nothing

        return postgres.connect(path, readonly=readonly)
    return connect_sqlite(Path(path), readonly, synchronous)
