"""Events stored by the previous release get the cause today's engine would record for them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from domain.execution import PipelineExecution
from engine.application.actions import _record_result
from engine.application.work import ActionResult
from tests.unit.test_planner_table import T0, World, three_stages

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
    work = SimpleNamespace(action_execution_id=aeid)
    result = ActionResult(succeeded=False, error_code=code, error_message=message)
    _record_result(None, execution, work, result, T0)  # type: ignore[arg-type]
    (failed,) = execution.collect_events()
    assert failed.cause == upcast_failure(code, message)  # type: ignore[attr-defined]
