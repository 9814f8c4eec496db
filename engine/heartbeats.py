"""Heartbeats: which Conveyor processes run now, in a plain table beside the events."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine.clock import Clock, IdFactory, RandomIds
from engine.database import StoreDatabase

TABLE = "conveyor_processes"
KINDS = ("worker", "server", "cli-wait")

# Serialises the first use's CREATE TABLE IF NOT EXISTS across processes on PostgreSQL, where
# two at once can still collide on the catalogue. Any fixed number would do; this is "cnvyproc".
_CREATE_LOCK = 0x636E767970726F63

# A heartbeat is operational state, not a fact: a plain row per process, changed in place and
# deletable, never an event. Times are UTC; SQLite keeps them as fixed-width ISO 8601 text,
# which orders as the instants do.
_TABLE_SQL = {
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        "id TEXT PRIMARY KEY, kind TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, "
        "started_at TEXT NOT NULL, seen_at TEXT NOT NULL, stopped_at TEXT, "
        "info TEXT NOT NULL DEFAULT '{}')"
    ),
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        "id text PRIMARY KEY, kind text NOT NULL, host text NOT NULL, pid integer NOT NULL, "
        "started_at timestamptz NOT NULL, seen_at timestamptz NOT NULL, stopped_at timestamptz, "
        "info jsonb NOT NULL DEFAULT '{}'::jsonb)"
    ),
}
_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {TABLE}_seen_at_idx ON {TABLE} (seen_at)"


class _App(Protocol):
    """What Heartbeats needs of the application: its event store, clock and ids."""

    @property
    def recorder(self) -> object: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def ids(self) -> IdFactory: ...


@dataclass(frozen=True)
class ProcessRecord:
    """One registered process as its last heartbeat left it."""

    id: str
    kind: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    info: Mapping[str, Any] = field(default_factory=dict)


class Heartbeats:
    """Register a process, beat while it runs, stop it; ask which ones are alive.

    Runs on the event store's own connections (engine.database), so asking whether a worker is
    alive costs a CLI no extra import. The table is created the first time it is used.
    """

    def __init__(self, database: StoreDatabase, clock: Clock, ids: IdFactory | None = None) -> None:
        self._db = database
        self._clock = clock
        self._ids = ids or RandomIds()
        self._ready = False
        self._ready_lock = threading.Lock()
        self._app: object = None

    @classmethod
    def of(cls, app: _App) -> Heartbeats:
        """Beside the application's events, on its clock and ids."""
        beats = cls(StoreDatabase(app.recorder), app.clock, app.ids)
        # An application closes its store when it is collected: keep it for as long as we are.
        beats._app = app
        return beats

    def register(self, kind: str, info: Mapping[str, Any] | None = None) -> str:
        """Record this process (host, pid) as started and seen now; its id for beat/stop."""
        if kind not in KINDS:
            raise ValueError(f"kind: '{kind}' is not one of {', '.join(KINDS)}")
        self._ensure_table()
        process_id = str(self._ids.new())
        now = self._stamp(self._clock.now())
        info_param = "?::jsonb" if self._db.dialect == "postgresql" else "?"
        with self._db.transaction() as sql:
            sql.run(
                f"INSERT INTO {TABLE} (id, kind, host, pid, started_at, seen_at, info) "
                f"VALUES (?, ?, ?, ?, ?, ?, {info_param})",
                (process_id, kind, socket.gethostname(), os.getpid(), now, now, _dumps(info)),
            )
        return process_id

    def beat(self, process_id: str) -> bool:
        """Seen now. False if no such process is registered or it has stopped."""
        self._ensure_table()
        with self._db.transaction() as sql:
            changed = sql.count(
                f"UPDATE {TABLE} SET seen_at = ? WHERE id = ? AND stopped_at IS NULL",
                (self._stamp(self._clock.now()), process_id),
            )
        return changed > 0

    def stop(self, process_id: str) -> None:
        """The process stopped on purpose: not alive any more, whatever its last beat."""
        self._ensure_table()
        now = self._stamp(self._clock.now())
        with self._db.transaction() as sql:
            sql.run(
                f"UPDATE {TABLE} SET stopped_at = ?, seen_at = ? "
                "WHERE id = ? AND stopped_at IS NULL",
                (now, now, process_id),
            )

    def alive(
        self, kinds: Iterable[str] = KINDS, within_seconds: float = 30.0
    ) -> list[ProcessRecord]:
        """Processes of these kinds not stopped and seen in the last `within_seconds`."""
        wanted = list(kinds)
        if not wanted:
            return []
        self._ensure_table()
        since = self._stamp(self._clock.now() - timedelta(seconds=within_seconds))
        marks = ", ".join("?" for _ in wanted)
        with self._db.transaction() as sql:
            rows = sql.run(
                f"SELECT * FROM {TABLE} WHERE stopped_at IS NULL AND seen_at >= ? "
                f"AND kind IN ({marks}) ORDER BY started_at, id",
                (since, *wanted),
            )
        return [self._record(row) for row in rows]

    def forget(self, older_than_seconds: float) -> int:
        """Delete the rows of processes stopped or silent for longer; how many went."""
        self._ensure_table()
        before = self._stamp(self._clock.now() - timedelta(seconds=older_than_seconds))
        with self._db.transaction() as sql:
            return sql.count(f"DELETE FROM {TABLE} WHERE seen_at < ?", (before,))

    # ----- plumbing ---------------------------------------------------------------------------

    def _ensure_table(self) -> None:
        with self._ready_lock:
            if self._ready:
                return
            with self._db.transaction() as sql:
                if self._db.dialect == "postgresql":
                    sql.run("SELECT pg_advisory_xact_lock(?)", (_CREATE_LOCK,))
                sql.run(_TABLE_SQL[self._db.dialect])
                sql.run(_INDEX_SQL)
            self._ready = True

    def _stamp(self, instant: datetime) -> datetime | str:
        """An instant as the dialect keeps it: timestamptz, or fixed-width UTC text."""
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        if self._db.dialect == "postgresql":
            return instant
        return instant.astimezone(UTC).isoformat(timespec="microseconds")

    @staticmethod
    def _record(row: Mapping[str, Any]) -> ProcessRecord:
        info = row["info"]
        return ProcessRecord(
            id=str(row["id"]),
            kind=str(row["kind"]),
            host=str(row["host"]),
            pid=int(row["pid"]),
            started_at=_instant(row["started_at"]),
            seen_at=_instant(row["seen_at"]),
            stopped_at=None if row["stopped_at"] is None else _instant(row["stopped_at"]),
            info=json.loads(info) if isinstance(info, str) else dict(info),
        )


def _dumps(info: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(info or {}), sort_keys=True, default=str)


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).astimezone(UTC)
