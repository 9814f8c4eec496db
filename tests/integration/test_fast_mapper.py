"""The rebuild's own log reader maps every stored event exactly as eventsourcing's Mapper does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Notification

from projections.runtime import FastMapper, read_notifications
from tests.harness import Harness

LEGACY_STORE = Path(__file__).resolve().parents[1] / "data" / "legacy-store.db"


def same(left: Any, right: Any) -> bool:
    """Same class, same fields in the same order, equal values of the same types."""
    return (
        type(left) is type(right)
        and list(vars(left)) == list(vars(right))
        and all(
            type(value) is type(vars(right)[key]) and value == vars(right)[key]
            for key, value in vars(left).items()
        )
    )


def test_every_event_of_a_stored_log_maps_as_eventsourcing_maps_it(tmp_path: Path) -> None:
    database = tmp_path / "conveyor.db"
    shutil.copyfile(LEGACY_STORE, database)
    harness = Harness(
        tmp_path,
        persistence={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(database)},
    )
    app = harness.app
    expected = app.recorder.select_notifications(start=0, limit=1_000_000, inclusive_of_start=False)
    rows = read_notifications(app.recorder, 0, 1_000_000, None, {})
    assert [row.id for row in rows] == [notification.id for notification in expected]
    fast = FastMapper(app.mapper)
    for row, notification in zip(rows, expected, strict=True):
        assert same(fast(row), app.mapper.to_domain_event(notification))


def test_reading_stops_at_the_stop_position_and_starts_after_the_start(tmp_path: Path) -> None:
    database = tmp_path / "conveyor.db"
    shutil.copyfile(LEGACY_STORE, database)
    harness = Harness(
        tmp_path,
        persistence={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(database)},
    )
    rows = read_notifications(harness.app.recorder, 3, 100, 7)
    assert [row.id for row in rows] == [4, 5, 6, 7]


def test_a_typed_value_nested_anywhere_is_revived_as_the_mapper_revives_it(tmp_path: Path) -> None:
    mapper = Harness(tmp_path).app.mapper
    fast = FastMapper(mapper)
    for name in (b"p1", b"p\\u00e9"):
        state = (
            b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-06-01T00:00:00+00:00"},'
            b'"name":"' + name + b'","pipeline_id":"x","nested":[{"at":{"_type_":"uuid_hex",'
            b'"_data_":"' + uuid4().hex.encode() + b'"}},{"_type_":"decimal_str","_data_":"1.5"}],'
            b'"deadline":{"_type_":"datetime_iso","_data_":"2025-06-02T00:00:00+00:00"}}'
        )
        notification = Notification(
            id=1,
            originator_id=uuid4(),
            originator_version=2,
            topic="domain.registry:PipelineRegistry.PipelineRegistered",
            state=state,
        )
        assert same(fast(notification), mapper.to_domain_event(notification))
