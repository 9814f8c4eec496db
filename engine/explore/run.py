"""One history through the real engine under the virtual clock, in memory, then folded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.explore.properties import check
from engine.explore.spec import PropertySpec
from engine.explore.trace import Trace, Violation
from engine.simulation import Scenario, SimulationResult, simulate


@dataclass
class Explored:
    """A history after its run: the scenario it is, the simulation, and its folded trace."""

    history: Mapping[str, Any]
    result: SimulationResult
    trace: Trace

    def violations(self, properties: Iterable[PropertySpec] = ()) -> list[Violation]:
        return check(self.trace, properties)


def run_history(history: Mapping[str, Any]) -> Explored:
    """Run a history (a simulate scenario document) exactly as `conveyor simulate` would."""
    result = simulate(Scenario.from_document(history))
    return Explored(history, result, Trace(result))
