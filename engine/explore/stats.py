"""Distributions over every explored history: lead times, losses, queues, cost per month."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.vocabulary import ExecutionStatus
from engine.explore.run import Explored
from engine.explore.spec import Inputs
from engine.explore.trace import Trace
from projections.billing import BillingRules


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def distribution(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
    }


def queue_peak(trace: Trace, stage: str) -> int:
    """The most executions waiting at once to enter a stage during one history."""
    changes: list[tuple[float, int]] = []
    for x in trace.executions.values():
        if stage not in x.arrived:
            continue
        left = x.began.get(stage) or x.ended or trace.end
        if left > x.arrived[stage]:
            changes.append((x.arrived[stage].timestamp(), 1))
            changes.append((left.timestamp(), -1))
    peak = waiting = 0
    for _, change in sorted(changes):
        waiting += change
        peak = max(peak, waiting)
    return peak


@dataclass
class Stats:
    """Figures gathered history by history; `summary` turns them into the report."""

    stages: list[str]
    rules: BillingRules = field(default_factory=BillingRules)
    histories: int = 0
    executions: int = 0
    superseded: int = 0
    revisions: int = 0
    never_deployed: int = 0
    minutes: int = 0
    retries: int = 0
    lead: dict[str, list[float]] = field(default_factory=dict)
    queues: dict[str, list[float]] = field(default_factory=dict)

    def add(self, explored: Explored) -> None:
        trace = explored.trace
        self.histories += 1
        last = self.stages[-1] if self.stages else None
        deployed: dict[str, bool] = {}
        self.retries += sum(1 for m in trace.moments if m.what == "retried")
        for x in trace.executions.values():
            self.executions += 1
            self.superseded += x.status == ExecutionStatus.SUPERSEDED
            deployed[x.revision] = deployed.get(x.revision, False) or last in x.succeeded
            for stage, (_, at) in x.succeeded.items():
                self.lead.setdefault(stage, []).append((at - x.started).total_seconds())
            for run in x.runs.values():
                took = ((run.ended or trace.end) - run.started).total_seconds()
                self.minutes += self.rules.billable_minutes(run.category, run.owner, took)
        self.revisions += len(deployed)
        self.never_deployed += sum(1 for done in deployed.values() if not done)
        for stage in self.stages:
            self.queues.setdefault(stage, []).append(float(queue_peak(trace, stage)))

    def summary(self, inputs: Inputs) -> dict[str, Any]:
        per_push = self.minutes / self.revisions if self.revisions else 0.0
        month = inputs.pushes_per_month()
        v2 = Decimal(str(round(per_push * month, 3))) * self.rules.v2_price_per_minute
        v1 = self.rules.v1_price_per_active_pipeline if month > 0 else Decimal(0)
        return {
            "histories": self.histories,
            "executions": self.executions,
            "revisions": self.revisions,
            "leadTimeSeconds": {s: distribution(self.lead.get(s, [])) for s in self.stages},
            "supersededFraction": _fraction(self.superseded, self.executions),
            "neverDeployedFraction": _fraction(self.never_deployed, self.revisions),
            "queuePeak": {s: distribution(self.queues.get(s, [])) for s in self.stages},
            "costPerMonth": {
                "pushesPerMonth": round(month, 1),
                "actionMinutesPerPush": round(per_push, 2),
                "V1": f"{v1:.2f}",
                "V2": f"{v2.quantize(Decimal('0.01'))}",
            },
        }


def _fraction(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
