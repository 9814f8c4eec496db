"""Explore: draw histories with Hypothesis, check every property, shrink the first violation."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as seeded

from domain.validation import parse_definition
from engine.explore.histories import histories
from engine.explore.run import Explored, run_history
from engine.explore.spec import Spec
from engine.explore.stats import Stats
from engine.explore.trace import Violation

ENGINE_ERROR = "the engine raised no unexpected error"


class PropertyViolated(Exception):
    """Raised inside the Hypothesis test so that it shrinks the history."""


@dataclass
class Counterexample:
    """The shrunk history and every violation it shows (no run if the engine crashed on it)."""

    history: dict[str, Any]
    explored: Explored | None
    violations: list[Violation]


@dataclass
class Exploration:
    """What a run of `explore` found."""

    seed: int
    examples: int
    spec: Spec
    stats: Stats
    counterexample: Counterexample | None = None
    properties: list[str] = field(default_factory=list)


def explore(
    definition: Mapping[str, Any], spec: Spec, *, examples: int = 100, seed: int = 0
) -> Exploration:
    """Run up to `examples` histories; stop at the first violation and shrink it."""
    document = dict(definition.get("pipeline", definition))
    stages = parse_definition(document).stage_names()
    found = Exploration(seed, 0, spec, Stats(stages, spec.billing))
    found.properties = ["stage semantics (built in)"] + [p.describe() for p in spec.properties]
    target: list[str] = []

    def body(history: dict[str, Any]) -> None:
        explored: Explored | None = None
        try:
            explored = run_history(history)
            violations = explored.violations(spec.properties)
        except Exception as error:  # a crash of the engine on a history is a finding too
            violations = [Violation(ENGINE_ERROR, f"{type(error).__name__}: {error}")]
        if target:
            # Shrink the property first found; another one failing is not this bug.
            violations = [v for v in violations if v.property == target[0]]
        if violations:
            target[:1] = [violations[0].property]
            found.counterexample = Counterexample(history, explored, violations)
            raise PropertyViolated(violations[0].message)
        if not target and explored is not None:
            found.examples += 1
            found.stats.add(explored)

    test = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        report_multiple_bugs=False,
    )(seeded(seed)(given(histories(document, spec.inputs))(body)))
    with contextlib.suppress(PropertyViolated):
        test()
    return found
