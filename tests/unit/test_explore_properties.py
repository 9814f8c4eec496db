"""Each property kind over hand-written histories: it holds where it should, and says why not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from engine.explore.run import Explored, run_history
from engine.explore.spec import InvalidProperties
from engine.explore.testing import prop

SHOP = json.loads((Path(__file__).parents[2] / "examples" / "explore" / "shop.json").read_text())
FAST = {"Source/Checkout": 5, "Build/Compile": 60, "Test/Suite": 60, "Deploy/Staging": 60}


def run(mode: str, *events: dict[str, Any], stages: int = 5) -> Explored:
    definition = copy.deepcopy(SHOP["pipeline"])
    definition["executionMode"] = mode
    definition["stages"] = definition["stages"][:stages]
    return run_history(
        {
            "name": "hand-written",
            "pipelines": {"shop": definition},
            "events": [
                {"at": "2026-01-05T09:00:00Z", "create": "shop", "startExecution": False},
                *events,
            ],
            "until": "2026-02-01T00:00:00Z",
        }
    )


def push(at: str, revision: str, **script: Any) -> dict[str, Any]:
    durations = {**FAST, **script.pop("durations", {})}
    approvals = {"Prod/Approve": {"after": 60}}
    return {
        "at": f"2026-01-05T{at}Z",
        "push": "shop",
        "revision": revision,
        "durations": durations,
        "approvals": approvals,
    } | script


def messages(explored: Explored, *properties: Any) -> list[str]:
    return [v.message for v in explored.violations(properties)]


def test_passes_before_holds_in_stage_order_and_fails_against_it() -> None:
    explored = run("SUPERSEDED", push("09:01:00", "r1"))

    assert messages(explored, prop("passes-before", first="Test", then="Prod")) == []
    [message] = messages(explored, prop("passes-before", first="Deploy", then="Test"))
    assert message.startswith("r1 (execution ")
    assert "succeeded in Test at 2026-01-05 09:03:05 without succeeding in Deploy first" in message


def test_never_regresses_fails_when_a_slow_older_build_deploys_after_a_newer_one() -> None:
    slow = push("09:01:00", "r1", durations={"Build/Compile": 600})
    fast = push("09:02:00", "r2")

    parallel = run("PARALLEL", slow, fast, stages=4)
    queued = run("QUEUED", slow, fast, stages=4)

    [message] = messages(parallel, prop("never-regresses", stage="Deploy"))
    assert "Deploy ran r1" in message and "after the newer r2" in message
    assert messages(queued, prop("never-regresses", stage="Deploy")) == []


def test_max_wait_measures_the_wait_at_a_disabled_transition_and_at_an_approval() -> None:
    explored = run(
        "SUPERSEDED",
        {"at": "2026-01-05T09:00:30Z", "disable": "shop", "stage": "Deploy", "reason": "freeze"},
        push("09:01:00", "r1", approvals={"Prod/Approve": {"after": 7200}}),
        {"at": "2026-01-05T10:00:00Z", "enable": "shop", "stage": "Deploy"},
    )

    [at_deploy] = messages(explored, prop("max-wait", stage="Deploy", within="30m"))
    assert at_deploy.endswith(
        "waited 56m 55s to enter Deploy from 2026-01-05 09:03:05 (more than 30m 00s)"
    )
    assert messages(explored, prop("max-wait", stage="Deploy", within="1h")) == []
    [at_approval] = messages(explored, prop("max-wait", approval="Prod/Approve", within="1h"))
    assert "waited 2h 00m for approval Prod/Approve" in at_approval


def test_lead_time_is_from_the_push_to_the_stage_succeeding() -> None:
    explored = run("SUPERSEDED", push("09:01:00", "r1", durations={"Build/Compile": 1200}))

    [message] = messages(explored, prop("lead-time", stage="Deploy", within="20m"))
    assert "reached Deploy 22m 05s after its push (more than 20m 00s)" in message
    assert messages(explored, prop("lead-time", stage="Deploy", within="23m")) == []


def test_at_most_in_flight_counts_executions_in_the_pipeline_or_in_one_stage() -> None:
    first = push("09:01:00", "r1", durations={"Build/Compile": 600})
    second = push("09:02:00", "r2")

    parallel = run("PARALLEL", first, second, stages=4)
    queued = run("QUEUED", first, second, stages=4)

    [message] = messages(parallel, prop("at-most-in-flight", max=1, stage="Build"))
    assert message.startswith("2 executions in Build at 2026-01-05 09:02:05")
    assert messages(queued, prop("at-most-in-flight", max=1, stage="Build")) == []
    assert messages(queued, prop("at-most-in-flight", max=1)) != []
    assert messages(queued, prop("at-most-in-flight", max=2)) == []


def test_scripted_answers_reject_an_approval_by_its_token_and_retries_ask_again() -> None:
    explored = run(
        "SUPERSEDED",
        push(
            "09:01:00",
            "r1",
            approvals={"Prod/Approve": {"after": 60, "result": "Rejected"}},
            retries=[{"after": 300}],
        ),
    )

    texts = [m.text for m in explored.trace.moments]
    assert "Prod/Approve rejected" in texts
    assert "retried Prod (FAILED_ACTIONS)" in texts
    # The script answers the retried approval the same way, and no retry is left.
    assert texts.count("Prod/Approve rejected") == 2
    assert texts[-1].startswith("execution failed")
    assert explored.violations() == []


def test_a_property_for_your_own_tests_is_checked_like_one_in_a_properties_file() -> None:
    with pytest.raises(InvalidProperties, match=r"never-regresses\.stage: required"):
        prop("never-regresses")
    with pytest.raises(InvalidProperties, match=r"max-wait\.within: 'soon' is not a duration"):
        prop("max-wait", stage="Deploy", within="soon")
    with pytest.raises(InvalidProperties, match=r"kind: 'fast' is not one of"):
        prop("fast", stage="Deploy")
