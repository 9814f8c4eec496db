"""The store's schema: set up once, under a lock, by `conveyor init` or the first command."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from domain.errors import StoreUnavailableException
from engine.settings import CONNECT_TIMEOUT_SECONDS, PostgresTarget, Settings

if TYPE_CHECKING:
    from eventsourcing.application import Application

A = TypeVar("A", bound="Application[Any]")

# Raise it when a release adds or changes a table or index of the event store or the views:
# a store set up at a lower version is set up again (every step is idempotent) on first use.
SCHEMA_VERSION = 2
# One row: the version the store was last set up at. It is written last, so a set-up that
# died halfway is done again by the next command.
SCHEMA_TABLE = "conveyor_schema"
# The PostgreSQL advisory lock every set-up takes: b"conveyor" read as a big-endian integer.
SETUP_LOCK_KEY = int.from_bytes(b"conveyor", "big")


class _Creates(Protocol):
    def create_table(self) -> None: ...


class Gate(ABC):
    """A connection beside the application's own that reads the schema version and holds the
    set-up lock: PostgreSQL's advisory lock, or a lock on the SQLite store's directory."""

    @abstractmethod
    def version(self) -> int:
        """The version the store was set up at; 0 if it never was."""

    @abstractmethod
    def locked(self) -> AbstractContextManager[None]:
        """Hold the set-up lock (waiting for it) for the block."""

    @abstractmethod
    def record(self, version: int) -> None:
        """Write down that the store is set up at `version`."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection (idempotent)."""


class SQLiteGate(Gate):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: sqlite3.Connection | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = sqlite3.connect(
                self.settings.database_path, timeout=self.settings.sqlite_lock_timeout
            )
        return self._connection

    def version(self) -> int:
        try:
            row = self.connection.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return 0
            raise
        return int(row[0] or 0)

    @contextmanager
    def locked(self) -> Iterator[None]:
        # Not a SQLite transaction: the set-up writes through other connections (the event
        # store's, the views'), which a lock held here on the database would block.
        descriptor = os.open(self.settings.home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def record(self, version: int) -> None:
        with self.connection:
            self.connection.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)"
            )
            self.connection.execute(f"DELETE FROM {SCHEMA_TABLE}")
            self.connection.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?)", (version,))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresGate(Gate):
    def __init__(self, target: PostgresTarget) -> None:
        import psycopg

        self.target = target
        try:
            self.connection = psycopg.connect(
                host=target.host,
                port=target.port,
                dbname=target.dbname,
                user=target.user,
                password=target.password,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                autocommit=True,
            )
        except psycopg.Error as error:
            raise StoreUnavailableException(unreachable(target, error)) from None

    def version(self) -> int:
        from psycopg.errors import UndefinedTable

        try:
            row = self.connection.execute(f"SELECT max(version) FROM {SCHEMA_TABLE}").fetchone()
        except UndefinedTable:
            return 0
        return int(row[0] or 0) if row else 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.connection.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        try:
            yield
        finally:
            # Also released when the session ends, should this process die while holding it.
            self.connection.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))

    def record(self, version: int) -> None:
        with self.connection.transaction():
            self.connection.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version integer NOT NULL)"
            )
            self.connection.execute(f"DELETE FROM {SCHEMA_TABLE}")
            self.connection.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (%s)", (version,))

    def close(self) -> None:
        self.connection.close()


def open_gate(settings: Settings) -> Gate:
    """The gate of the settings' store; for PostgreSQL this connects, so a store that cannot be
    reached is reported here, with the server's reason, before anything else waits on it."""
    target = settings.postgres_target()
    return PostgresGate(target) if target is not None else SQLiteGate(settings)


def unreachable(target: PostgresTarget, error: Exception) -> str:
    """One paragraph: which database, and the server's (or the network's) own words."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if target.password:
        reason = reason.replace(target.password, "***")
    # libpq prefixes every attempt with "connection failed: "; once is enough.
    reason = re.sub(r"^connection failed:\s*", "", reason)
    stop = "" if reason.endswith((".", "?", "!")) else "."
    return (
        f"cannot connect to the PostgreSQL store (CONVEYOR_DATABASE_URL), {target.describe()}: "
        f"{reason}{stop} Check the URL, that the server runs and accepts connections from this "
        f"machine, and that the database exists."
    )


def open_set_up(
    gate: Gate,
    open_app: Callable[[], A],
    create_views: Callable[[A], None],
    *,
    force: bool = False,
) -> A:
    """The application over a store that is set up at SCHEMA_VERSION, setting it up first when
    it is not (or always, with `force`; every step is idempotent).

    The check is one query. The set-up runs under the lock and checks again once it holds it,
    so of many processes starting on a fresh database one sets it up while the others wait
    (holding one connection each), then carry on.
    """
    if not force and gate.version() >= SCHEMA_VERSION:
        gate.close()
        return open_app()
    with gate.locked():
        app = open_app()
        try:
            if force or gate.version() < SCHEMA_VERSION:
                create_event_tables(app)
                create_views(app)
                gate.record(SCHEMA_VERSION)
            register_types(app)
        except BaseException:
            app.close()
            raise
    return app


def create_event_tables(app: Application[Any]) -> None:
    """eventsourcing's own tables (events, snapshots), as it creates them with CREATE_TABLE."""
    recorders: list[Any] = [app.recorder]
    if app.snapshots is not None:
        recorders.append(app.snapshots.recorder)
    for recorder in recorders:
        creates: _Creates = recorder
        creates.create_table()


def register_types(app: Application[Any]) -> None:
    """On native PostgreSQL, the composite type the recorder writes with: a process that opened
    the store before another set it up found no type to register."""
    datastore = getattr(app.recorder, "datastore", None)
    register = getattr(datastore, "register_type_adapters", None)
    if register is not None:
        register()
