"""Wake-ups: a worker waits for new events; PostgreSQL wakes it at once, SQLite is polled."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from engine.database import StoreDatabase

if TYPE_CHECKING:
    import psycopg

    from engine.settings import Settings

# The channel the events table's trigger notifies on every insert statement.
CHANNEL = "conveyor_work"
# The trigger and its function; the function lives in the events table's schema.
TRIGGER = "conveyor_notify_work"
# Serialises installing the trigger across processes. Any fixed number would do: "cnvywake".
_INSTALL_LOCK = 0x636E767977616B65

# SQLite has no notifications: poll the log's head, first every 50 ms, backing off to once a
# second while nothing happens, and back to 50 ms as soon as something does.
FIRST_POLL_SECONDS = 0.05
MOST_POLL_SECONDS = 1.0
# A PostgreSQL waker that lost its connection tries again after at most this long.
_RECONNECT_SECONDS = 1.0


class Waker(Protocol):
    """What a worker waits on between looks at its work.

    Make it before the first look: whatever is recorded after it was made wakes the next wait,
    even if recorded before that wait began, so no wake-up is lost between a look and a wait.
    """

    def wait(self, timeout: float) -> bool:
        """Block until something new is recorded (True) or `timeout` seconds pass (False).

        True may be spurious (a reconnection, an event already seen): look again either way.
        """
        ...

    def close(self) -> None: ...


class _App(Protocol):
    @property
    def recorder(self) -> Any: ...

    @property
    def settings(self) -> Settings: ...


def open_waker(app: _App) -> Waker:
    """The waker for the application's store: LISTEN on PostgreSQL, polling on SQLite."""
    if StoreDatabase(app.recorder).dialect == "postgresql":
        return ListenWaker(app.settings, *_events_table(app.recorder))
    return PollingWaker(app.recorder)


def _events_table(recorder: Any) -> tuple[str, str]:
    """(schema, table) of the recorder's events, for eventsourcing's own module or SQLAlchemy."""
    datastore = recorder.datastore
    schema = getattr(datastore, "schema", None) or getattr(recorder, "schema_name", None)
    return schema or "public", str(recorder.events_table_name)


class PollingWaker:
    """Polls the notification log's head (its largest notification id) with a back-off."""

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder
        self._seen = recorder.max_notification_id()
        self._interval = FIRST_POLL_SECONDS
        self._closed = threading.Event()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            head = self._recorder.max_notification_id()
            if head != self._seen:
                self._seen = head
                self._interval = FIRST_POLL_SECONDS
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._closed.wait(min(self._interval, remaining))
            self._interval = min(self._interval * 2, MOST_POLL_SECONDS)
        return False

    def close(self) -> None:
        self._closed.set()


class ListenWaker:
    """LISTENs on its own connection to a channel a trigger on the events table notifies.

    A trigger rather than the NOTIFY eventsourcing's recorders send themselves: it fires for
    every insert into the table, whichever persistence module or client made it.
    """

    def __init__(self, settings: Settings, schema: str, table: str) -> None:
        self._connect_args = _connect_args(settings)
        self._schema = schema
        self._table = table
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def wait(self, timeout: float) -> bool:
        import psycopg

        if self._conn is None:
            try:
                self._connect()
            except psycopg.OperationalError:
                time.sleep(min(timeout, _RECONNECT_SECONDS))
                return False
            return True  # notifications sent while disconnected are lost: look again
        try:
            woken = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
            if woken:
                # One look answers a burst: drop what else is queued (timeout 0 polls once).
                for _ in self._conn.notifies(timeout=0):
                    pass
        except psycopg.OperationalError:
            self._drop()
            return True
        return woken

    def close(self) -> None:
        self._drop()

    def _connect(self) -> None:
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(**self._connect_args, autocommit=True)
        try:
            install_trigger(conn, self._schema, self._table)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


def install_trigger(conn: psycopg.Connection[Any], schema: str, table: str) -> None:
    """Make every insert statement on the events table notify CHANNEL; idempotent.

    Under a transaction-scoped advisory lock, so racing installers take turns. The function is
    replaced every time (cheap, no lock on the table); the trigger is created only when missing:
    dropping and re-creating it would take an exclusive lock on the events table at every
    worker start, queueing every reader of the log behind any long read in progress.
    """
    from psycopg import sql

    function = sql.Identifier(schema, TRIGGER)
    events = sql.Identifier(schema, table)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_notify({channel}, ''); RETURN NULL; END $$"
            ).format(function=function, channel=sql.Literal(CHANNEL))
        )
        found = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS has_table, EXISTS ("
            "  SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = to_regclass(%s)"
            ") AS has_trigger",
            (events.as_string(conn), TRIGGER, events.as_string(conn)),
        ).fetchone()
        assert found is not None
        has_table, has_trigger = found
        if not has_table:
            raise LookupError(f"no events table {schema}.{table} to notify from")
        if not has_trigger:
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {trigger} AFTER INSERT ON {events} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
                ).format(trigger=sql.Identifier(TRIGGER), events=events, function=function)
            )


def _connect_args(settings: Settings) -> dict[str, Any]:
    """psycopg's connection arguments for the store's PostgreSQL database."""
    env = settings.event_store_env()
    if env.get("PERSISTENCE_MODULE") == "eventsourcing_sqlalchemy":
        from dataclasses import replace

        env = replace(settings, persistence="native").event_store_env()
    return {
        "dbname": env["POSTGRES_DBNAME"],
        "host": env["POSTGRES_HOST"],
        "port": int(env["POSTGRES_PORT"]),
        "user": env["POSTGRES_USER"],
        "password": env["POSTGRES_PASSWORD"] or None,
        "application_name": "conveyor-waker",
        "connect_timeout": 5,
    }
