"""For your own Hypothesis tests: histories of your pipeline, the run of one, its properties."""

from __future__ import annotations

import json
from typing import Any

from engine.explore.histories import histories
from engine.explore.run import Explored, run_history
from engine.explore.spec import Inputs, PropertySpec, Range, check_property
from engine.explore.trace import ExecutionTrace, Trace, Violation


def prop(kind: str, **params: Any) -> PropertySpec:
    """A property as the properties file declares it; `within` may be "10m", "2h", 90 ...

    For example::

        from hypothesis import given
        from engine.explore.testing import Inputs, assert_holds, histories, prop, run_history

        @given(histories(DEFINITION, Inputs(pushes_max=3)))
        def test_prod_never_runs_an_older_revision(history):
            assert_holds(run_history(history), prop("never-regresses", stage="Prod"))
    """
    return check_property(kind, params)


def assert_holds(explored: Explored, *properties: PropertySpec) -> None:
    """Fail with every violation and the scenario to replay with `conveyor simulate`."""
    violations = explored.violations(properties)
    if violations:
        lines = [f"{v.property}: {v.message}" for v in violations]
        scenario = json.dumps(explored.history, indent=2)
        raise AssertionError("\n".join(lines) + "\nreplay with conveyor simulate:\n" + scenario)


__all__ = [
    "ExecutionTrace",
    "Explored",
    "Inputs",
    "PropertySpec",
    "Range",
    "Trace",
    "Violation",
    "assert_holds",
    "histories",
    "prop",
    "run_history",
]
