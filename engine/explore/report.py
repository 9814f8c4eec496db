"""A counterexample as the user reads it: the scenario to replay, explain sentences, a timeline."""

from __future__ import annotations

from typing import Any

from engine.explore.properties import duration
from engine.explore.search import Counterexample, Exploration
from projections.explain import explain


def counterexample_document(found: Counterexample) -> dict[str, Any]:
    body: dict[str, Any] = {
        "violations": [v.to_dict() for v in found.violations],
        "pushes": sum(1 for e in found.history["events"] if "push" in e),
        "scenario": found.history,
        "explain": {},
        "timeline": [],
        "refused": [],
    }
    explored = found.explored
    if explored is None:
        return body
    trace = explored.trace
    app = explored.result.app
    involved = list(dict.fromkeys(e for v in found.violations for e in v.executions))
    for eid in involved:
        execution = app.execution(eid)
        pipeline = app.pipeline_of(execution)
        body["explain"][eid] = {
            "revision": trace.executions[eid].revision,
            "facts": explain(execution, pipeline, app.execution, explored.result.ended_at),
        }
    start = min((x.started for x in trace.executions.values()), default=explored.result.ended_at)
    body["timeline"] = [
        {
            "at": m.at.isoformat(),
            "offset": duration((m.at - start).total_seconds()),
            "revision": trace.executions[m.execution].revision,
            "execution": m.execution,
            "text": m.text,
        }
        for m in trace.moments
    ]
    body["refused"] = explored.result.errors
    return body


def exploration_document(found: Exploration, *, with_stats: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "seed": found.seed,
        "examples": found.examples,
        "properties": found.properties,
        "holds": found.counterexample is None,
    }
    if found.counterexample is not None:
        body["counterexample"] = counterexample_document(found.counterexample)
    if with_stats:
        body["stats"] = found.stats.summary(found.spec.inputs)
    return body
