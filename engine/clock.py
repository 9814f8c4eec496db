"""Injected time and ids: the system clock for real runs, controllable ones for tests."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


class FileClock:
    """A clock read from a file on every `now()`: a test moves a running server's time by
    rewriting it (`CONVEYOR_CLOCK_FILE`). The file holds one ISO 8601 instant."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            return parse_instant(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(
                f"CONVEYOR_CLOCK_FILE: {self.path} must hold an ISO 8601 instant ({error})"
            ) from None

    def set(self, instant: datetime) -> None:
        """Write the instant (atomically: a reader never sees half a file)."""
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        scratch.write_text(instant.isoformat(), encoding="utf-8")
        os.replace(scratch, self.path)


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
