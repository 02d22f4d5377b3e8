"""The one WHERE-clause builder of the store: optional filters in, `WHERE ...` and its arguments out.

    w = Where().ge("node_ns", since).lt("node_ns", until).eq("minion", minion).any_of("kind", kinds)
    conn.execute(f"SELECT ... FROM events{w.sql} ORDER BY ...", w.args)

A filter whose value is None (or an empty collection, for any_of) is left out. Column names are the
store's own, never a caller's text.
"""

from collections.abc import Iterable
from typing import Any, Self


class Where:
    __slots__ = ("args", "clauses")

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *args: Any) -> Self:
        self.clauses.append(clause)
        self.args.extend(args)
        return self

    def _compare(self, column: str, op: str, value: Any) -> Self:
        return self if value is None else self.add(f"{column} {op} ?", value)

    def eq(self, column: str, value: Any) -> Self:
        return self._compare(column, "=", value)

    def ge(self, column: str, value: Any) -> Self:
        return self._compare(column, ">=", value)

    def gt(self, column: str, value: Any) -> Self:
        return self._compare(column, ">", value)

    def lt(self, column: str, value: Any) -> Self:
        return self._compare(column, "<", value)

    def any_of(self, column: str, values: Iterable[Any] | None) -> Self:
        values = list(values or ())
        return self.add(f"{column} IN ({','.join('?' * len(values))})", *values) if values else self

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""
