"""Injected time and ids: the system clock for real runs, controllable ones for tests."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; `CONVEYOR_NOW` pins the CLI to one of these."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant


class IdFactory(Protocol):
    def new(self) -> uuid.UUID: ...


class RandomIds:
    def new(self) -> uuid.UUID:
        return uuid.uuid4()


class SequentialIds:
    """Deterministic ids (simulation, property tests): the same run gives the same ids."""

    def __init__(self, seed: str = "conveyor") -> None:
        self._seed = seed
        self._count = 0
        self._lock = threading.Lock()

    def new(self) -> uuid.UUID:
        with self._lock:
            self._count += 1
            return uuid.uuid5(uuid.NAMESPACE_URL, f"{self._seed}:{self._count}")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a naive one is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
