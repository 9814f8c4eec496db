"""The decision applier: records each planner decision on the aggregates of a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain import planner
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
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


def apply(unit: Unit, decision: planner.Decision, ids: IdFactory, now: datetime) -> None:
    """Record one decision: the execution's command for it, and what it means for the locks."""
    try:
        record = _RECORD[type(decision)]
    except KeyError:
        raise TypeError(f"unknown decision {decision!r}") from None
    record(_Applying(unit, unit.execution(decision.execution_id), ids, now), decision)


@dataclass(frozen=True)
class _Applying:
    """The unit of work, the execution the decision is about, and the ids and instant to use."""

    unit: Unit
    execution: PipelineExecution
    ids: IdFactory
    now: datetime

    @property
    def pipeline(self) -> Pipeline:
        return self.unit.pipeline

    @property
    def eid(self) -> str:
        return self.execution.execution_id

    @property
    def locking(self) -> bool:
        return self.execution.execution_mode != planner.PARALLEL_MODE

    def declared(self, stage: str) -> list[str]:
        return self.pipeline.action_names(stage, self.execution.pipeline_version)

    def release(self, stage: str | None) -> None:
        """The execution leaves `stage` (if any): its lock goes, and it is no longer active."""
        if stage and self.locking:
            self.pipeline.unlock(stage, self.eid, self.now)
        self.pipeline.deactivate(self.eid, self.now)

    def leave_queue(self) -> None:
        if self.execution.waiting:
            self.pipeline.dequeue(self.execution.waiting["stage"], self.eid, self.now)


def _time_out(a: _Applying, d: Any) -> None:
    a.execution.time_out_action(d.action_execution_id, a.now)


def _abandon(a: _Applying, d: Any) -> None:
    a.execution.abandon_for_stop(d.action_execution_id, a.now)


def _start_action(a: _Applying, d: Any) -> None:
    declaration = a.pipeline.declaration(a.execution.pipeline_version)
    work = start_action(declaration, a.execution, d.stage, d.action, ids=a.ids, now=a.now)
    if work is not None:
        # The work order is recorded with the start, in the same transaction: any process can
        # run it from the store, and exactly one claim on it can win.
        a.unit.queue(work, a.execution.run(work.action_execution_id)["deadline"], a.now)


def _retry_stage(a: _Applying, d: Any) -> None:
    a.execution.retry_automatically(
        d.stage, retry_mode=d.retry_mode, declared=a.declared(d.stage), now=a.now
    )


def _fail_stage(a: _Applying, d: Any) -> None:
    a.execution.fail_in_stage(d.stage, declared=a.declared(d.stage), now=a.now)
    a.release(d.stage)


def _succeed_stage(a: _Applying, d: Any) -> None:
    a.execution.succeed_stage(d.stage, a.now)
    if a.locking:
        a.pipeline.unlock(d.stage, a.eid, a.now)


def _stop(a: _Applying, d: Any) -> None:
    a.leave_queue()
    a.execution.stop_as_requested(d.stage, a.now)
    a.release(d.stage)


def _succeed(a: _Applying, d: Any) -> None:
    a.execution.succeed(a.now)
    a.release(None)


def _enter(a: _Applying, d: Any) -> None:
    a.leave_queue()
    if a.locking:
        a.pipeline.lock(d.stage, a.eid, a.now)
    a.execution.enter_stage(d.stage, a.now)


def _wait(a: _Applying, d: Any) -> None:
    a.pipeline.enqueue(d.stage, a.eid, a.now)
    a.execution.wait_at(d.stage, reason=d.reason, holder=d.holder, now=a.now)


def _supersede(a: _Applying, d: Any) -> None:
    a.pipeline.dequeue(d.stage, a.eid, a.now)
    a.execution.supersede(by_execution_id=d.by_execution_id, stage=d.stage, now=a.now)
    a.pipeline.deactivate(a.eid, a.now)


# Each planner decision and how it is recorded; the rules themselves are the aggregates'.
_RECORD: dict[type, Callable[[_Applying, Any], None]] = {
    planner.TimeOutAction: _time_out,
    planner.AbandonAction: _abandon,
    planner.StartAction: _start_action,
    planner.RetryStage: _retry_stage,
    planner.FailStage: _fail_stage,
    planner.SucceedStage: _succeed_stage,
    planner.StopExecution: _stop,
    planner.SucceedExecution: _succeed,
    planner.EnterStage: _enter,
    planner.WaitAtStage: _wait,
    planner.Supersede: _supersede,
}
