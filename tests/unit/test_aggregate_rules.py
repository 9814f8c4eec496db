"""The aggregates refuse a command that breaks a rule before they record anything."""

from __future__ import annotations

import pytest

from domain.errors import (
    ConcurrentPipelineExecutionsLimitExceededException,
    DuplicatedStopRequestException,
    PipelineExecutionNotStoppableException,
    StageNotRetryableException,
    ValidationException,
)
from tests.support.aggregates import T0, World, three_stages


def test_a_finished_execution_cannot_be_stopped_and_records_nothing() -> None:
    world = World(three_stages())
    first = world.start(1)
    first.stop_as_requested(None, T0)
    before = len(first.collect_events())
    with pytest.raises(PipelineExecutionNotStoppableException):
        first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert before > 0 and first.collect_events() == []


def test_a_second_plain_stop_is_a_duplicate_but_abandoning_may_follow() -> None:
    world = World(three_stages())
    first = world.start(1)
    first.request_stop(abandon=False, reason="", by="ops", now=T0)
    with pytest.raises(DuplicatedStopRequestException):
        first.request_stop(abandon=False, reason="", by="ops", now=T0)
    first.request_stop(abandon=True, reason="", by="ops", now=T0)
    with pytest.raises(DuplicatedStopRequestException, match=r"\(abandoning\)"):
        first.request_stop(abandon=True, reason="", by="ops", now=T0)


def test_the_first_stage_has_no_inbound_transition_to_disable() -> None:
    world = World(three_stages())
    with pytest.raises(ValidationException, match=r"\[transition.first-stage\]"):
        world.pipeline.disable_transition("Source", reason="freeze", by="ops", now=T0)
    with pytest.raises(ValidationException, match=r"\[transition.reason\]"):
        world.pipeline.disable_transition("Build", reason="no/slashes", by="ops", now=T0)


def test_the_concurrency_cap_counts_active_executions_in_queued_mode_only() -> None:
    queued, superseded = World(three_stages("QUEUED")), World(three_stages())
    for world in (queued, superseded):
        world.start(1)
        world.start(2)
    superseded.pipeline.require_room("SUPERSEDED", 2)
    with pytest.raises(ConcurrentPipelineExecutionsLimitExceededException):
        queued.pipeline.require_room("QUEUED", 2)


def test_a_stage_the_execution_never_reached_is_not_retryable() -> None:
    world = World(three_stages())
    first = world.start(1)
    with pytest.raises(StageNotRetryableException):
        first.retry(
            "Build",
            retry_mode="FAILED_ACTIONS",
            declared=["Compile", "Lint"],
            pipeline_version=1,
            gate=world.pipeline.gate("Build"),
            by="ops",
            now=T0,
        )
