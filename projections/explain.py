"""Why an execution is where it is: one sentence per fact, from the aggregates' recorded reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.vocabulary import ActionStatus, ExecutionStatus

Loader = Callable[[str], PipelineExecution]


def ago(then: datetime | str, now: datetime) -> str:
    """'3 minutes ago', '2 days ago': relative to an instant given by the caller."""
    if isinstance(then, str):
        then = datetime.fromisoformat(then)
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def at(value: datetime | str | None) -> str:
    assert value is not None  # callers pass instants that are set by then (typed optional)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def revision_phrase(execution: PipelineExecution) -> str:
    if not execution.source_revisions:
        return "no source revision yet"
    parts = []
    for revision in execution.source_revisions:
        summary = (revision.get("revisionSummary") or "").splitlines()[0:1]
        text = f"commit {revision['revisionId'][:10]}"
        if summary:
            text += f' ("{summary[0][:60]}")'
        parts.append(text)
    return ", ".join(parts)


def _superseded(execution: PipelineExecution, outcome: Mapping[str, Any], load: Loader) -> str:
    other = load(outcome["superseded_by"])
    return (
        f"superseded at {outcome['stage']} by {other.execution_id[:8]}… carrying "
        f"{revision_phrase(other)} at {at(outcome['at'])}: while it waited to enter "
        f"{outcome['stage']}, a newer execution arrived and took its place."
    )


def _cancelled(execution: PipelineExecution, outcome: Mapping[str, Any], load: Loader) -> str:
    return f"cancelled at {at(outcome['at'])} by {outcome.get('by')}: {outcome.get('reason')}" + (
        f" (it was in {outcome['stage']})." if outcome.get("stage") else "."
    )


def _stopped(execution: PipelineExecution, outcome: Mapping[str, Any], load: Loader) -> str:
    how = "while waiting to enter" if outcome.get("while_waiting") else "in"
    reason = outcome.get("reason")
    return (
        f"stopped {how} {outcome.get('stage')} at {at(outcome['at'])} by "
        f"{outcome.get('by') or 'conveyor'}" + (f": '{reason}'." if reason else ".")
    )


def _failed(execution: PipelineExecution, outcome: Mapping[str, Any], load: Loader) -> str:
    error = outcome.get("error") or {}
    return (
        f"failed at {outcome.get('stage')} at {at(outcome['at'])}: action "
        f"{error.get('action')} ended with {error.get('code')}: {error.get('message')}."
    )


def _stopping(execution: PipelineExecution, outcome: Mapping[str, Any], load: Loader) -> str:
    stop: Mapping[str, Any] = execution.stop or {}
    how = "abandoning" if stop.get("abandon") else "letting running actions finish"
    return f"stopping ({how}) since {at(stop['at'])}, requested by {stop.get('by')}" + (
        f": '{stop['reason']}'." if stop.get("reason") else "."
    )


# The sentence that says why an execution in this status ended (or is ending) that way.
_OUTCOMES: dict[str, Callable[[PipelineExecution, Mapping[str, Any], Loader], str]] = {
    ExecutionStatus.SUPERSEDED: _superseded,
    ExecutionStatus.CANCELLED: _cancelled,
    ExecutionStatus.STOPPED: _stopped,
    ExecutionStatus.FAILED: _failed,
    ExecutionStatus.STOPPING: _stopping,
}


def explain(
    execution: PipelineExecution, pipeline: Pipeline | None, load: Loader, now: datetime
) -> list[str]:
    """The facts about an execution, most important first."""
    eid = execution.execution_id
    facts = [
        f"execution {eid} of pipeline {execution.pipeline_name} (version "
        f"{execution.pipeline_version}, {execution.execution_mode}) is {execution.status}.",
        f"started {at(execution.started_at)} by {execution.started_by} (trigger "
        f"{execution.trigger['triggerType']}), carrying {revision_phrase(execution)}.",
    ]
    outcome = _OUTCOMES.get(execution.status)
    if outcome is not None:
        facts.append(outcome(execution, execution.outcome or {}, load))
    if execution.waiting:
        facts.append(_waiting(execution, pipeline, load, now))
    facts.extend(_running(execution, now))
    facts.extend(_retries(execution))
    facts.extend(_answers(execution))
    return facts


def _running(execution: PipelineExecution, now: datetime) -> list[str]:
    facts = []
    for run in execution.in_progress_runs():
        if run["token"]:
            facts.append(
                f"waiting for approval at {run['stage']}/{run['action']} since "
                f"{ago(run['started_at'], now)} (token {run['token']}); it times out "
                f"{at(run['expires_at'])}."
            )
        else:
            facts.append(
                f"running {run['stage']}/{run['action']} (attempt {run['attempt']}) since "
                f"{ago(run['started_at'], now)}."
            )
    return facts


def _answers(execution: PipelineExecution) -> list[str]:
    """Approvals people answered."""
    facts = []
    for run in execution.actions.values():
        if run["updated_by"] and run["status"] in (ActionStatus.SUCCEEDED, ActionStatus.FAILED):
            verb = "approved" if run["status"] == ActionStatus.SUCCEEDED else "rejected"
            facts.append(
                f"{run['stage']}/{run['action']} {verb} by {run['updated_by']} at "
                f"{at(run['ended_at'])}" + (f": '{run['summary']}'." if run["summary"] else ".")
            )
    return facts


def _waiting(
    execution: PipelineExecution, pipeline: Pipeline | None, load: Loader, now: datetime
) -> str:
    waiting: Mapping[str, Any] = execution.waiting or {}
    stage = waiting["stage"]
    since = ago(waiting["since"], now)
    transition: Mapping[str, Any] = pipeline.transitions.get(stage, {}) if pipeline else {}
    if pipeline is not None and not transition.get("enabled", True):
        return (
            f"waiting: inbound transition to {stage} disabled by {transition['by']} "
            f"{ago(transition['at'], now)}: '{transition['reason']}' (waiting since {since})."
        )
    gate: Mapping[str, Any] = (
        pipeline.gate(stage) if pipeline else {"occupant": waiting.get("holder"), "waiting": []}
    )
    holder = gate.get("occupant") or waiting.get("holder")
    ahead = (
        gate["waiting"].index(execution.execution_id)
        if execution.execution_id in gate["waiting"]
        else 0
    )
    text = f"waiting to enter {stage} since {since}"
    if holder:
        other = load(holder)
        text += f": the stage is held by {holder[:8]}… carrying {revision_phrase(other)}"
    if ahead:
        text += f"; {ahead} execution{'s' if ahead != 1 else ''} queued ahead of it"
    return text + "."


def _retries(execution: PipelineExecution) -> list[str]:
    facts = []
    for stage, state in execution.stages.items():
        manual, auto = state["manual_retries"], state["auto_retries"]
        if manual or auto:
            facts.append(
                f"stage {stage} was retried {manual + auto} time{'s' if manual + auto != 1 else ''}"
                f" ({manual} by a person, {auto} automatically)."
            )
    return facts
