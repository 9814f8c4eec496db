"""The same events rebuild the same state, and the same commands record the same events anywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis.stateful import run_state_machine_as_test

from engine.app import Conveyor
from tests.harness import Harness
from tests.property.machine import DEEPER, StageSemanticsMachine
from tests.property.support import Op, first_difference, perform, state_of


def _sqlite(path: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


class UncachedReaderMachine(StageSemanticsMachine):
    """Runs on SQLite; a second application on the same file, without an aggregate cache,
    rebuilds every aggregate a step changed, which must equal the first application's."""

    persistence = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.reader: Conveyor | None = None

    def after_step(self) -> None:
        super().after_step()
        assert self.h is not None
        if self.reader is None:
            env = {**self.persistence_env(), "AGGREGATE_CACHE_MAXSIZE": ""}
            self.reader = Conveyor(self.h.settings, clock=self.h.clock, ids=self.h.ids, env=env)
            self.check(self.reader.repository.cache is None, "the reader has a cache")
        for aggregate_id in self.last_changed:
            cached = state_of(self.app.repository.get(aggregate_id))
            uncached = state_of(self.reader.repository.get(aggregate_id))
            diff = first_difference(uncached, cached)
            self.check(diff is None, f"{aggregate_id}: uncached reader != cached at {diff}")

    def teardown(self) -> None:
        if self.reader is not None:
            self.reader.close()
        super().teardown()


class MirroredStoresMachine(StageSemanticsMachine):
    """Runs on the in-memory store and repeats every command on a second harness over a
    SQLite file (same SequentialIds, same ManualClock moves): the outcomes must match and each
    step must record the same notifications, with the same topics and the same state bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.mirror: Harness | None = None
        self.mirror_position = 0

    def do(self, op: Op) -> tuple[Any, str | None]:
        result, error = super().do(op)
        if self.mirror is None:
            home = self.home / "mirror"
            self.mirror = Harness(home, persistence=_sqlite(str(self.home / "mirror.sqlite")))
        mirrored, mirrored_error = perform(self.mirror, op)
        self.check(
            mirrored_error == error,
            f"{op}: in memory gave {error}, on SQLite {mirrored_error}",
        )
        if isinstance(result, str | datetime | list):
            self.check(mirrored == result, f"{op}: in memory {result!r}, on SQLite {mirrored!r}")
        return result, error

    def after_step(self) -> None:
        super().after_step()
        assert self.mirror is not None
        recorder = self.mirror.app.recorder
        theirs = list(recorder.select_notifications(start=self.mirror_position + 1, limit=10_000))
        if theirs:
            self.mirror_position = theirs[-1].id
        ours = self.last_batch
        self.check(
            len(ours) == len(theirs),
            f"the step recorded {len(ours)} events in memory and {len(theirs)} on SQLite",
        )
        for mine, other in zip(ours, theirs, strict=True):
            self.check(
                (mine.id, mine.topic, mine.originator_id, mine.originator_version)
                == (other.id, other.topic, other.originator_id, other.originator_version),
                f"notification {mine.id}: {mine.topic} v{mine.originator_version} in memory, "
                f"{other.topic} v{other.originator_version} on SQLite",
            )
            self.check(
                bytes(mine.state) == bytes(other.state),
                f"notification {mine.id} ({mine.topic}): state differs\n"
                f"  in memory: {bytes(mine.state)!r}\n  on SQLite: {bytes(other.state)!r}",
            )

    def teardown(self) -> None:
        if self.mirror is not None:
            self.mirror.app.close()
        super().teardown()


def test_every_aggregate_rebuilt_without_the_cache_equals_the_cached_one_on_sqlite() -> None:
    run_state_machine_as_test(UncachedReaderMachine, settings=DEEPER)


def test_the_same_commands_record_the_same_events_in_memory_and_on_sqlite() -> None:
    run_state_machine_as_test(MirroredStoresMachine, settings=DEEPER)
