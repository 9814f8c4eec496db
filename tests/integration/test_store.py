"""The event store for real: SQLite files and PostgreSQL, snapshots, conflicts, round trips."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.errors import (
    InvalidDefinition,
    LimitExceededException,
    PipelineNameInUseException,
)
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry
from engine.app import Conveyor
from engine.settings import Settings
from tests.harness import Harness, approval_action, definition, linear, shell_action, source_action


def _event_classes(aggregate: type) -> set[str]:
    return {
        name
        for name, value in vars(aggregate).items()
        if isinstance(value, type) and hasattr(value, "apply") and name != "Event"
    }


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "events.db"),
        }
    url = request.getfixturevalue("postgres_url")
    return Settings(home=tmp_path, database_url=url).event_store_env()


def _every_event(h: Harness) -> list[str]:
    """Drive a pipeline through every kind of event; return the execution ids."""
    stages = [
        ("Source", [source_action()]),
        ("Build", [shell_action("A", outputs=("Bin",)), shell_action("B", run_order=2)]),
        ("Gate", [approval_action()]),
        ("Ship", [shell_action("Ship", inputs=("Bin",))]),
    ]
    document = definition(stages, mode="SUPERSEDED")
    document["pipelineType"] = "V2"
    document["stages"][1]["onFailure"] = {"result": "RETRY"}
    h.create(document)
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "Build", "A"), succeeded=False)  # automatic retry
    h.pass_stage(e1, "Build")
    h.app.disable_stage_transition("demo", "Ship", reason="freeze", by="alice")
    h.app.put_approval_result("demo", "Gate", "Approve", status="Approved", summary="ok", by="bob")
    h.app.enable_stage_transition("demo", "Ship", by="alice")
    h.advance()
    h.pass_stage(e1, "Ship")
    e2 = h.start()
    h.pass_stage(e2, "Source")
    h.pass_stage(e2, "Build")
    h.app.put_approval_result("demo", "Gate", "Approve", status="Rejected", summary="no", by="bob")
    h.app.retry_stage_execution("demo", "Gate", e2, retry_mode="FAILED_ACTIONS", by="bob")
    h.advance()
    e3 = h.start()
    h.app.stop_pipeline_execution("demo", e3, abandon=False, reason="wait", by="carol")
    h.app.stop_pipeline_execution("demo", e3, abandon=True, reason="now", by="carol")
    e4 = h.start()
    h.pass_stage(e4, "Source")
    h.pass_stage(e4, "Build")  # waits at Gate behind e2
    e5 = h.start()
    h.pass_stage(e5, "Source")
    h.pass_stage(e5, "Build")  # supersedes e4
    h.app.update_pipeline(document, by="dave")  # cancels e2 and e5
    e6 = h.start()
    h.app.tag_resource("demo", [{"key": "team", "value": "ops"}], by="erin")
    h.app.untag_resource("demo", ["team"], by="erin")
    h.app.start_pipeline_execution("demo", by="erin", client_request_token="once-only")
    h.app.delete_pipeline("demo", by="dave")
    return [e1, e2, e3, e4, e5, e6]


def test_every_event_type_survives_a_round_trip_through_the_store(
    store: dict[str, str], tmp_path: Path
) -> None:
    h = Harness(tmp_path, persistence=store)
    executions = _every_event(h)
    pipeline_id = h.app.pipeline_of(h.app.execution(executions[0])).id
    topics = {
        row.topic.rsplit(".", 1)[-1]
        for row in h.app.recorder.select_notifications(start=None, limit=100_000)
    }
    for aggregate in (Pipeline, PipelineExecution, PipelineRegistry):
        missing = _event_classes(aggregate) - topics
        assert not missing, f"{aggregate.__name__} events never recorded: {missing}"
    fresh = Conveyor(h.settings, env={**store, "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        for aggregate_id in [pipeline_id, *map(UUID, executions)]:
            assert _state(fresh.repository.get(aggregate_id)) == _state(
                h.app.repository.get(aggregate_id)
            )
    finally:
        fresh.close()
        h.app.close()


def test_long_lived_aggregates_are_snapshotted_and_rebuild_the_same(tmp_path: Path) -> None:
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    h = Harness(tmp_path, persistence=store)
    h.create(linear(4))
    for _ in range(15):
        execution_id = h.start()
        for stage in ("Source", "S1", "S2", "S3"):
            h.pass_stage(execution_id, stage)
    pipeline = h.app.pipeline("demo")
    assert pipeline.version > 100
    assert h.app.snapshots is not None
    assert list(h.app.snapshots.get(pipeline.id))
    fresh = Conveyor(h.settings, env={**store, "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        assert _state(fresh.pipeline("demo")) == _state(pipeline)
    finally:
        fresh.close()


def test_racing_creators_respect_unique_names_and_the_pipeline_quota(
    store: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, max_pipelines=5)
    apps = [Conveyor(settings, env=store) for _ in range(4)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(app: Conveyor, index: int) -> None:
        for attempt in range(4):
            name = f"p{(index * 4 + attempt) % 7}"
            try:
                app.create_pipeline(linear(2, name=name), by="racer", start=False)
                result = "created"
            except PipelineNameInUseException:
                result = "in-use"
            except LimitExceededException:
                result = "limit"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=create, args=(app, i)) for i, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = apps[0].pipeline_names()
    for app in apps:
        app.close()
    assert outcomes.count("created") == len(names) == 5
    assert len(outcomes) == 16


def test_a_refused_definition_leaves_the_store_untouched(tmp_path: Path) -> None:
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e.db")}
    h = Harness(tmp_path, persistence=store)
    h.create(linear(2))
    before = h.app.recorder.max_notification_id()
    broken = linear(2)
    broken["stages"][1]["actions"][0]["runOrder"] = 0
    with pytest.raises(InvalidDefinition):
        h.app.update_pipeline(broken, by="dave")
    with pytest.raises(PipelineNameInUseException):
        h.app.create_pipeline(linear(2), by="dave")
    assert h.app.recorder.max_notification_id() == before
