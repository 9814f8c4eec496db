"""The store written by the previous release (before events were versioned) loads today."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from uuid import UUID

from domain.execution import PipelineExecution
from domain.vocabulary import Cause
from engine.app import Conveyor
from engine.settings import Settings

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy-store.db"


def open_copy(tmp_path: Path) -> tuple[Conveyor, list[UUID]]:
    store = tmp_path / "legacy-store.db"
    shutil.copyfile(LEGACY, store)
    with sqlite3.connect(store) as connection:
        rows = connection.execute("SELECT DISTINCT originator_id FROM stored_events").fetchall()
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)}
    app = Conveyor(Settings(home=tmp_path / "home"), env=env)
    return app, [UUID(row[0]) for row in rows]


def test_every_aggregate_in_the_store_written_by_the_previous_release_loads(
    tmp_path: Path,
) -> None:
    app, ids = open_copy(tmp_path)
    try:
        assert len(ids) > 10
        for originator_id in ids:
            assert app.repository.get(originator_id).id == originator_id
    finally:
        app.close()


def test_old_events_get_their_cause_from_their_words(tmp_path: Path) -> None:
    app, ids = open_copy(tmp_path)
    try:
        kinds: set[str] = set()
        for originator_id in ids:
            for event in app.repository.event_store.get(originator_id):
                found = getattr(event, "cause", None)
                if found is not None:
                    kinds.add(found["kind"])
            aggregate = app.repository.get(originator_id)
            if isinstance(aggregate, PipelineExecution) and aggregate.status in (
                "Stopped",
                "Cancelled",
            ):
                assert aggregate.outcome is not None
                assert aggregate.outcome["cause"]["kind"] in set(Cause)
        assert {Cause.TIMED_OUT, Cause.ACTION_REPORTED_FAILURE} <= kinds
        assert kinds <= set(Cause)
    finally:
        app.close()


def test_each_old_event_class_gets_the_causes_its_old_words_say(tmp_path: Path) -> None:
    app, ids = open_copy(tmp_path)
    try:
        kinds: Counter[tuple[str, str]] = Counter()
        for originator_id in ids:
            for event in app.repository.event_store.get(originator_id):
                found = getattr(event, "cause", None)
                if found is None:
                    continue
                kind = found["kind"]
                if isinstance(event, PipelineExecution.ExecutionCancelled):
                    assert (
                        kind
                        == {
                            "pipeline deleted": Cause.PIPELINE_DELETED,
                            "pipeline updated to version 2": Cause.PIPELINE_UPDATED,
                        }[event.reason]
                    )
                elif isinstance(event, PipelineExecution.ActionAbandoned):
                    stop = event.reason.startswith("abandoned: stop requested by ")
                    assert (kind == Cause.STOP_REQUESTED) == stop, event.reason
                    if not stop:
                        kind = f"{kind}/{found['cancelled']['kind']}"
                elif isinstance(event, PipelineExecution.ActionFailed):
                    deadline = "did not finish before its timeout" in event.error_message
                    assert (kind == Cause.TIMED_OUT) == deadline, event.error_message
                kinds[(type(event).__name__, kind)] += 1
        # Counted with today's code; each agrees with the old prose checked above: 26 abandons
        # (24 by `stop --abandon`, one per cancel), 128 failures (110 past the engine's
        # deadline, 18 JobFailed from providers), 35 stops by request, 2 cancels.
        assert kinds == {
            ("ActionAbandoned", "StopRequested"): 24,
            ("ActionAbandoned", "ExecutionCancelled/PipelineDeleted"): 1,
            ("ActionAbandoned", "ExecutionCancelled/PipelineUpdated"): 1,
            ("ActionFailed", "ActionReportedFailure"): 18,
            ("ActionFailed", "TimedOut"): 110,
            ("ExecutionCancelled", "PipelineDeleted"): 1,
            ("ExecutionCancelled", "PipelineUpdated"): 1,
            ("ExecutionStopped", "StoppedByRequest"): 35,
        }
    finally:
        app.close()
