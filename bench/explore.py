"""Histories explored per second on a 5-stage pipeline, against bare simulate runs in one process.

Run as `python bench/explore.py [EXAMPLES]`. The figures are a ratio to a baseline measured in
the same process (the same histories run by `simulate` alone, without drawing or checking), so
they compare across machines and loads.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# This folder holds projections.py, which would shadow the projections package.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import json  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as seeded  # noqa: E402

from engine.explore.histories import histories  # noqa: E402
from engine.explore.search import explore  # noqa: E402
from engine.explore.spec import load_spec  # noqa: E402
from engine.simulation import Scenario, simulate  # noqa: E402

EXAMPLES = ROOT / "examples" / "explore"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    definition = json.loads((EXAMPLES / "shop.json").read_text())["pipeline"]
    from domain.validation import parse_definition

    spec = load_spec(EXAMPLES / "properties.yaml", parse_definition(definition))

    drawn: list[dict] = []

    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @seeded(0)
    @given(histories(definition, spec.inputs))
    def collect(history: dict) -> None:
        drawn.append(history)

    collect()
    start = time.perf_counter()
    for history in drawn:
        simulate(Scenario.from_document(history))
    bare = len(drawn) / (time.perf_counter() - start)

    start = time.perf_counter()
    found = explore(definition, spec, examples=count, seed=0)
    rate = found.examples / (time.perf_counter() - start)

    if found.counterexample is not None:
        print(f"note: a property failed after {found.examples} histories; the rate counts those")
    pushes = sum(1 for h in drawn for e in h["events"] if "push" in e) / len(drawn)
    print(f"5-stage pipeline, {count} histories, {pushes:.1f} pushes each on average")
    print(f"bare simulate runs of drawn histories: {bare:8.1f} /s (baseline)")
    print(f"conveyor explore (draw, run, check)   : {rate:8.1f} histories/s")
    print(f"ratio explore / bare simulate          : {rate / bare:8.2f}")


if __name__ == "__main__":
    main()
