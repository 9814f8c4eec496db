"""Events stored by the previous release get the cause today's engine would record for them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.execution import PipelineExecution
from engine.application.actions import record_result
from engine.application.work import ActionResult
from tests.support.aggregates import T0, World, three_stages

DEADLINE = "2026-11-02T10:00:00+00:00"


def upcast_failure(code: str, message: str) -> dict[str, Any]:
    state: dict[str, Any] = {"error_code": code, "error_message": message}
    PipelineExecution.ActionFailed.upcast_v1_v2(state)
    return dict(state["cause"])


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            "TimedOut",
            f"the action did not finish before its timeout ({DEADLINE})",
            {"kind": "TimedOut", "deadline": DEADLINE},
        ),
        (
            "TimedOut",
            f"the approval did not finish before its timeout ({DEADLINE})",
            {"kind": "TimedOut", "deadline": DEADLINE},
        ),
        ("TimedOut", "timed out after 5 s", {"kind": "ActionReportedFailure"}),
        (
            "TimedOut",
            "build timed out after 5 s in BUILD before its timeout (5 s)",
            {"kind": "ActionReportedFailure"},
        ),
        (
            "ConfigurationError",
            "variable #{Build.Tag} has no value: nothing earlier in this execution "
            "set 'Tag' in namespace 'Build'",
            {"kind": "ConfigurationError"},
        ),
        ("ConfigurationError", "S3ObjectKey is required", {"kind": "ActionReportedFailure"}),
        ("JobFailed", "command `make` exited 2", {"kind": "ActionReportedFailure"}),
    ],
)
def test_an_old_failure_is_the_engines_decision_only_in_the_engines_own_words(
    code: str, message: str, expected: dict[str, Any]
) -> None:
    assert upcast_failure(code, message) == expected


@pytest.mark.parametrize(
    ("code", "message"),
    [("TimedOut", "timed out after 5 s while running `sleep 9`"), ("ConfigurationError", "bad")],
)
def test_a_provider_reported_failure_is_recorded_today_as_the_old_one_now_loads(
    code: str, message: str
) -> None:
    world = World(three_stages())
    execution = world.start(1)
    world.enter(execution, "Build")
    aeid = world.run(execution, "Build", "Compile")
    execution.collect_events()
    # What the engine does today with a provider's failed result (the unit is not needed).
    result = ActionResult(succeeded=False, error_code=code, error_message=message)
    record_result(None, execution, aeid, "Compile", result, T0)  # type: ignore[arg-type]
    (failed,) = execution.collect_events()
    assert failed.cause == upcast_failure(code, message)  # type: ignore[attr-defined]


EXPIRED = (
    "the inbound transition to Prod was disabled for more than 30 days; "
    "start a new execution to run the latest revision"
)
PER_OPS = "the inbound transition to Prod was disabled for more than 30 days, per ops"


def upcast(event: Any, **state: Any) -> dict[str, Any]:
    event.upcast_v1_v2(state)
    return dict(state["cause"])


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "abandoned: stop requested by alice: bad build",
            {"kind": "StopRequested", "by": "alice", "reason": "bad build"},
        ),
        (
            "abandoned: stop requested by alice",
            {"kind": "StopRequested", "by": "alice", "reason": ""},
        ),
        (
            # Split at the first ": ": a reason holding ": " is common, a login name with it rare.
            "abandoned: stop requested by ops: team: wrong artifact",
            {"kind": "StopRequested", "by": "ops", "reason": "team: wrong artifact"},
        ),
        (
            "pipeline updated to version 3",
            {
                "kind": "ExecutionCancelled",
                "cancelled": {"kind": "PipelineUpdated", "version": 3, "by": None},
            },
        ),
        (
            "pipeline deleted",
            {"kind": "ExecutionCancelled", "cancelled": {"kind": "PipelineDeleted", "by": None}},
        ),
        (
            "pipeline deleted by ops",
            {"kind": "StopRequested", "by": None, "reason": "pipeline deleted by ops"},
        ),
        (
            "pipeline updated to version 3 (hotfix)",
            {
                "kind": "StopRequested",
                "by": None,
                "reason": "pipeline updated to version 3 (hotfix)",
            },
        ),
    ],
)
def test_an_old_abandon_is_read_from_the_exact_words_the_old_engine_wrote(
    reason: str, expected: dict[str, Any]
) -> None:
    assert upcast(PipelineExecution.ActionAbandoned, reason=reason) == expected


@pytest.mark.parametrize(
    ("stage", "reason", "expected"),
    [
        (
            None,
            EXPIRED,
            {"kind": "TransitionExpired", "stage": "Prod", "by": "ops", "disabled_since": None},
        ),
        ("Prod", EXPIRED, {"kind": "StoppedByRequest", "by": "ops", "reason": EXPIRED}),
        (
            None,
            PER_OPS,
            {
                "kind": "StoppedByRequest",
                "by": "ops",
                "reason": PER_OPS,
            },
        ),
        ("Build", "bad build", {"kind": "StoppedByRequest", "by": "ops", "reason": "bad build"}),
        (None, "", {"kind": "StoppedByRequest", "by": "ops", "reason": ""}),
    ],
)
def test_an_old_stop_is_an_expired_transition_only_in_the_engines_words_outside_a_stage(
    stage: str | None, reason: str, expected: dict[str, Any]
) -> None:
    assert (
        upcast(PipelineExecution.ExecutionStopped, stage=stage, reason=reason, by="ops") == expected
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("pipeline updated to version 12", {"kind": "PipelineUpdated", "version": 12, "by": "ops"}),
        ("pipeline deleted", {"kind": "PipelineDeleted", "by": "ops"}),
        (
            "pipeline updated to version 12!",
            {"kind": "PipelineUpdated", "version": None, "by": "ops"},
        ),
    ],
)
def test_an_old_cancellation_is_read_from_the_exact_words_the_old_engine_wrote(
    reason: str, expected: dict[str, Any]
) -> None:
    assert upcast(PipelineExecution.ExecutionCancelled, reason=reason, by="ops") == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            {
                "status": "Stopped",
                "stage": "Prod",
                "while_waiting": True,
                "reason": EXPIRED,
                "by": "ops",
            },
            {"kind": "TransitionExpired", "stage": "Prod", "by": "ops", "disabled_since": None},
        ),
        (
            {
                "status": "Stopped",
                "stage": "Prod",
                "while_waiting": False,
                "reason": EXPIRED,
                "by": "ops",
            },
            {"kind": "StoppedByRequest", "by": "ops", "reason": EXPIRED},
        ),
        (
            {"status": "Cancelled", "stage": "Build", "reason": "pipeline deleted", "by": "ops"},
            {"kind": "PipelineDeleted", "by": "ops"},
        ),
    ],
)
def test_an_old_snapshot_gets_the_cause_of_its_ending_the_same_way(
    outcome: dict[str, Any], expected: dict[str, Any]
) -> None:
    state: dict[str, Any] = {"outcome": outcome}
    PipelineExecution.upcast_v1_v2(state)
    assert state["outcome"]["cause"] == expected
