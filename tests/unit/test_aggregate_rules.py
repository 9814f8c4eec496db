"""The aggregates refuse a command that breaks a rule before they record anything."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.approvals import pending_approval
from domain.errors import (
    ConcurrentPipelineExecutionsLimitExceededException,
    DuplicatedStopRequestException,
    InvalidApprovalTokenException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotStoppableException,
    StageNotRetryableException,
    ValidationException,
)
from domain.execution import PipelineExecution
from tests.harness import approval_action, definition, shell_action, source_action
from tests.support.aggregates import T0, World, at, eid, three_stages


def settled(*aggregates: object) -> None:
    """Forget what the set-up recorded, so a test sees only what its own command records."""
    for aggregate in aggregates:
        aggregate.collect_events()  # type: ignore[attr-defined]


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
    settled(first)
    with pytest.raises(DuplicatedStopRequestException):
        first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert first.collect_events() == []
    first.request_stop(abandon=True, reason="", by="ops", now=T0)
    settled(first)
    with pytest.raises(DuplicatedStopRequestException, match=r"\(abandoning\)"):
        first.request_stop(abandon=True, reason="", by="ops", now=T0)
    assert first.collect_events() == []


def test_a_stop_reason_over_200_characters_is_refused_and_records_nothing() -> None:
    world = World(three_stages())
    first = world.start(1)
    settled(first)
    with pytest.raises(ValidationException, match=r"\[stop.reason\]"):
        first.request_stop(abandon=False, reason="x" * 201, by="ops", now=T0)
    assert first.collect_events() == []


def test_the_first_stage_has_no_inbound_transition_to_disable() -> None:
    world = World(three_stages())
    settled(world.pipeline)
    with pytest.raises(ValidationException, match=r"\[transition.first-stage\]"):
        world.pipeline.disable_transition("Source", reason="freeze", by="ops", now=T0)
    with pytest.raises(ValidationException, match=r"\[transition.reason\]"):
        world.pipeline.disable_transition("Build", reason="no/slashes", by="ops", now=T0)
    assert world.pipeline.collect_events() == []


def admit(world: World, n: int) -> UUID:
    return world.pipeline.admit(
        lambda: UUID(eid(n)), mode=world.pipeline.execution_mode, cap=2, now=at(n)
    )


@pytest.mark.parametrize("mode", ["QUEUED", "PARALLEL"])
def test_the_concurrency_cap_refuses_a_new_execution_in_queued_and_parallel_mode(
    mode: str,
) -> None:
    world = World(three_stages(mode))
    world.start(1)
    world.start(2)
    settled(world.pipeline)
    taken: list[int] = []

    def new_id() -> UUID:
        taken.append(3)
        return UUID(eid(3))

    with pytest.raises(ConcurrentPipelineExecutionsLimitExceededException):
        world.pipeline.admit(new_id, mode=mode, cap=2, now=at(3))
    assert world.pipeline.collect_events() == [] and taken == []


def test_the_concurrency_cap_does_not_apply_in_superseded_mode() -> None:
    world = World(three_stages())
    world.start(1)
    world.start(2)
    assert admit(world, 3) == UUID(eid(3))
    assert world.pipeline.active[-1] == eid(3)


@pytest.mark.parametrize("mode", ["QUEUED", "PARALLEL"])
def test_the_concurrency_cap_refuses_resuming_a_retried_execution_too(mode: str) -> None:
    world = World(three_stages(mode))
    first = world.start(1)
    first.stop_as_requested("Build", T0)
    world.pipeline.deactivate(first.execution_id, T0)
    world.start(2)
    world.start(3)
    settled(world.pipeline)
    with pytest.raises(ConcurrentPipelineExecutionsLimitExceededException, match="already has 2"):
        world.pipeline.resume(first.execution_id, mode=mode, stage="Build", cap=2, now=T0)
    assert world.pipeline.collect_events() == []


def test_a_stage_the_execution_never_reached_is_not_retryable() -> None:
    world = World(three_stages())
    first = world.start(1)
    settled(first)
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
    assert first.collect_events() == []


def test_a_stage_that_a_later_execution_has_run_since_is_not_retryable() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Build")
    world.run(first, "Build", "Compile", result="Failed")
    first.fail_in_stage("Build", declared=["Compile", "Lint"], now=T0)
    world.pipeline.unlock("Build", first.execution_id, T0)
    second = world.start(2)
    world.enter(second, "Build")
    settled(first)
    with pytest.raises(NotLatestPipelineExecutionException, match=f"\\({second.execution_id}\\)"):
        first.retry(
            "Build",
            retry_mode="FAILED_ACTIONS",
            declared=["Compile", "Lint"],
            pipeline_version=1,
            gate=world.pipeline.gate("Build"),
            by="ops",
            now=T0,
        )
    assert first.collect_events() == []


# ----- approvals ----------------------------------------------------------------------------


def with_approval() -> tuple[World, PipelineExecution, str]:
    world = World(
        definition(
            [
                ("Source", [source_action()]),
                ("Gate", [approval_action()]),
                ("Ship", [shell_action("Run")]),
            ]
        )
    )
    execution = world.start(1)
    world.enter(execution, "Gate")
    aeid = world.run(execution, "Gate", "Approve")
    execution.request_approval(aeid, token="t-1", expires_at=at(60), now=T0)
    settled(execution, world.pipeline)
    return world, execution, aeid


def test_an_answered_approval_cannot_be_answered_again() -> None:
    _, execution, aeid = with_approval()
    execution.answer_approval(aeid, status="Approved", by="ops", summary="ok", now=T0)
    settled(execution)
    with pytest.raises(InvalidApprovalTokenException, match="not waiting for an answer"):
        execution.answer_approval(aeid, status="Rejected", by="ops", summary="no", now=T0)
    assert execution.collect_events() == []


def test_an_approval_answer_must_be_approved_or_rejected_and_short() -> None:
    _, execution, aeid = with_approval()
    with pytest.raises(ValidationException, match=r"result\.status: 'Maybe'"):
        execution.answer_approval(aeid, status="Maybe", by="ops", summary="", now=T0)
    with pytest.raises(ValidationException, match=r"result\.summary: at most 512"):
        execution.answer_approval(aeid, status="Approved", by="ops", summary="x" * 513, now=T0)
    assert execution.collect_events() == []


def test_an_unknown_token_finds_no_approval_and_records_nothing() -> None:
    world, execution, _ = with_approval()
    with pytest.raises(InvalidApprovalTokenException, match="has token nope"):
        pending_approval(world.pipeline, world.executions.__getitem__, "Gate", "Approve", "nope")
    assert execution.collect_events() == [] and world.pipeline.collect_events() == []


def test_only_a_manual_approval_action_takes_an_answer() -> None:
    world, _, _ = with_approval()
    with pytest.raises(ValidationException, match="not a manual approval"):
        world.pipeline.require_approval_action("Ship", "Run")
    assert world.pipeline.collect_events() == []


def test_an_action_that_is_not_an_approval_is_not_waiting_for_an_answer() -> None:
    world, execution, _ = with_approval()
    world.enter(execution, "Ship")
    run = world.run(execution, "Ship", "Run")
    settled(execution)
    with pytest.raises(InvalidApprovalTokenException, match="not waiting for an answer"):
        execution.answer_approval(run, status="Approved", by="ops", summary="", now=T0)
    assert execution.collect_events() == []


# ----- variable overrides -------------------------------------------------------------------


def with_variables() -> World:
    variables = [{"name": "Env", "defaultValue": "dev"}, {"name": "Tag"}]
    return World(three_stages("QUEUED", variables=variables))


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        (
            {"Tag": "v1", "Region": "eu"},
            r"variables.Region: not declared .*\[variable.undeclared",
        ),
        ({"Tag": ""}, r"variables.Tag: must not be empty \[variable.empty\]"),
        ({"Env": "prod"}, r"Tag"),
    ],
)
def test_variable_overrides_are_refused_before_anything_is_recorded(
    overrides: dict[str, str], refusal: str
) -> None:
    world = with_variables()
    settled(world.pipeline)
    with pytest.raises(ValidationException, match=refusal):
        world.pipeline.execution_variables(overrides)
    assert world.pipeline.collect_events() == []


def test_variable_overrides_take_the_declared_defaults_for_the_rest() -> None:
    world = with_variables()
    assert world.pipeline.execution_variables({"Tag": "v1"}) == {"Env": "dev", "Tag": "v1"}
