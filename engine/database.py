"""Plain SQL beside the events, in the event store's own database and on its own connections."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]


class Statements(Protocol):
    """One open transaction. Statements use `?` placeholders on every dialect."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Execute; the rows as dicts when the statement returns rows, else []."""
        ...

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a change; the number of rows it changed."""
        ...


def _instance_of(value: object, module: str, name: str) -> bool:
    # Only a module already imported can have made `value`: checking sys.modules keeps a
    # SQLite process from importing psycopg (or SQLAlchemy) just to learn it does not use it.
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(value, getattr(loaded, name))


class StoreDatabase:
    """Runs Conveyor's own operational statements (not events) where the events are kept.

    It borrows the event store recorder's datastore — eventsourcing's SQLite or PostgreSQL
    module, or eventsourcing-sqlalchemy — so a process that has the application open needs no
    second driver, pool or engine. Only tables of our own are touched, never the recorder's.
    """

    def __init__(self, recorder: object) -> None:
        datastore = getattr(recorder, "datastore", None)
        self._datastore: Any = datastore
        if _instance_of(datastore, "eventsourcing.sqlite", "SQLiteDatastore"):
            self.dialect: Dialect = "sqlite"
            self._kind = "native"
        elif _instance_of(datastore, "eventsourcing.postgres", "PostgresDatastore"):
            self.dialect = "postgresql"
            self._kind = "native"
        elif _instance_of(datastore, "eventsourcing_sqlalchemy.datastore", "SQLAlchemyDatastore"):
            name = datastore.engine.dialect.name  # type: ignore[union-attr]
            if name not in ("sqlite", "postgresql"):
                raise ValueError(f"unsupported SQLAlchemy dialect for Conveyor's tables: {name}")
            self.dialect = name
            self._kind = "sqlalchemy"
        else:
            raise ValueError(f"no SQL database behind the recorder {type(recorder).__name__}")

    @contextmanager
    def transaction(self) -> Iterator[Statements]:
        """A transaction committed when the block ends, rolled back if it raises."""
        if self._kind == "sqlalchemy":
            with self._datastore.transaction(commit=True) as session:
                yield _SQLAlchemyStatements(session.connection(), self.dialect)
        else:
            with self._datastore.transaction(commit=True) as cursor:
                yield _CursorStatements(cursor, self.dialect)


def _placeholders(sql: str, dialect: Dialect) -> str:
    # psycopg takes %s where sqlite3 takes ?; our statements hold no other `?` or `%`.
    return sql.replace("?", "%s") if dialect == "postgresql" else sql


class _CursorStatements:
    """On eventsourcing's own cursors: sqlite3 rows, or psycopg dict rows."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        self._cursor.execute(_placeholders(sql, self._dialect), tuple(params))
        # eventsourcing wraps sqlite3's cursor; psycopg's is used as it is.
        return getattr(self._cursor, "sqlite_cursor", self._cursor)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raw = self._execute(sql, params)
        if raw.description is None:
            return []
        if self._dialect == "sqlite":
            return [dict(zip(row.keys(), row, strict=True)) for row in raw.fetchall()]
        return list(raw.fetchall())

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._execute(sql, params).rowcount)


class _SQLAlchemyStatements:
    """On the SQLAlchemy session's connection, straight to the driver (same placeholders)."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        return self._connection.exec_driver_sql(_placeholders(sql, self._dialect), tuple(params))

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        result = self._execute(sql, params)
        if not result.returns_rows:
            return []
        return [dict(row._mapping) for row in result]

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._execute(sql, params).rowcount)
