"""CodePipeline's worked examples as plain inputs and the planner's one next decision.

No application: each case builds the aggregates directly (fixed ids and instants), brings them
to the situation the example describes with the aggregates' own commands, and asks
`domain.planner.plan` what happens next.
"""

from __future__ import annotations

import pytest

from domain import planner
from tests.harness import approval_action, definition, source_action
from tests.support.aggregates import T0, World, at, eid, three_stages


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
