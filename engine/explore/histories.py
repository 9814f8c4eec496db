"""The Hypothesis strategy of histories: simulate scenarios drawn from a pipeline and its inputs."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from domain.definition import PipelineDeclaration
from domain.validation import parse_definition
from domain.vocabulary import ActionCategory
from engine.explore.spec import DEFAULT_DURATIONS, DEFAULT_FAILURE, Inputs, Range

# Histories start at a fixed instant so that a counterexample reads the same on every run.
ORIGIN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Deadlines (7-day approvals, stale transitions) strike within this long after the last event.
HORIZON = timedelta(days=29)
PER_MILLE = 1000


@dataclass(frozen=True)
class ActionPlan:
    """What one declared action may do in a history."""

    key: str
    stage: str
    approval: bool
    duration: Range
    failure: float


def _lookup(table: Mapping[str, Any], stage: str, action: str, category: str, default: Any) -> Any:
    for key in (f"{stage}/{action}", action, category, "default"):
        if key in table:
            return table[key]
    return default


def plan(declaration: PipelineDeclaration, inputs: Inputs) -> list[ActionPlan]:
    plans = []
    for stage in declaration.stages:
        for action in stage.actions:
            category = action.category
            duration = _lookup(
                inputs.durations,
                stage.name,
                action.name,
                category,
                _lookup(DEFAULT_DURATIONS, "", "", category, DEFAULT_DURATIONS["default"]),
            )
            failure = _lookup(inputs.failures, stage.name, action.name, category, DEFAULT_FAILURE)
            if category == ActionCategory.SOURCE and category not in inputs.failures:
                # A failing checkout says little about a pipeline's stage semantics.
                failure = inputs.failures.get(f"{stage.name}/{action.name}", 0.0)
            plans.append(
                ActionPlan(
                    f"{stage.name}/{action.name}",
                    stage.name,
                    category == ActionCategory.APPROVAL,
                    duration,
                    float(failure),
                )
            )
    return plans


def chance(p: float) -> st.SearchStrategy[bool]:
    """True with probability about p; shrinks towards False (the ordinary outcome)."""
    cut = PER_MILLE - round(p * PER_MILLE)
    return st.integers(0, PER_MILLE - 1).map(lambda value: value >= cut)


def seconds(r: Range) -> st.SearchStrategy[int]:
    return st.integers(int(r.low), max(int(r.low), int(r.high)))


def instant(offset: float) -> str:
    return (ORIGIN + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")


def histories(
    definition: Mapping[str, Any], inputs: Inputs | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Scenario documents for `conveyor simulate`: pushes, outcomes, approvals, operations."""
    document = dict(definition.get("pipeline", definition))
    declaration = parse_definition(document)
    inputs = inputs or Inputs()
    plans = plan(declaration, inputs)
    name = declaration.name
    stages = declaration.stage_names()

    @st.composite
    def draw(data: st.DrawFn) -> dict[str, Any]:
        count = data(st.integers(inputs.pushes_min, inputs.pushes_max))
        gap = Range(0.0, 2 * 3600.0 / inputs.per_hour)
        events: list[dict[str, Any]] = [{"at": instant(0), "create": name, "startExecution": False}]
        offset = 60.0
        for index in range(count):
            if index:
                offset += data(seconds(gap))
            script = data(push_script(plans, inputs))
            events.append(
                {"at": instant(offset), "push": name, "revision": f"r{index + 1}"} | script
            )
        operations = data(st.integers(0, inputs.max_operations))
        for _ in range(operations):
            events.extend(data(operation(name, stages, count, offset, inputs)))
        events.sort(key=lambda e: (e["at"], "create" not in e))
        last = max(e["at"] for e in events)
        return {
            "name": f"explore-{name}",
            "description": "a history drawn by conveyor explore",
            "pipelines": {name: copy.deepcopy(document) | {"name": name}},
            "events": events,
            "until": (datetime.fromisoformat(last) + HORIZON).isoformat().replace("+00:00", "Z"),
        }

    return draw()


def push_script(plans: list[ActionPlan], inputs: Inputs) -> st.SearchStrategy[dict[str, Any]]:
    """How each action of one push's execution goes: durations, outcomes, approval answers."""

    @st.composite
    def draw(data: st.DrawFn) -> dict[str, Any]:
        durations: dict[str, int] = {}
        outcomes: dict[str, list[str]] = {}
        approvals: dict[str, dict[str, Any]] = {}
        attempts = 2 + inputs.retries
        for action in plans:
            if action.approval:
                approvals_answer = data(answer(inputs))
                if approvals_answer is not None:
                    approvals[action.key] = approvals_answer
                continue
            durations[action.key] = data(seconds(action.duration))
            if action.failure > 0:
                failed = [data(chance(action.failure)) for _ in range(attempts)]
                if any(failed):
                    last = max(i for i, f in enumerate(failed) if f)
                    outcomes[action.key] = [
                        "Failed" if f else "Succeeded" for f in failed[: last + 1]
                    ] + ["Succeeded"]
        script: dict[str, Any] = {"durations": durations}
        if outcomes:
            script["outcomes"] = outcomes
        if approvals:
            script["approvals"] = approvals
        if inputs.retries and (outcomes or any(a.approval for a in plans)):
            delays = [data(seconds(inputs.retry_delay)) for _ in range(inputs.retries)]
            script["retries"] = [{"after": d} for d in delays]
        return script

    return draw()


def answer(inputs: Inputs) -> st.SearchStrategy[dict[str, Any] | None]:
    """An approval's answer after a delay, or none at all (it times out)."""

    @st.composite
    def draw(data: st.DrawFn) -> dict[str, Any] | None:
        roll = data(st.integers(0, PER_MILLE - 1))
        delay = data(seconds(inputs.approval_delay))
        if roll >= PER_MILLE - round(inputs.timeouts * PER_MILLE):
            return None
        rejected = roll >= PER_MILLE - round((inputs.timeouts + inputs.rejections) * PER_MILLE)
        return {"after": delay, "result": "Rejected" if rejected else "Approved"}

    return draw()


def operation(
    name: str, stages: list[str], pushes: int, span: float, inputs: Inputs
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """One operator's move: a transition disabled for a while, a stop, or a pipeline update."""
    kinds = [
        kind
        for kind, enabled in (
            ("disable", inputs.transitions and len(stages) > 1),
            ("stop", inputs.stops and pushes > 0),
            ("update", inputs.updates),
        )
        if enabled
    ]
    if not kinds:
        return st.just([])

    @st.composite
    def draw(data: st.DrawFn) -> list[dict[str, Any]]:
        kind = data(st.sampled_from(kinds))
        at = 60.0 + data(st.integers(0, int(span) + 3600))
        if kind == "disable":
            stage = data(st.sampled_from(stages[1:]))
            hold = data(st.integers(60, 7200))
            return [
                {"at": instant(at), "disable": name, "stage": stage, "reason": "explored"},
                {"at": instant(at + hold), "enable": name, "stage": stage},
            ]
        if kind == "stop":
            revision = data(st.integers(1, pushes))
            abandon = data(st.booleans())
            return [
                {"at": instant(at), "stop": name, "revision": f"r{revision}", "abandon": abandon}
            ]
        return [{"at": instant(at), "update": name}]

    return draw()
