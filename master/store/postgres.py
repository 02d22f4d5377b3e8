"""The store on PostgreSQL: a psycopg connection with the store's `Connection` surface (connection.py).

    conn = store.connect("postgresql://hamaster@db1/hamaster")   # store.connect picks this module for a URL

The store's SQL runs here as written; only its `?` placeholders become psycopg's `%s` (dialect.pyformat),
and the schema's types are mapped once (dialect.postgres_schema). Transactions behave as Python's sqlite3
does: a statement opens one, `commit()` ends it, and reads see the latest commits (READ COMMITTED). A
statement that fails rolls its transaction back (PostgreSQL cannot go on with it) and raises StoreError.

Two masters may share one database: the unique keys (events on minion and seq, incidents on dedup_key) make
the second copy of anything a no-op, and events.insert_events hands each master every event it received,
whether it or the other master stored it first, so both correlators see the whole history.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg

from hamaster.core.errors import StoreError, StoreFull
from hamaster.master.store.dialect import POSTGRESQL, Dialect, describe, postgres_schema, pyformat, scrub
from hamaster.master.store.schema import SCHEMA, check_version

# The id of the event a second report repeats (data.duplicate_of), NULL when there is none or data is not
# JSON (dialect.POSTGRESQL.duplicate_of). The strpos test spares most rows the JSON parse.
DUPLICATE_OF_FUNCTION = """
CREATE OR REPLACE FUNCTION hamaster_duplicate_of(data text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF data IS NULL OR strpos(data, 'duplicate_of') = 0 THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN (data::jsonb ->> 'duplicate_of')::bigint;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
END $$
"""


class PgConnection:
    def __init__(self, url: str, *, readonly: bool) -> None:
        self.url = describe(url)
        self.handed_seq: dict[str, int] = {}
        options = "-c default_transaction_read_only=on" if readonly else ""
        try:
            # a reader never holds a transaction open (`hamaster events --follow` reads for days)
            self._pg = psycopg.connect(url, connect_timeout=10, options=options, autocommit=readonly)
        except psycopg.Error as exc:
            hint = ("; percent-encode what the password holds of # / ? @ % (# as %23)"
                    if "URI" in str(exc) else "")
            raise StoreError(f"{self.url}: {scrub(_one_line(exc), url)}{hint}") from None

    @property
    def dialect(self) -> Dialect:
        return POSTGRESQL

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._run(lambda cur: cur.execute(pyformat(sql), parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        rows = list(parameters)
        return self._run(lambda cur: cur.executemany(pyformat(sql), rows) if rows else None)

    def begin_write(self) -> None:
        """Nothing to do: row locks are taken by the statements that write, and held until commit."""

    def commit(self) -> None:
        try:
            self._pg.commit()
        except psycopg.Error as exc:
            raise _failure(self.url, exc) from None

    def rollback(self) -> None:
        self._pg.rollback()

    def close(self) -> None:
        self._pg.close()

    def _run(self, call: Callable[[psycopg.Cursor[Any]], object]) -> psycopg.Cursor[Any]:
        cur = self._pg.cursor()
        try:
            call(cur)
        except psycopg.Error as exc:
            self._pg.rollback()
            raise _failure(self.url, exc) from None
        return cur

    def has_table(self, name: str) -> bool:
        row = self.execute("SELECT to_regclass(?)", (name,)).fetchone()
        return row is not None and row[0] is not None


def connect(url: str, *, readonly: bool) -> PgConnection:
    conn = PgConnection(url, readonly=readonly)
    try:
        if readonly:
            if not conn.has_table("events"):
                raise StoreError(f"{conn.url}: no event store here (has the master run?)")
            return conn
        # create what is missing under a lock: two masters may start at once
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('hamaster schema'))")
        for statement in postgres_schema(SCHEMA):
            conn.execute(statement)
        conn.execute(DUPLICATE_OF_FUNCTION)
        check_version(conn, conn.url)  # commits, and so lets go of the lock
        return conn
    except BaseException:
        conn.close()
        raise


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _failure(url: str, exc: psycopg.Error) -> StoreError:
    full = getattr(exc, "sqlstate", None) == "53100"  # disk_full
    return (StoreFull if full else StoreError)(f"{url}: {_one_line(exc)}")
