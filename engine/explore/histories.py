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
from domain.vocabulary import ActionCategory, ActionStatus, ApprovalStatus
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


class _Draws:
    """Every strategy a history is drawn with, built once (Hypothesis is faster that way)."""

    def __init__(self, declaration: PipelineDeclaration, inputs: Inputs) -> None:
        self.inputs = inputs
        self.plans = plan(declaration, inputs)
        self.name = declaration.name
        self.stages = declaration.stage_names()
        self.pushes = st.integers(inputs.pushes_min, inputs.pushes_max)
        self.gap = seconds(Range(0.0, 2 * 3600.0 / inputs.per_hour))
        self.durations = {a.key: seconds(a.duration) for a in self.plans}
        self.fails = {a.key: chance(a.failure) for a in self.plans if a.failure > 0}
        self.roll = st.integers(0, PER_MILLE - 1)
        self.approval_delay = seconds(inputs.approval_delay)
        self.retry_delay = seconds(inputs.retry_delay)
        self.operations = st.integers(0, inputs.max_operations)
        self.kinds = [
            kind
            for kind, enabled in (
                ("disable", inputs.transitions and len(self.stages) > 1),
                ("stop", inputs.stops),
                ("update", inputs.updates),
            )
            if enabled
        ]

    def history(self, data: st.DrawFn, document: Mapping[str, Any]) -> dict[str, Any]:
        count = data(self.pushes)
        events: list[dict[str, Any]] = [
            {"at": instant(0), "create": self.name, "startExecution": False}
        ]
        offset = 60.0
        for index in range(count):
            if index:
                offset += data(self.gap)
            push = {"at": instant(offset), "push": self.name, "revision": f"r{index + 1}"}
            events.append(push | self.script(data))
        if self.kinds:
            for _ in range(data(self.operations)):
                events.extend(self.operation(data, count, offset))
        events.sort(key=lambda e: (e["at"], "create" not in e))
        last = max(e["at"] for e in events)
        return {
            "name": f"explore-{self.name}",
            "description": "a history drawn by conveyor explore",
            "pipelines": {self.name: copy.deepcopy(dict(document)) | {"name": self.name}},
            "events": events,
            "until": (datetime.fromisoformat(last) + HORIZON).isoformat().replace("+00:00", "Z"),
        }

    def script(self, data: st.DrawFn) -> dict[str, Any]:
        """How each action of one push's execution goes: durations, outcomes, approvals."""
        durations: dict[str, int] = {}
        outcomes: dict[str, list[str]] = {}
        approvals: dict[str, dict[str, Any]] = {}
        attempts = 2 + self.inputs.retries
        for action in self.plans:
            if action.approval:
                given = self.answer(data)
                if given is not None:
                    approvals[action.key] = given
                continue
            durations[action.key] = data(self.durations[action.key])
            if action.key in self.fails:
                failed = [data(self.fails[action.key]) for _ in range(attempts)]
                if any(failed):
                    last = max(i for i, f in enumerate(failed) if f)
                    outcomes[action.key] = [
                        str(ActionStatus.FAILED if f else ActionStatus.SUCCEEDED)
                        for f in failed[: last + 1]
                    ] + [str(ActionStatus.SUCCEEDED)]
        script: dict[str, Any] = {"durations": durations}
        if outcomes:
            script["outcomes"] = outcomes
        if approvals:
            script["approvals"] = approvals
        if self.inputs.retries and (outcomes or any(a.approval for a in self.plans)):
            script["retries"] = [
                {"after": data(self.retry_delay)} for _ in range(self.inputs.retries)
            ]
        return script

    def answer(self, data: st.DrawFn) -> dict[str, Any] | None:
        """An approval's answer after a delay, or none at all (it times out)."""
        roll = data(self.roll)
        delay = data(self.approval_delay)
        timeouts, rejections = self.inputs.timeouts, self.inputs.rejections
        if roll >= PER_MILLE - round(timeouts * PER_MILLE):
            return None
        rejected = roll >= PER_MILLE - round((timeouts + rejections) * PER_MILLE)
        answer = ApprovalStatus.REJECTED if rejected else ApprovalStatus.APPROVED
        return {"after": delay, "result": str(answer)}

    def operation(self, data: st.DrawFn, pushes: int, span: float) -> list[dict[str, Any]]:
        """One operator's move: a transition disabled for a while, a stop, or an update."""
        kind = data(st.sampled_from(self.kinds))
        at = 60.0 + data(st.integers(0, int(span) + 3600))
        if kind == "disable":
            stage = data(st.sampled_from(self.stages[1:]))
            hold = data(st.integers(60, 7200))
            return [
                {"at": instant(at), "disable": self.name, "stage": stage, "reason": "explored"},
                {"at": instant(at + hold), "enable": self.name, "stage": stage},
            ]
        if kind == "stop" and pushes:
            revision = data(st.integers(1, pushes))
            abandon = data(st.booleans())
            return [
                {
                    "at": instant(at),
                    "stop": self.name,
                    "revision": f"r{revision}",
                    "abandon": abandon,
                }
            ]
        return [{"at": instant(at), "update": self.name}]


def histories(
    definition: Mapping[str, Any], inputs: Inputs | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Scenario documents for `conveyor simulate`: pushes, outcomes, approvals, operations."""
    document = dict(definition.get("pipeline", definition))
    draws = _Draws(parse_definition(document), inputs or Inputs())

    @st.composite
    def draw(data: st.DrawFn) -> dict[str, Any]:
        return draws.history(data, document)

    return draw()
