"""Tags and start requests through the application on a real SQLite store, racing included."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import (
    InvalidTagsException,
    ResourceNotFoundException,
    TooManyTagsException,
    ValidationException,
)
from engine.application.unit import Unit
from engine.bootstrap import System, build, init_workspace
from engine.settings import Settings
from projections.audit import audit_records
from tests.harness import definition, shell_action, source_action

RACE_DEADLINE_SECONDS = 60


def demo() -> dict[str, Any]:
    return definition([("Source", [source_action()]), ("Build", [shell_action("Compile")])])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / ".conveyor")


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    built = init_workspace(settings, env={})
    try:
        built.app.create_pipeline(demo(), by="tester", start=False)
        yield built
    finally:
        built.close()


def recorded(system: System) -> int:
    return int(system.app.recorder.max_notification_id() or 0)


def executions_started(system: System) -> list[str]:
    return [
        record["executionId"] for record in _audit(system) if record["event"] == "ExecutionStarted"
    ]


def _audit(system: System) -> list[dict[str, Any]]:
    views = system.views()
    with views.engine.connect() as conn:
        return list(audit_records(conn))


def test_a_repeated_client_request_token_returns_the_first_execution_and_records_nothing(
    system: System,
) -> None:
    first = system.app.start_pipeline_execution("demo", by="ops", client_request_token="ci-42")
    before = recorded(system)
    again = system.app.start_pipeline_execution("demo", by="ops", client_request_token="ci-42")
    assert again == first and recorded(system) == before
    other = system.app.start_pipeline_execution("demo", by="ops", client_request_token="ci-43")
    assert other != first
    assert executions_started(system) == [first, other]
    assert system.app.execution(first).client_request_token == "ci-42"


def test_a_bad_token_or_source_revision_is_refused_and_nothing_is_recorded(
    system: System,
) -> None:
    before = recorded(system)
    with pytest.raises(ValidationException, match="clientRequestToken"):
        system.app.start_pipeline_execution("demo", by="ops", client_request_token="a b")
    with pytest.raises(ValidationException, match=r"sourceRevisions\[0\].actionName"):
        system.app.start_pipeline_execution(
            "demo",
            by="ops",
            source_revisions=[
                {"actionName": "Compile", "revisionType": "COMMIT_ID", "revisionValue": "0" * 40}
            ],
        )
    assert recorded(system) == before


def test_two_starts_racing_with_one_token_start_one_execution(settings: Settings) -> None:
    """Both load the pipeline before either saves (a barrier holds them), so the loser's save
    conflicts; its retry finds the winner's token and returns the winner's execution."""
    setup = init_workspace(settings, env={})
    setup.app.create_pipeline(demo(), by="tester", start=False)
    setup.close()
    barrier = threading.Barrier(2, timeout=RACE_DEADLINE_SECONDS)
    results: list[str] = []
    failures: list[BaseException] = []

    def racer(user: str) -> None:
        racing = build(settings, env={})
        try:
            _hold_first_load(racing, barrier)
            results.append(
                racing.app.start_pipeline_execution("demo", by=user, client_request_token="once")
            )
        except BaseException as error:  # reported below, with the thread's name
            failures.append(error)
        finally:
            racing.close()

    threads = [threading.Thread(target=racer, args=(u,)) for u in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_DEADLINE_SECONDS)
    assert not failures, failures
    assert len(results) == 2 and results[0] == results[1]
    check = build(settings, env={})
    try:
        assert executions_started(check) == [results[0]]
    finally:
        check.close()


def _hold_first_load(system: System, barrier: threading.Barrier) -> None:
    """The app's first unit of work waits, once loaded, until the other racer has loaded."""
    app = system.app
    original: Callable[[str], Unit] = app._unit
    waited = []

    def unit(name: str) -> Unit:
        loaded = original(name)
        if not waited:
            waited.append(True)
            barrier.wait()
        return loaded

    app._unit = unit  # type: ignore[method-assign]


def test_tags_are_recorded_reloaded_from_the_store_and_in_the_audit_trail(
    system: System, settings: Settings
) -> None:
    app = system.app
    app.create_pipeline(
        definition([("Source", [source_action()]), ("Build", [shell_action("B")])], name="web"),
        by="alice",
        start=False,
        tags=[{"key": "team", "value": "web"}],
    )
    assert app.tag_resource("web", [{"key": "tier", "value": "1"}], by="bob")
    assert app.untag_resource("web", ["team"], by="carol")
    reopened = build(settings, env={})
    try:
        assert reopened.app.list_tags_for_resource("web") == [{"key": "tier", "value": "1"}]
    finally:
        reopened.close()
    rows = [r for r in _audit(system) if r["category"] == "tags"]
    assert [(r["actor"], r["summary"]) for r in rows] == [
        ("alice", "tagged the pipeline: team=web"),
        ("bob", "tagged the pipeline: tier=1"),
        ("carol", "removed tags team"),
    ]


def test_tag_refusals_name_codepipelines_errors_and_record_nothing(system: System) -> None:
    app = system.app
    before = recorded(system)
    with pytest.raises(ResourceNotFoundException, match="no pipeline named 'ghost'"):
        app.tag_resource("ghost", [{"key": "a", "value": "b"}], by="ops")
    with pytest.raises(ResourceNotFoundException):
        app.list_tags_for_resource("ghost")
    with pytest.raises(InvalidTagsException):
        app.tag_resource("demo", [{"key": "aws:x", "value": "b"}], by="ops")
    with pytest.raises(TooManyTagsException):
        app.tag_resource("demo", [{"key": f"k{i}", "value": ""} for i in range(51)], by="ops")
    with pytest.raises(TooManyTagsException):
        app.create_pipeline(
            definition([("Source", [source_action()]), ("B", [shell_action("B")])], name="x"),
            by="ops",
            tags=[{"key": f"k{i}", "value": ""} for i in range(51)],
        )
    assert recorded(system) == before
    assert app.pipeline_names() == ["demo"]
