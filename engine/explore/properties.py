"""The user's properties, checked over a folded history; built-in ones come from the trace."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import groupby

from engine.explore.spec import PropertySpec
from engine.explore.trace import ExecutionTrace, Moment, Trace, Violation


def duration(value: float) -> str:
    """1h 05m, 12m 30s, 45s."""
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def check(trace: Trace, properties: Iterable[PropertySpec]) -> list[Violation]:
    """Every violation: the built-in invariants first, then each declared property in order."""
    found = list(trace.problems)
    for spec in properties:
        found.extend(CHECKS[spec.kind](trace, spec))
    return found


def passes_before(trace: Trace, spec: PropertySpec) -> list[Violation]:
    """Every revision that succeeds in `then` succeeded in `first` no later."""
    first, then = spec.params["first"], spec.params["then"]
    passed: dict[str, datetime] = {}
    for x in trace.executions.values():
        if first in x.succeeded:
            at = x.succeeded[first][1]
            passed[x.revision] = min(at, passed.get(x.revision, at))
    found = []
    for x in trace.executions.values():
        if then not in x.succeeded:
            continue
        at = x.succeeded[then][1]
        if x.revision not in passed or passed[x.revision] > at:
            found.append(
                Violation(
                    spec.describe(),
                    f"{x.label} succeeded in {then} at {_clock(at)} without succeeding in "
                    f"{first} first",
                    (x.id,),
                )
            )
    return found


def never_regresses(trace: Trace, spec: PropertySpec) -> list[Violation]:
    """Stage S never starts running an older revision after a newer one ran there."""
    stage = spec.params["stage"]
    newest: ExecutionTrace | None = None
    # One transaction saves several executions in no set order: compare instants, not lines.
    for _, group in _instants(m for m in trace.moments if m.stage == stage):
        runs = [trace.executions[m.execution] for m in group if m.what in ("entered", "retried")]
        for x in runs:
            if newest is not None and x.rank < newest.rank:
                at = next(m.at for m in group if m.execution == x.id)
                return [
                    Violation(
                        spec.describe(),
                        f"{stage} ran {x.label} at {_clock(at)}, after the newer "
                        f"{newest.label} ran there",
                        (x.id, newest.id),
                    )
                ]
        for x in runs:
            if newest is None or x.rank > newest.rank:
                newest = x
    return []


def _instants(moments: Iterable[Moment]) -> Iterator[tuple[datetime, list[Moment]]]:
    for at, group in groupby(sorted(moments, key=lambda m: (m.at, m.seq)), key=lambda m: m.at):
        yield at, list(group)


def max_wait(trace: Trace, spec: PropertySpec) -> list[Violation]:
    """No execution waits longer than `within` at a stage's entrance or at an approval."""
    within = float(spec.params["within"])
    found = []
    for x in trace.executions.values():
        for what, since, until in _waits(trace, x, spec):
            waited = (until - since).total_seconds()
            if waited > within:
                found.append(
                    Violation(
                        spec.describe(),
                        f"{x.label} waited {duration(waited)} {what} from {_clock(since)} "
                        f"(more than {duration(within)})",
                        (x.id,),
                    )
                )
    return found


def _waits(
    trace: Trace, x: ExecutionTrace, spec: PropertySpec
) -> list[tuple[str, datetime, datetime]]:
    end = x.ended or trace.end
    if "approval" in spec.params:
        key = spec.params["approval"]
        return [
            (f"for approval {key}", run.started, run.ended or end)
            for run in x.runs.values()
            if f"{run.stage}/{run.action}" == key
        ]
    stage = spec.params["stage"]
    if stage not in x.arrived:
        return []
    return [(f"to enter {stage}", x.arrived[stage], x.began.get(stage, end))]


def lead_time(trace: Trace, spec: PropertySpec) -> list[Violation]:
    """Every revision that succeeds in S does so within `within` of its push."""
    stage, within = spec.params["stage"], float(spec.params["within"])
    found = []
    for x in trace.executions.values():
        if stage in x.succeeded:
            took = (x.succeeded[stage][1] - x.started).total_seconds()
            if took > within:
                found.append(
                    Violation(
                        spec.describe(),
                        f"{x.label} reached {stage} {duration(took)} after its push "
                        f"(more than {duration(within)})",
                        (x.id,),
                    )
                )
    return found


def at_most_in_flight(trace: Trace, spec: PropertySpec) -> list[Violation]:
    """At no instant more than `max` executions in progress (in the pipeline, or in a stage)."""
    limit, stage = int(spec.params["max"]), spec.params.get("stage")
    inside: set[str] = set()
    for at, group in _instants(trace.moments):
        # Counted once every event of the instant is in: a release and the next entry are
        # decided together, whatever their order in the log.
        for moment in group:
            _move(inside, moment, stage)
        if len(inside) > limit:
            where = f"in {stage}" if stage else "in flight"
            return [
                Violation(
                    spec.describe(),
                    f"{len(inside)} executions {where} at {_clock(at)}: "
                    + ", ".join(trace.executions[e].label for e in sorted(inside)),
                    tuple(sorted(inside)),
                )
            ]
    return []


def _move(inside: set[str], moment: Moment, stage: str | None) -> None:
    if stage is None:
        if moment.what in ("started", "retried"):
            inside.add(moment.execution)
        elif moment.what == "ended-execution":
            inside.discard(moment.execution)
    elif moment.stage == stage:
        if moment.what in ("entered", "retried"):
            inside.add(moment.execution)
        elif moment.what in ("stage-succeeded", "stage-failed", "ended-execution"):
            inside.discard(moment.execution)


def _clock(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


CHECKS: dict[str, Callable[[Trace, PropertySpec], list[Violation]]] = {
    "passes-before": passes_before,
    "never-regresses": never_regresses,
    "max-wait": max_wait,
    "lead-time": lead_time,
    "at-most-in-flight": at_most_in_flight,
}
