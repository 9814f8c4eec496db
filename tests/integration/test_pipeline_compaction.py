"""A busy pipeline on real SQLite: bounded snapshots, old snapshots, every execution listed."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.utils import get_topic

from domain.pipeline import ENDED_KEPT, Pipeline, bounded
from engine.app import Conveyor
from engine.settings import Settings
from projections.history import list_executions
from projections.timetravel import fold
from projections.views import open_projections
from tests.harness import Harness, linear

EXECUTIONS = 150


@dataclass
class Store:
    """A store in which one pipeline ran EXECUTIONS executions; the last one is still running."""

    home: Path
    pipeline_id: UUID
    started: list[str]

    def open(self) -> Conveyor:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.home / "conveyor.db"),
        }
        return Conveyor(Settings(home=self.home), env=env)

    def copy(self, home: Path) -> Store:
        """The same store in another directory, for a test that writes to it."""
        with (
            sqlite3.connect(self.home / "conveyor.db") as source,
            sqlite3.connect(home / "conveyor.db") as target,
        ):
            source.backup(target)
        return replace(self, home=home)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    home = tmp_path_factory.mktemp("busy")
    harness = Harness(
        home,
        persistence={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(home / "conveyor.db"),
        },
    )
    harness.create(linear(2), start=False)
    for n in range(EXECUTIONS):
        execution_id = harness.start()
        last = n == EXECUTIONS - 1
        while not last and harness.running(execution_id):
            for work in harness.running(execution_id):
                harness.report(work)
        harness.work = {k: w for k, w in harness.work.items() if w.execution_id == execution_id}
        harness.later(seconds=30)
    pipeline_id = harness.app.pipeline("demo").id
    harness.app.close()
    return Store(home, pipeline_id, harness.started["demo"])


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k not in ("_pending_events",)}


def test_a_pipeline_that_ran_150_executions_is_snapshotted_naming_only_the_recent_ones(
    store: Store,
) -> None:
    app = store.open()
    try:
        assert app.snapshots is not None
        [snapshot] = list(app.snapshots.get(store.pipeline_id, desc=True, limit=1))
        assert "executions" not in snapshot.state
        assert snapshot.state["class_version"] == Pipeline.class_version == 2
        assert len(snapshot.state["recent"]) <= ENDED_KEPT + 1
        pipeline: Pipeline = app.repository.get(store.pipeline_id)
        assert pipeline.active == store.started[-1:]
        assert pipeline.recent == store.started[-(ENDED_KEPT + 1) :]
        assert state_of(pipeline) == state_of(fold(list(app.events.get(store.pipeline_id))))
    finally:
        app.close()


def test_a_snapshot_written_before_the_pipeline_was_bounded_loads_into_the_bounded_shape(
    store: Store, tmp_path: Path
) -> None:
    store = store.copy(tmp_path)
    app = store.open()
    try:
        current: Pipeline = app.repository.get(store.pipeline_id)
        old = dict(vars(current))
        for key in ("_id", "_version", "_pending_events", "recent"):
            old.pop(key)
        old["executions"] = list(store.started)  # class version 1: every execution, no version
        assert app.snapshots is not None
        app.snapshots.put(
            [
                Snapshot(
                    originator_id=current.id,
                    originator_version=current.version,
                    timestamp=Snapshot.create_timestamp(),
                    topic=get_topic(Pipeline),
                    state=old,
                )
            ]
        )
    finally:
        app.close()
    app = store.open()
    try:
        loaded: Pipeline = app.repository.get(store.pipeline_id)
        assert loaded.recent == bounded(store.started, loaded.active)
        assert state_of(loaded) == state_of(current)
    finally:
        app.close()


def test_the_history_view_lists_every_execution_the_pipeline_no_longer_names(store: Store) -> None:
    app = store.open()
    try:
        projections = open_projections(app, Settings(home=store.home).sqlalchemy_url())
        projections.catch_up()
        listed: list[str] = []
        token = None
        with projections.engine.connect() as conn:
            while True:
                page = list_executions(conn, "demo", next_token=token)
                listed += [s["pipelineExecutionId"] for s in page["pipelineExecutionSummaries"]]
                token = page.get("nextToken")
                if not token:
                    break
        projections.engine.dispose()
        assert listed == list(reversed(store.started))
        assert len(listed) == EXECUTIONS > len(app.repository.get(store.pipeline_id).recent)
    finally:
        app.close()
