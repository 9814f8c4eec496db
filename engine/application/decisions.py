"""The decision applier: records each planner decision on the aggregates of a unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import planner
from domain.execution import ABANDONED, FAILED, PipelineExecution
from domain.pipeline import Pipeline
from domain.vocabulary import RetryMode, RetryTrigger
from engine.application.unit import Unit
from engine.application.work import start_action
from engine.clock import IdFactory


def settle(unit: Unit, ids: IdFactory, now: datetime) -> None:
    """Let the planner decide until nothing more can happen without news from outside."""
    for _ in range(100_000):
        decision = planner.plan(unit.pipeline, unit.executions, now)
        if decision is None:
            return
        apply(unit, decision, ids, now)
    raise RuntimeError("the planner did not settle; this is a bug in the planner")


def latest_runs(pipeline: Pipeline, execution: PipelineExecution, stage: str) -> list[Any]:
    declaration = pipeline.declaration(execution.pipeline_version)
    stage_decl = declaration.stage(stage)
    assert stage_decl is not None
    runs = [execution.latest_run(stage, action.name) for action in stage_decl.actions]
    return [run for run in runs if run is not None]


def apply(unit: Unit, decision: planner.Decision, ids: IdFactory, now: datetime) -> None:
    execution = unit.execution(decision.execution_id)
    match decision:
        case planner.TimeOutAction() | planner.AbandonAction() | planner.StartAction():
            _apply_to_action(unit, execution, decision, ids, now)
        case planner.RetryStage() | planner.FailStage() | planner.SucceedStage():
            _apply_to_stage(unit, execution, decision, now)
        case _:
            _apply_to_execution(unit, execution, decision, now)


def _apply_to_action(
    unit: Unit,
    execution: PipelineExecution,
    decision: planner.Decision,
    ids: IdFactory,
    now: datetime,
) -> None:
    match decision:
        case planner.TimeOutAction(action_execution_id=aeid):
            execution.time_out_action(aeid, now)
        case planner.AbandonAction(action_execution_id=aeid):
            execution.abandon_for_stop(aeid, now)
        case planner.StartAction(stage=stage, action=action):
            declaration = unit.pipeline.declaration(execution.pipeline_version)
            work = start_action(declaration, execution, stage, action, ids=ids, now=now)
            if work is not None:
                unit.work.append(work)


def _apply_to_stage(
    unit: Unit, execution: PipelineExecution, decision: planner.Decision, now: datetime
) -> None:
    pipeline = unit.pipeline
    eid = execution.execution_id
    locking = execution.execution_mode != planner.PARALLEL_MODE
    match decision:
        case planner.RetryStage(stage=stage, retry_mode=mode):
            reset = [
                run["action"]
                for run in latest_runs(pipeline, execution, stage)
                if mode == RetryMode.ALL_ACTIONS or run["status"] in (FAILED, ABANDONED)
            ]
            execution.retry_stage(
                stage,
                retry_mode=mode,
                trigger=RetryTrigger.AUTOMATED,
                by="conveyor",
                reset=reset,
                now=now,
            )
        case planner.FailStage(stage=stage):
            failed = [
                run for run in latest_runs(pipeline, execution, stage) if run["status"] == FAILED
            ]
            first = failed[0]
            error = first["error"] or {"code": "JobFailed", "message": "failed"}
            summary = f"action {first['action']} failed in stage {stage}: {error['message']}"
            execution.fail_stage(stage, summary=summary, now=now)
            execution.fail(
                stage=stage, summary=summary, error={**error, "action": first["action"]}, now=now
            )
            if locking:
                pipeline.unlock(stage, eid, now)
            pipeline.deactivate(eid, now)
        case planner.SucceedStage(stage=stage):
            execution.succeed_stage(stage, now)
            if locking:
                pipeline.unlock(stage, eid, now)


def _apply_to_execution(
    unit: Unit, execution: PipelineExecution, decision: planner.Decision, now: datetime
) -> None:
    pipeline = unit.pipeline
    eid = execution.execution_id
    locking = execution.execution_mode != planner.PARALLEL_MODE
    match decision:
        case planner.StopExecution(stage=stage):
            if execution.waiting:
                pipeline.dequeue(execution.waiting["stage"], eid, now)
            execution.stop_as_requested(stage, now)
            if stage and locking:
                pipeline.unlock(stage, eid, now)
            pipeline.deactivate(eid, now)
        case planner.SucceedExecution():
            execution.succeed(now)
            pipeline.deactivate(eid, now)
        case planner.EnterStage(stage=stage):
            if execution.waiting:
                pipeline.dequeue(execution.waiting["stage"], eid, now)
            if locking:
                pipeline.lock(stage, eid, now)
            execution.enter_stage(stage, now)
        case planner.WaitAtStage(stage=stage, reason=reason, holder=holder):
            pipeline.enqueue(stage, eid, now)
            execution.wait_at(stage, reason=reason, holder=holder, now=now)
        case planner.Supersede(stage=stage, by_execution_id=by_id):
            pipeline.dequeue(stage, eid, now)
            execution.supersede(by_execution_id=by_id, stage=stage, now=now)
            pipeline.deactivate(eid, now)
        case _:
            raise TypeError(f"unknown decision {decision!r}")
