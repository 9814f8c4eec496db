"""The stage planner: given a pipeline and its live executions, the one next thing to do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.definition import PipelineDeclaration, StageDeclaration
from domain.execution import (
    FAILED,
    IN_PROGRESS,
    STOPPING,
    SUCCEEDED,
    PipelineExecution,
)
from domain.pipeline import Pipeline
from domain.vocabulary import ExecutionMode, RetryMode

SUPERSEDED_MODE = ExecutionMode.SUPERSEDED
QUEUED_MODE = ExecutionMode.QUEUED
PARALLEL_MODE = ExecutionMode.PARALLEL

# Why an execution waits in front of a stage (recorded on ExecutionHeld, shown by explain).
WAIT_TRANSITION_DISABLED = "transition-disabled"
WAIT_STAGE_LOCKED = "stage-locked"
WAIT_QUEUED = "queued"


@dataclass(frozen=True)
class Decision:
    execution_id: str


@dataclass(frozen=True)
class TimeOutAction(Decision):
    action_execution_id: str


@dataclass(frozen=True)
class AbandonAction(Decision):
    action_execution_id: str


@dataclass(frozen=True)
class StopExecution(Decision):
    stage: str | None


@dataclass(frozen=True)
class RetryStage(Decision):
    stage: str
    retry_mode: str


@dataclass(frozen=True)
class FailStage(Decision):
    stage: str


@dataclass(frozen=True)
class StartAction(Decision):
    stage: str
    action: str


@dataclass(frozen=True)
class SucceedStage(Decision):
    stage: str


@dataclass(frozen=True)
class SucceedExecution(Decision):
    pass


@dataclass(frozen=True)
class EnterStage(Decision):
    stage: str


@dataclass(frozen=True)
class WaitAtStage(Decision):
    stage: str
    reason: str
    holder: str | None


@dataclass(frozen=True)
class Supersede(Decision):
    stage: str
    by_execution_id: str


def plan(
    pipeline: Pipeline, executions: Mapping[str, PipelineExecution], now: datetime
) -> Decision | None:
    """The next decision for this pipeline, or None when nothing can move without outside news.

    Everything CodePipeline decides on its own lives in this module and nowhere else: which
    execution enters a stage, who waits at an inbound transition, who is superseded, which
    actions start next, when a stage or an execution ends, when a timeout strikes. It reads
    state and returns a Decision; the application applies decisions one at a time (recording
    events) until the planner returns None. Pure: no clock reads (``now`` is an argument), no
    ids, no I/O.

    ``executions`` holds the pipeline's active executions; in PARALLEL mode, where executions
    never wait on one another, it may hold only the ones a command is about, and the planner
    then decides for those alone.
    """
    for execution_id in pipeline.active:
        execution = executions.get(execution_id)
        if execution is None:  # a PARALLEL unit loads only the executions it is about
            continue
        decision = _step(pipeline, execution, now)
        if decision is not None:
            return decision
    return _admit(pipeline)


def _step(pipeline: Pipeline, execution: PipelineExecution, now: datetime) -> Decision | None:
    eid = execution.execution_id
    for run in execution.in_progress_runs():
        if run["deadline"] is not None and run["deadline"] <= now:
            return TimeOutAction(eid, run["id"])
    if execution.waiting is not None:
        if execution.status == STOPPING:
            return StopExecution(eid, None)
        return None
    declaration = pipeline.declaration(execution.pipeline_version)
    stage_name = execution.stage
    if stage_name is None:
        return _arrive(pipeline, execution, declaration.stages[0].name)
    stage = _stage(declaration, stage_name)
    status = execution.stage_status(stage_name)
    if status == IN_PROGRESS:
        return _step_in_stage(execution, stage)
    if status == SUCCEEDED:
        following = _next_stage(declaration, stage_name)
        if following is None:
            return SucceedExecution(eid)
        if execution.status == STOPPING:
            return StopExecution(eid, None)
        return _arrive(pipeline, execution, following)
    return None


def _step_in_stage(execution: PipelineExecution, stage: StageDeclaration) -> Decision | None:
    eid = execution.execution_id
    latest = {a.name: execution.latest_run(stage.name, a.name) for a in stage.actions}
    running = [run for run in latest.values() if run and run["status"] == IN_PROGRESS]
    if execution.status == STOPPING:
        if execution.stop and execution.stop["abandon"] and running:
            return AbandonAction(eid, running[0]["id"])
        return None if running else StopExecution(eid, stage.name)
    if any(run and run["status"] == FAILED for run in latest.values()):
        # Siblings already running finish first; later runOrder groups never start.
        if running:
            return None
        retry = _automatic_retry_mode(stage)
        if retry and execution.stages[stage.name]["auto_retries"] < 1:
            return RetryStage(eid, stage.name, retry)
        return FailStage(eid, stage.name)
    for group in stage.groups():
        for action in group:
            if latest[action.name] is None:
                return StartAction(eid, stage.name, action.name)
        if any(latest[a.name]["status"] != SUCCEEDED for a in group):  # type: ignore[index]
            return None
    return SucceedStage(eid, stage.name)


def _arrive(pipeline: Pipeline, execution: PipelineExecution, stage: str) -> Decision:
    eid = execution.execution_id
    enabled = pipeline.transition_enabled(stage)
    gate = pipeline.gate(stage)
    if execution.execution_mode == PARALLEL_MODE:
        if enabled:
            return EnterStage(eid, stage)
        return WaitAtStage(eid, stage, WAIT_TRANSITION_DISABLED, None)
    waiting: Sequence[str] = gate["waiting"]
    if enabled and gate["occupant"] is None and not waiting:
        return EnterStage(eid, stage)
    if execution.execution_mode == SUPERSEDED_MODE and waiting:
        # A newer arrival overtakes the one waiting; running executions are never superseded.
        return Supersede(waiting[0], stage, eid)
    if not enabled:
        reason = WAIT_TRANSITION_DISABLED
    elif waiting:
        reason = WAIT_QUEUED
    else:
        reason = WAIT_STAGE_LOCKED
    return WaitAtStage(eid, stage, reason, gate["occupant"])


def _admit(pipeline: Pipeline) -> Decision | None:
    """A stage that is free and open takes the execution at the front of its line."""
    parallel = pipeline.execution_mode == PARALLEL_MODE
    for stage in pipeline.stage_names():
        gate = pipeline.gate(stage)
        if not gate["waiting"] or not pipeline.transition_enabled(stage):
            continue
        if parallel or gate["occupant"] is None:
            return EnterStage(gate["waiting"][0], stage)
    return None


def _automatic_retry_mode(stage: StageDeclaration) -> str | None:
    on_failure = stage.on_failure
    if on_failure is None or on_failure.result != "RETRY":
        return None
    configuration = on_failure.retry_configuration
    mode = configuration.retry_mode if configuration else None
    return mode or RetryMode.FAILED_ACTIONS


def _stage(declaration: PipelineDeclaration, name: str) -> StageDeclaration:
    for stage in declaration.stages:
        if stage.name == name:
            return stage
    raise KeyError(name)


def _next_stage(declaration: PipelineDeclaration, name: str) -> str | None:
    names = [stage.name for stage in declaration.stages]
    index = names.index(name)
    return names[index + 1] if index + 1 < len(names) else None
