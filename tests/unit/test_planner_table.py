"""CodePipeline's worked examples as plain inputs and the planner's one next decision.

No application: each case builds the aggregates directly (fixed ids and instants), brings them
to the situation the example describes with the aggregates' own commands, and asks
`domain.planner.plan` what happens next.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest

from domain import planner
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.validation import parse_definition
from tests.harness import approval_action, definition, shell_action, source_action

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PIPELINE_ID = UUID("00000000-0000-4000-8000-000000000001")


def eid(n: int) -> str:
    return str(uuid5(PIPELINE_ID, f"execution-{n}"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class World:
    """One pipeline and its executions, moved by hand into the situation under test."""

    def __init__(self, document: dict[str, Any]) -> None:
        declaration = parse_definition(document)
        self.pipeline = Pipeline.create(
            pipeline_id=PIPELINE_ID, declaration=declaration, by="tester", now=T0
        )
        self.executions: dict[str, PipelineExecution] = {}

    def start(self, n: int) -> PipelineExecution:
        execution = PipelineExecution.start(
            execution_id=UUID(eid(n)),
            pipeline_id=self.pipeline.id,
            pipeline_name=self.pipeline.name,
            pipeline_version=self.pipeline.pipeline_version,
            execution_mode=self.pipeline.execution_mode,
            pipeline_type=self.pipeline.pipeline_type,
            trigger_type="StartPipelineExecution",
            trigger_detail="tester",
            variables={},
            by="tester",
            now=at(n),
        )
        self.executions[execution.execution_id] = execution
        self.pipeline.activate(execution.execution_id, at(n))
        return execution

    def enter(self, execution: PipelineExecution, stage: str) -> None:
        if execution.execution_mode != "PARALLEL":
            self.pipeline.lock(stage, execution.execution_id, T0)
        execution.enter_stage(stage, T0)

    def run(
        self,
        execution: PipelineExecution,
        stage: str,
        action: str,
        *,
        deadline: datetime = at(60),
        result: str | None = None,
    ) -> str:
        aeid = f"{execution.execution_id[:8]}-{stage}-{action}-{len(execution.actions)}"
        execution.start_action(
            action_execution_id=aeid,
            stage=stage,
            action=action,
            action_type={},
            configuration={},
            resolved_configuration={},
            input_artifacts={},
            namespace=None,
            deadline=deadline,
            now=T0,
        )
        if result == "Succeeded":
            execution.succeed_action(
                aeid,
                summary=None,
                output_artifacts={},
                output_variables={},
                revision=None,
                external_execution_id=None,
                external_execution_url=None,
                now=T0,
            )
        elif result == "Failed":
            execution.fail_action(aeid, code="JobFailed", message="boom", now=T0)
        return aeid

    def passed(self, execution: PipelineExecution, stage: str, *actions: str) -> None:
        """The execution entered STAGE, its actions succeeded and it left the stage."""
        self.enter(execution, stage)
        for action in actions:
            self.run(execution, stage, action, result="Succeeded")
        execution.succeed_stage(stage, T0)
        self.pipeline.unlock(stage, execution.execution_id, T0)

    def wait(
        self, execution: PipelineExecution, stage: str, reason: str, holder: str | None
    ) -> None:
        self.pipeline.enqueue(stage, execution.execution_id, T0)
        execution.wait_at(stage, reason=reason, holder=holder, now=T0)

    def plan(self, now: datetime = at(30)) -> planner.Decision | None:
        return planner.plan(self.pipeline, self.executions, now)


def three_stages(mode: str = "SUPERSEDED", **extra: Any) -> dict[str, Any]:
    return definition(
        [
            ("Source", [source_action()]),
            ("Build", [shell_action("Compile"), shell_action("Lint")]),
            ("Deploy", [shell_action("Ship")]),
        ],
        mode=mode,
        **extra,
    )


def test_a_new_execution_enters_the_first_stage() -> None:
    world = World(three_stages())
    world.start(1)
    assert world.plan() == planner.EnterStage(eid(1), "Source")


def test_the_first_actions_of_a_stage_start_in_declaration_order() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    assert world.plan() == planner.StartAction(eid(1), "Build", "Compile")


def test_a_stage_whose_actions_all_succeeded_succeeds() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Source")
    world.run(first, "Source", "Checkout", result="Succeeded")
    assert world.plan() == planner.SucceedStage(eid(1), "Source")


def test_the_execution_succeeds_after_its_last_stage() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.passed(first, "Build", "Compile", "Lint")
    world.passed(first, "Deploy", "Ship")
    assert world.plan() == planner.SucceedExecution(eid(1))


def test_an_arrival_at_a_locked_stage_waits_for_the_execution_holding_it() -> None:
    world = World(three_stages())
    first, second = world.start(1), world.start(2)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile")
    world.run(first, "Build", "Lint")
    world.passed(second, "Source", "Checkout")
    assert world.plan() == planner.WaitAtStage(eid(2), "Build", planner.WAIT_STAGE_LOCKED, eid(1))


def test_superseded_mode_a_newer_arrival_supersedes_the_one_waiting() -> None:
    world = World(three_stages())
    first, second, third = world.start(1), world.start(2), world.start(3)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile")
    world.run(first, "Build", "Lint")
    world.passed(second, "Source", "Checkout")
    world.wait(second, "Build", planner.WAIT_STAGE_LOCKED, eid(1))
    world.passed(third, "Source", "Checkout")
    assert world.plan() == planner.Supersede(eid(2), "Build", eid(3))


def test_superseded_mode_never_supersedes_a_running_execution() -> None:
    world = World(three_stages())
    first, second = world.start(1), world.start(2)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile")
    world.run(first, "Build", "Lint")
    world.passed(second, "Source", "Checkout")
    decision = world.plan()
    assert not isinstance(decision, planner.Supersede)


def test_queued_mode_a_newer_arrival_queues_behind_the_one_waiting() -> None:
    world = World(three_stages("QUEUED"))
    first, second, third = world.start(1), world.start(2), world.start(3)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile")
    world.run(first, "Build", "Lint")
    world.passed(second, "Source", "Checkout")
    world.wait(second, "Build", planner.WAIT_STAGE_LOCKED, eid(1))
    world.passed(third, "Source", "Checkout")
    assert world.plan() == planner.WaitAtStage(eid(3), "Build", planner.WAIT_QUEUED, eid(1))


def test_queued_mode_a_freed_stage_admits_the_front_of_its_line() -> None:
    world = World(three_stages("QUEUED"))
    first, second, third = world.start(1), world.start(2), world.start(3)
    world.passed(first, "Source", "Checkout")
    world.passed(second, "Source", "Checkout")
    world.wait(second, "Build", planner.WAIT_STAGE_LOCKED, eid(1))
    world.passed(third, "Source", "Checkout")
    world.wait(third, "Build", planner.WAIT_QUEUED, eid(1))
    first.stop_as_requested(None, T0)
    world.pipeline.deactivate(eid(1), T0)
    del world.executions[eid(1)]
    assert world.plan() == planner.EnterStage(eid(2), "Build")


def test_parallel_mode_executions_enter_the_same_stage_side_by_side() -> None:
    world = World(three_stages("PARALLEL"))
    first, second = world.start(1), world.start(2)
    world.enter(first, "Source")
    world.run(first, "Source", "Checkout")
    assert world.plan() == planner.EnterStage(eid(2), "Source")
    world.enter(second, "Source")
    assert world.plan() == planner.StartAction(eid(2), "Source", "Checkout")


def test_a_disabled_transition_holds_the_arrival_in_front_of_it() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.pipeline.disable_transition("Build", reason="freeze", by="ops", now=T0)
    world.passed(first, "Source", "Checkout")
    assert world.plan() == planner.WaitAtStage(
        eid(1), "Build", planner.WAIT_TRANSITION_DISABLED, None
    )


def test_a_waiting_execution_enters_once_its_transition_is_enabled() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.pipeline.disable_transition("Build", reason="freeze", by="ops", now=T0)
    world.passed(first, "Source", "Checkout")
    world.wait(first, "Build", planner.WAIT_TRANSITION_DISABLED, None)
    assert world.plan() is None
    world.pipeline.enable_transition("Build", by="ops", now=at(1))
    assert world.plan() == planner.EnterStage(eid(1), "Build")


def test_a_failed_action_lets_its_running_sibling_finish_first() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile", result="Failed")
    world.run(first, "Build", "Lint")
    assert world.plan() is None


def test_a_failed_action_fails_the_stage_once_nothing_runs() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile", result="Failed")
    world.run(first, "Build", "Lint", result="Succeeded")
    assert world.plan() == planner.FailStage(eid(1), "Build")


def test_a_stage_with_on_failure_retry_retries_once_automatically() -> None:
    document = three_stages("QUEUED")
    document["stages"][1]["onFailure"] = {
        "result": "RETRY",
        "retryConfiguration": {"retryMode": "ALL_ACTIONS"},
    }
    world = World(document)
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Build")
    world.run(first, "Build", "Compile", result="Failed")
    world.run(first, "Build", "Lint", result="Succeeded")
    assert world.plan() == planner.RetryStage(eid(1), "Build", "ALL_ACTIONS")
    first.retry_stage(
        "Build",
        retry_mode="ALL_ACTIONS",
        trigger="AutomatedStageRetry",
        by="conveyor",
        reset=["Compile", "Lint"],
        now=T0,
    )
    world.run(first, "Build", "Compile", result="Failed")
    world.run(first, "Build", "Lint", result="Succeeded")
    assert world.plan() == planner.FailStage(eid(1), "Build")


def test_an_overdue_action_times_out() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Source")
    aeid = world.run(first, "Source", "Checkout", deadline=at(20))
    assert world.plan(now=at(19)) is None
    assert world.plan(now=at(20)) == planner.TimeOutAction(eid(1), aeid)


def test_an_overdue_approval_times_out() -> None:
    document = definition([("Source", [source_action()]), ("Gate", [approval_action()])])
    world = World(document)
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    world.enter(first, "Gate")
    aeid = world.run(first, "Gate", "Approve")
    first.request_approval(aeid, token="token-1", expires_at=at(45), now=T0)
    assert world.plan(now=at(44)) is None
    assert world.plan(now=at(45)) == planner.TimeOutAction(eid(1), aeid)


def test_stop_and_wait_lets_the_running_action_finish() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Source")
    world.run(first, "Source", "Checkout")
    first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert world.plan() is None


def test_stop_and_abandon_abandons_the_running_action() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Source")
    aeid = world.run(first, "Source", "Checkout")
    first.request_stop(abandon=True, reason="", by="ops", now=T0)
    assert world.plan() == planner.AbandonAction(eid(1), aeid)


def test_a_stopping_execution_stops_in_its_stage_once_nothing_runs() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.enter(first, "Source")
    world.run(first, "Source", "Checkout", result="Succeeded")
    first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert world.plan() == planner.StopExecution(eid(1), "Source")


def test_a_stopping_execution_between_stages_stops_before_the_next() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.passed(first, "Source", "Checkout")
    first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert world.plan() == planner.StopExecution(eid(1), None)


def test_a_stopping_execution_waiting_at_a_transition_stops_there() -> None:
    world = World(three_stages())
    first = world.start(1)
    world.pipeline.disable_transition("Build", reason="freeze", by="ops", now=T0)
    world.passed(first, "Source", "Checkout")
    world.wait(first, "Build", planner.WAIT_TRANSITION_DISABLED, None)
    first.request_stop(abandon=False, reason="", by="ops", now=T0)
    assert world.plan() == planner.StopExecution(eid(1), None)


@pytest.mark.parametrize("mode", ["SUPERSEDED", "QUEUED", "PARALLEL"])
def test_nothing_happens_when_no_execution_is_active(mode: str) -> None:
    assert World(three_stages(mode)).plan() is None
