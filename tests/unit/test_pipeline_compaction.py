"""The Pipeline aggregate names its active executions and the latest ended ones, never all."""

from __future__ import annotations

from typing import Any

import pytest

from domain.approvals import TOKEN_LOOKBACK, pending_approval
from domain.errors import ApprovalAlreadyCompletedException, InvalidApprovalTokenException
from domain.pipeline import ENDED_KEPT, Pipeline
from projections.codepipeline import PARALLEL_LOOKBACK
from tests.harness import approval_action, definition, shell_action, source_action
from tests.support.aggregates import T0, World, at, eid, three_stages


def run_and_end(world: World, first: int, last: int, *, still_active: int = 0) -> None:
    """Executions first..last start in turn; each ends once `still_active` newer ones started."""
    for n in range(first, last + 1):
        world.start(n)
        if n - still_active >= first:
            world.pipeline.deactivate(eid(n - still_active), at(n))


def test_after_300_executions_ran_the_pipeline_names_only_the_active_and_latest_ended() -> None:
    world = World(three_stages(mode="QUEUED"))
    run_and_end(world, 1, 300, still_active=3)
    pipeline = world.pipeline
    assert pipeline.active == [eid(n) for n in (298, 299, 300)]
    assert pipeline.recent == [eid(n) for n in range(298 - ENDED_KEPT, 301)]
    assert "executions" not in vars(pipeline)
    ids = [v for v in vars(pipeline).values() if isinstance(v, list) and v and eid(1) in v]
    assert ids == [], "no list in the pipeline's state still names the first execution"


def test_every_execution_ended_drops_the_oldest_ended_one_past_the_window() -> None:
    world = World(three_stages())
    run_and_end(world, 1, ENDED_KEPT)
    assert world.pipeline.recent == [eid(n) for n in range(1, ENDED_KEPT + 1)]
    run_and_end(world, ENDED_KEPT + 1, ENDED_KEPT + 1)
    assert world.pipeline.recent == [eid(n) for n in range(2, ENDED_KEPT + 2)]


def test_an_active_execution_stays_named_however_many_end_after_it() -> None:
    world = World(three_stages(mode="PARALLEL"))
    world.start(0)
    run_and_end(world, 1, 2 * ENDED_KEPT)
    assert world.pipeline.active == [eid(0)]
    assert world.pipeline.recent == [eid(0)] + [
        eid(n) for n in range(ENDED_KEPT + 1, 2 * ENDED_KEPT + 1)
    ]


def test_a_retried_execution_that_had_dropped_out_is_named_again_as_the_newest() -> None:
    world = World(three_stages())
    run_and_end(world, 1, ENDED_KEPT + 5)
    assert eid(1) not in world.pipeline.recent
    world.pipeline.resume(eid(1), mode="SUPERSEDED", stage="Build", cap=50, now=at(999))
    assert world.pipeline.recent[-1] == eid(1)
    assert world.pipeline.active == [eid(1)]


def test_the_token_and_parallel_state_lookbacks_fit_in_what_the_pipeline_names() -> None:
    assert TOKEN_LOOKBACK <= ENDED_KEPT
    assert PARALLEL_LOOKBACK <= ENDED_KEPT


def answered_then(later: int) -> tuple[World, str]:
    """Execution 0 had its approval answered and ended; `later` executions ran after it."""
    world = World(
        definition(
            [
                ("Source", [source_action()]),
                ("Gate", [approval_action()]),
                ("Ship", [shell_action("Run")]),
            ]
        )
    )
    first = world.start(0)
    world.enter(first, "Gate")
    aeid = world.run(first, "Gate", "Approve")
    first.request_approval(aeid, token="t-0", expires_at=at(60), now=T0)
    first.answer_approval(aeid, status="Approved", by="ops", summary="ok", now=T0)
    world.pipeline.deactivate(first.execution_id, T0)
    run_and_end(world, 1, later)
    return world, "t-0"


def test_a_token_answered_within_the_lookback_is_refused_as_already_answered() -> None:
    world, token = answered_then(TOKEN_LOOKBACK - 1)
    with pytest.raises(ApprovalAlreadyCompletedException, match="already approved by ops"):
        pending_approval(world.pipeline, world.executions.__getitem__, "Gate", "Approve", token)


def test_a_token_answered_before_the_lookback_is_refused_as_unknown() -> None:
    world, token = answered_then(TOKEN_LOOKBACK)
    with pytest.raises(InvalidApprovalTokenException, match="has token t-0"):
        pending_approval(world.pipeline, world.executions.__getitem__, "Gate", "Approve", token)


def old_state(executions: list[str], active: list[str]) -> dict[str, Any]:
    """A Pipeline snapshot's state as the release before class_version 2 wrote it."""
    return {"name": "demo", "active": active, "executions": executions, "revisions": {}}


def test_an_old_snapshot_naming_every_execution_keeps_only_the_active_and_latest_ended() -> None:
    every = [eid(n) for n in range(1, 301)]
    state = old_state(every, active=[eid(5), eid(300)])
    Pipeline.upcast_v1_v2(state)
    assert "executions" not in state
    assert state["recent"] == [eid(5)] + [eid(n) for n in range(300 - ENDED_KEPT, 301)]


def test_an_old_snapshot_of_a_young_pipeline_keeps_every_execution_it_named() -> None:
    state = old_state([eid(1), eid(2)], active=[eid(2)])
    Pipeline.upcast_v1_v2(state)
    assert state["recent"] == [eid(1), eid(2)]
