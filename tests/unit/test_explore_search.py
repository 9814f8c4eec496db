"""conveyor explore's search: real violations found and shrunk, properties that hold, repeatable."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from engine.explore.run import run_history
from engine.explore.search import explore
from engine.explore.spec import Inputs, PropertySpec, Range, Spec
from engine.simulation import Scenario, simulate

SHOP = Path(__file__).parents[2] / "examples" / "explore" / "shop.json"


def pipeline(mode: str, stages: tuple[str, ...] = ("Source", "Build", "Deploy")) -> dict[str, Any]:
    document = copy.deepcopy(json.loads(SHOP.read_text())["pipeline"])
    document["executionMode"] = mode
    document["stages"] = [s for s in document["stages"] if s["name"] in stages]
    return document


NEVER_REGRESSES = PropertySpec("never-regresses", {"stage": "Deploy"})


def test_a_parallel_pipeline_deploys_an_older_revision_last_in_a_shrunk_counterexample() -> None:
    found = explore(pipeline("PARALLEL"), Spec((NEVER_REGRESSES,)), examples=200, seed=1)

    assert found.counterexample is not None
    history = found.counterexample.history
    pushes = [e for e in history["events"] if "push" in e]
    assert 2 <= len(pushes) <= 3
    assert [v.property for v in found.counterexample.violations] == [NEVER_REGRESSES.describe()]
    # Replaying the scenario (as `conveyor simulate` does) shows the older revision last in Deploy.
    result = simulate(Scenario.from_document(json.loads(json.dumps(history))))
    entries = sorted(
        (result.app.execution(eid).stages["Deploy"]["entered_at"], revision)
        for eid, revision in result.revisions.items()
        if "Deploy" in result.app.execution(eid).stages
    )
    ranks = [int(revision.removeprefix("r")) for _, revision in entries]
    assert ranks[-1] < max(ranks)


def test_a_superseded_pipeline_never_deploys_an_older_revision_over_500_histories() -> None:
    found = explore(pipeline("SUPERSEDED"), Spec((NEVER_REGRESSES,)), examples=500, seed=2)

    assert found.counterexample is None
    assert found.examples == 500


def test_a_revision_reaches_prod_only_after_passing_test_even_with_failures_and_retries() -> None:
    inputs = Inputs(
        pushes_max=3,
        failures={"Test/Suite": 0.5, "default": 0.0},
        retries=2,
        durations={"default": Range(60, 600)},
    )
    spec = Spec((PropertySpec("passes-before", {"first": "Test", "then": "Prod"}),), inputs)

    found = explore(pipeline("SUPERSEDED", ("Source", "Test", "Prod")), spec, examples=40, seed=3)

    assert found.counterexample is None
    assert found.examples == 40
    # The histories did exercise the failures and the retries of Test, and still reached Prod.
    assert found.stats.retries >= 10
    assert len(found.stats.lead["Prod"]) >= 10


def test_the_same_seed_explores_the_same_histories() -> None:
    spec = Spec((NEVER_REGRESSES,), Inputs(pushes_max=3))
    first = explore(pipeline("QUEUED"), spec, examples=15, seed=9)
    second = explore(pipeline("QUEUED"), spec, examples=15, seed=9)

    assert first.stats.summary(spec.inputs) == second.stats.summary(spec.inputs)
    assert first.examples == second.examples == 15


def test_a_history_with_failing_tests_retries_them_and_still_holds_the_built_in_invariants() -> (
    None
):
    definition = pipeline("SUPERSEDED", ("Source", "Test", "Prod"))
    history = {
        "name": "retries",
        "pipelines": {definition["name"]: definition},
        "events": [
            {"at": "2026-01-05T09:00:00Z", "create": "shop", "startExecution": False},
            {
                "at": "2026-01-05T09:01:00Z",
                "push": "shop",
                "revision": "r1",
                "outcomes": {"Test/Suite": ["Failed", "Failed", "Succeeded"]},
                "approvals": {"Prod/Approve": {"after": 60}},
                "retries": [{"after": 120}],
            },
        ],
        "until": "2026-02-01T00:00:00Z",
    }

    explored = run_history(history)

    assert explored.violations() == []
    [execution] = explored.trace.executions.values()
    assert [m.text for m in explored.trace.moments if m.what == "retried"] == [
        "retried automatically Test (FAILED_ACTIONS)",
        "retried Test (FAILED_ACTIONS)",
    ]
    assert "Prod" in execution.succeeded


def test_an_execution_revived_by_a_retry_step_still_gets_its_scripted_approval_answered() -> None:
    definition = pipeline("SUPERSEDED", ("Source", "Test", "Prod"))
    history = {
        "name": "revived",
        "pipelines": {definition["name"]: definition},
        "events": [
            {"at": "2026-01-05T09:00:00Z", "create": "shop", "startExecution": False},
            {
                "at": "2026-01-05T09:01:00Z",
                "push": "shop",
                "revision": "r1",
                "outcomes": {"Test/Suite": ["Failed", "Failed", "Succeeded"]},
                "approvals": {"Prod/Approve": {"after": 60}},
            },
            # Long after it failed (and the simulator stopped watching it), a person retries.
            {"at": "2026-01-06T09:00:00Z", "retry": "shop", "stage": "Test", "revision": "r1"},
        ],
        "until": "2026-02-01T00:00:00Z",
    }

    result = simulate(Scenario.from_document(history))

    [execution] = [result.app.execution(eid) for eid in result.revisions]
    assert result.errors == []
    assert execution.status == "Succeeded"
    approvals = [run for run in execution.actions.values() if run["action"] == "Approve"]
    assert [run["status"] for run in approvals] == ["Succeeded"]
