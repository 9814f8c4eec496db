"""An example of your own property tests for your pipeline (runs in `make test`)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings

from engine.explore.testing import Inputs, Range, assert_holds, histories, prop, run_history

DEFINITION = json.loads((Path(__file__).parent / "explore" / "shop.json").read_text())
INPUTS = Inputs(
    pushes_max=3,
    durations={"Build/Compile": Range(600, 1200), "default": Range(60, 300)},
    failures={"Test/Suite": 0.3, "default": 0.0},
    retries=1,
)


@settings(max_examples=15, deadline=None, database=None)
@given(histories(DEFINITION, INPUTS))
def test_only_tested_revisions_reach_prod_and_staging_never_goes_back(history: dict) -> None:
    assert_holds(
        run_history(history),
        prop("passes-before", first="Test", then="Prod"),
        prop("never-regresses", stage="Deploy"),
    )


# A lead-time claim holds only for what it assumes: here every approval is answered (an
# unanswered one waits 7 days for its timeout, and a retry can then still reach Prod) and
# nobody disables a transition (a release freeze can hold a revision for weeks).
PROMPT = Inputs(
    pushes_max=3,
    durations=INPUTS.durations,
    failures=INPUTS.failures,
    retries=1,
    timeouts=0.0,
    transitions=False,
)


@settings(max_examples=15, deadline=None, database=None)
@given(histories(DEFINITION, PROMPT))
def test_a_push_that_reaches_prod_gets_there_within_a_day(history: dict) -> None:
    explored = run_history(history)
    for execution in explored.trace.executions.values():
        if "Prod" in execution.succeeded:
            _, at = execution.succeeded["Prod"]
            # The approval may wait up to an hour, builds take at most 20 minutes.
            assert (at - execution.started).total_seconds() < 24 * 3600
