"""A history's event log folded per execution, checking stage semantics on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.definition import PipelineDeclaration
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.vocabulary import (
    ActionCategory,
    ActionStatus,
    ExecutionMode,
    ExecutionStatus,
    RetryTrigger,
    StageStatus,
)
from engine.simulation import SimulationResult

TERMINAL = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.STOPPED,
        ExecutionStatus.SUPERSEDED,
        ExecutionStatus.CANCELLED,
    }
)
BUILT_IN = "stage semantics"


@dataclass(frozen=True)
class Violation:
    """A property that did not hold, the sentence saying how, and the executions involved."""

    property: str
    message: str
    executions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "property": self.property,
            "message": self.message,
            "executions": list(self.executions),
        }


@dataclass
class RunTrace:
    """One action attempt."""

    id: str
    stage: str
    action: str
    category: str
    owner: str
    started: datetime
    deadline: datetime
    ended: datetime | None = None
    status: str = ActionStatus.IN_PROGRESS


@dataclass
class ExecutionTrace:
    """One execution as its events tell it."""

    id: str
    index: int
    revision: str
    rank: int
    mode: str
    pipeline_id: str
    version: int
    started: datetime
    status: str = ExecutionStatus.IN_PROGRESS
    ended: datetime | None = None
    current: str | None = None
    entered: list[str] = field(default_factory=list)
    stage_status: dict[str, str] = field(default_factory=dict)
    arrived: dict[str, datetime] = field(default_factory=dict)
    began: dict[str, datetime] = field(default_factory=dict)
    succeeded: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    runs: dict[str, RunTrace] = field(default_factory=dict)
    latest: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.revision} (execution {self.id[:8]})"


@dataclass(frozen=True)
class Moment:
    """One event, for properties over time and for the timeline."""

    seq: int
    at: datetime
    execution: str
    what: str
    stage: str | None = None
    text: str = ""


class Trace:
    """Every execution of a simulated history, folded from the event log in log order."""

    def __init__(self, result: SimulationResult) -> None:
        self.result = result
        self.end = result.ended_at
        self.executions: dict[str, ExecutionTrace] = {}
        self.moments: list[Moment] = []
        self.problems: list[Violation] = []
        self._declarations: dict[tuple[str, int], PipelineDeclaration] = {}
        self._holders: dict[tuple[str, str], set[str]] = {}
        self._overlaps: dict[tuple[str, str, str], datetime] = {}
        self._entrants: dict[tuple[str, str], ExecutionTrace] = {}
        self._ranks: dict[str, int] = {}
        self._superseded: list[tuple[ExecutionTrace, str]] = []
        self._fold()
        self._check_end()

    # ----- reading the log ----------------------------------------------------------------

    def _fold(self) -> None:
        app = self.result.app
        position = 0
        while True:
            page = app.recorder.select_notifications(start=position + 1, limit=500)
            if not page:
                return
            for notification in page:
                self._event(notification.id, app.mapper.to_domain_event(notification))
            position = page[-1].id

    def _event(self, seq: int, event: Any) -> None:
        if isinstance(event, PipelineExecution.ExecutionStarted):
            self._started(seq, event)
            return
        x = self.executions.get(str(event.originator_id))
        if x is None:
            return
        handler = _HANDLERS.get(type(event))
        kind = type(event).__qualname__.split(".")[-1]
        if x.status in TERMINAL and not isinstance(event, PipelineExecution.StageRetried):
            self.fail(f"{x.label} was {x.status} and then recorded {kind}", x)
        if handler is not None:
            handler(self, x, seq, event)

    def fail(self, message: str, *executions: ExecutionTrace) -> None:
        self.problems.append(Violation(BUILT_IN, message, tuple(x.id for x in executions)))

    def declaration(self, x: ExecutionTrace) -> PipelineDeclaration:
        key = (x.pipeline_id, x.version)
        found = self._declarations.get(key)
        if found is None:
            pipeline: Pipeline = self.result.app.repository.get(UUID(x.pipeline_id))
            found = self._declarations[key] = pipeline.declaration(x.version)
        return found

    def note(
        self,
        seq: int,
        at: datetime,
        x: ExecutionTrace,
        what: str,
        stage: str | None = None,
        text: str = "",
    ) -> None:
        self.moments.append(Moment(seq, at, x.id, what, stage, text))

    # ----- handlers -----------------------------------------------------------------------

    def _started(self, seq: int, event: Any) -> None:
        eid = str(event.originator_id)
        revision = self.result.revisions.get(eid, "unknown")
        rank = self._ranks.setdefault(revision, len(self._ranks))
        x = ExecutionTrace(
            id=eid,
            index=len(self.executions),
            revision=revision,
            rank=rank,
            mode=event.execution_mode,
            pipeline_id=event.pipeline_id,
            version=event.pipeline_version,
            started=event.timestamp,
        )
        self.executions[eid] = x
        order = self.declaration(x).stage_names()
        if order:
            x.arrived[order[0]] = event.timestamp
        self.note(seq, event.timestamp, x, "started", text=f"{revision} pushed")

    def _entered(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        stage = event.stage
        order = self.declaration(x).stage_names()
        if x.status != ExecutionStatus.IN_PROGRESS:
            self.fail(f"{x.label} entered {stage} while {x.status}", x)
        if len(x.entered) >= len(order) or order[len(x.entered)] != stage:
            self.fail(f"{x.label} entered {stage} after {x.entered}; stages are {order}", x)
        if x.entered and x.stage_status.get(x.entered[-1]) != StageStatus.SUCCEEDED:
            self.fail(f"{x.label} entered {stage} before {x.entered[-1]} succeeded", x)
        x.entered.append(stage)
        x.began.setdefault(stage, event.timestamp)
        if x.mode != ExecutionMode.PARALLEL:
            last = self._entrants.get((x.pipeline_id, stage))
            if last is not None and last.index > x.index:
                self.fail(f"{x.label} entered {stage} after the newer {last.label} did", x, last)
            self._entrants[(x.pipeline_id, stage)] = x
        self._hold(x, stage, event.timestamp)
        self.note(seq, event.timestamp, x, "entered", stage, f"entered {stage}")

    def _hold(self, x: ExecutionTrace, stage: str, at: datetime) -> None:
        x.current = stage
        x.stage_status[stage] = StageStatus.IN_PROGRESS
        if x.mode == ExecutionMode.PARALLEL:
            return
        holders = self._holders.setdefault((x.pipeline_id, stage), set())
        for other in holders - {x.id}:
            # Decided in one transaction, a release may follow the next entry in the log.
            self._overlaps.setdefault((stage, other, x.id), at)
        holders.add(x.id)

    def _release(self, x: ExecutionTrace, stage: str | None, at: datetime) -> None:
        if stage is None:
            return
        self._holders.get((x.pipeline_id, stage), set()).discard(x.id)
        for key in [k for k in self._overlaps if k[0] == stage and k[1] == x.id]:
            if at > self._overlaps.pop(key):
                other = self.executions[key[2]]
                self.fail(f"{stage} held {x.label} and {other.label} at once", x, other)

    def _retried(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        stage = event.stage
        manual = event.trigger != RetryTrigger.AUTOMATED
        if stage != x.current:
            self.fail(f"{x.label} retried {stage}, not its current stage {x.current}", x)
        allowed = (ExecutionStatus.FAILED, ExecutionStatus.STOPPED) if manual else ()
        if x.status != ExecutionStatus.IN_PROGRESS and x.status not in allowed:
            self.fail(f"{x.label} retried {stage} while {x.status}", x)
        for action in event.reset:
            x.latest.pop((stage, action), None)
        x.status = ExecutionStatus.IN_PROGRESS
        x.ended = None
        self._hold(x, stage, event.timestamp)
        how = "retried" if manual else "retried automatically"
        self.note(seq, event.timestamp, x, "retried", stage, f"{how} {stage} ({event.retry_mode})")

    def _action_started(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        stage, action = event.stage, event.action
        if stage != x.current or x.stage_status.get(stage) != StageStatus.IN_PROGRESS:
            self.fail(f"{x.label} started {stage}/{action} outside its current stage", x)
        previous = x.latest.get((stage, action))
        if previous is not None and x.runs[previous].status == ActionStatus.IN_PROGRESS:
            self.fail(f"{x.label} started {stage}/{action} twice at once", x)
        declared = self.declaration(x).stage(stage)
        this = declared.action(action) if declared else None
        if declared is not None and this is not None:
            for other in declared.actions:
                run_id = x.latest.get((stage, other.name))
                done = run_id is not None and x.runs[run_id].status == ActionStatus.SUCCEEDED
                if other.run_order < this.run_order and not done:
                    self.fail(
                        f"{x.label} started {stage}/{action} before {other.name} "
                        f"(an earlier runOrder) succeeded",
                        x,
                    )
        category = event.action_type.get("category", "")
        run = RunTrace(
            event.action_execution_id,
            stage,
            action,
            category,
            event.action_type.get("owner", ""),
            event.timestamp,
            event.deadline,
        )
        x.runs[run.id] = run
        x.latest[(stage, action)] = run.id
        self.note(seq, event.timestamp, x, "action", stage, f"started {stage}/{action}")

    def _approval_requested(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        run = x.runs.get(event.action_execution_id)
        if run is None or run.category != ActionCategory.APPROVAL:
            self.fail(f"{x.label}: approval requested for a run that is not an approval", x)
        elif run.deadline != event.expires_at:
            run.deadline = event.expires_at

    def _action_ended(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        run = x.runs.get(event.action_execution_id)
        kind = type(event).__qualname__.split(".")[-1]
        if run is None:
            self.fail(f"{x.label}: {kind} for an unknown action attempt", x)
            return
        if run.status != ActionStatus.IN_PROGRESS:
            self.fail(f"{x.label}: {run.stage}/{run.action} ended twice ({kind})", x)
        good = isinstance(
            event, PipelineExecution.ActionSucceeded | PipelineExecution.ApprovalGranted
        )
        abandoned = isinstance(event, PipelineExecution.ActionAbandoned)
        run.status = (
            ActionStatus.SUCCEEDED
            if good
            else ActionStatus.ABANDONED
            if abandoned
            else ActionStatus.FAILED
        )
        run.ended = event.timestamp
        verb = {
            ActionStatus.SUCCEEDED: "succeeded",
            ActionStatus.FAILED: "failed",
            ActionStatus.ABANDONED: "abandoned",
        }[ActionStatus(run.status)]
        if isinstance(event, PipelineExecution.ApprovalGranted):
            verb = "approved"
        elif isinstance(event, PipelineExecution.ApprovalRejected):
            verb = "rejected"
        self.note(seq, event.timestamp, x, "ended", run.stage, f"{run.stage}/{run.action} {verb}")

    def _stage_succeeded(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        stage = event.stage
        declared = self.declaration(x).stage(stage)
        if stage != x.current:
            self.fail(f"{x.label} succeeded {stage} outside it", x)
        for action in declared.actions if declared else []:
            run_id = x.latest.get((stage, action.name))
            if run_id is None or x.runs[run_id].status != ActionStatus.SUCCEEDED:
                self.fail(f"{x.label}: {stage} succeeded but {action.name} did not", x)
        x.stage_status[stage] = StageStatus.SUCCEEDED
        x.succeeded.setdefault(stage, (seq, event.timestamp))
        order = self.declaration(x).stage_names()
        if stage in order and order.index(stage) + 1 < len(order):
            x.arrived.setdefault(order[order.index(stage) + 1], event.timestamp)
        self._release(x, stage, event.timestamp)
        self.note(seq, event.timestamp, x, "stage-succeeded", stage, f"{stage} succeeded")

    def _stage_failed(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        stage = event.stage
        running = [
            r
            for (s, _), rid in x.latest.items()
            if s == stage
            for r in [x.runs[rid]]
            if r.status == ActionStatus.IN_PROGRESS
        ]
        if running:
            self.fail(f"{x.label}: {stage} failed while {running[0].action} still ran", x)
        x.stage_status[stage] = StageStatus.FAILED
        self._release(x, stage, event.timestamp)
        self.note(seq, event.timestamp, x, "stage-failed", stage, f"{stage} failed")

    def _ended(self, x: ExecutionTrace, seq: int, event: Any) -> None:
        status = _END_STATUS[type(event)]
        if status == ExecutionStatus.SUCCEEDED:
            order = self.declaration(x).stage_names()
            if x.entered != order or any(
                x.stage_status.get(s) != StageStatus.SUCCEEDED for s in order
            ):
                self.fail(f"{x.label} succeeded without every stage succeeding", x)
        if status == ExecutionStatus.SUPERSEDED:
            if x.mode != ExecutionMode.SUPERSEDED:
                self.fail(f"{x.label} was superseded in {x.mode} mode", x)
            # The newcomer may start in the same transaction, after this event in the log.
            self._superseded.append((x, event.superseded_by))
        stage = getattr(event, "stage", None)
        if x.current is not None and x.stage_status.get(x.current) == StageStatus.IN_PROGRESS:
            stage = x.current
            x.stage_status[x.current] = status
            self._release(x, x.current, event.timestamp)
        x.status = status
        x.ended = event.timestamp
        reason = getattr(event, "summary", None) or getattr(event, "reason", None) or ""
        text = f"execution {status.lower()}" + (f": {reason}" if reason else "")
        self.note(seq, event.timestamp, x, "ended-execution", stage, text)

    # ----- at the end of the history ------------------------------------------------------

    def _check_end(self) -> None:
        for x, by in self._superseded:
            winner = self.executions.get(by)
            if winner is None or winner.index < x.index:
                self.fail(f"{x.label} was superseded by an older execution", x)
        for (stage, holder, other), _ in sorted(self._overlaps.items()):
            a, b = self.executions[holder], self.executions[other]
            self.fail(f"{stage} held {a.label} and {b.label} at once", a, b)
        app = self.result.app
        for x in self.executions.values():
            for run in x.runs.values():
                if run.status == ActionStatus.IN_PROGRESS and run.deadline <= self.end:
                    self.fail(
                        f"{x.label}: {run.stage}/{run.action} never ended, though its deadline "
                        f"{run.deadline.isoformat()} passed",
                        x,
                    )
            execution = app.execution(x.id)
            if execution.status != x.status and not (
                execution.status == ExecutionStatus.STOPPING
                and x.status == ExecutionStatus.IN_PROGRESS
            ):
                self.fail(f"{x.label} is {execution.status} but its events say {x.status}", x)
            waits = execution.waiting is not None and bool(execution.waiting["reason"])
            if execution.is_active and not execution.in_progress_runs() and not waits:
                self.fail(
                    f"{x.label} is {execution.status} in {execution.stage} with nothing "
                    "running and no recorded reason to wait (stuck)",
                    x,
                )


Handler = Callable[[Trace, ExecutionTrace, int, Any], None]
_E = PipelineExecution
_END_STATUS: dict[type, ExecutionStatus] = {
    _E.ExecutionSucceeded: ExecutionStatus.SUCCEEDED,
    _E.ExecutionFailed: ExecutionStatus.FAILED,
    _E.ExecutionStopped: ExecutionStatus.STOPPED,
    _E.ExecutionSuperseded: ExecutionStatus.SUPERSEDED,
    _E.ExecutionCancelled: ExecutionStatus.CANCELLED,
}
_HANDLERS: dict[type, Handler] = {
    _E.StageEntered: Trace._entered,
    _E.StageRetried: Trace._retried,
    _E.ActionStarted: Trace._action_started,
    _E.ApprovalRequested: Trace._approval_requested,
    _E.ActionSucceeded: Trace._action_ended,
    _E.ActionFailed: Trace._action_ended,
    _E.ActionAbandoned: Trace._action_ended,
    _E.ApprovalGranted: Trace._action_ended,
    _E.ApprovalRejected: Trace._action_ended,
    _E.StageSucceeded: Trace._stage_succeeded,
    _E.StageFailed: Trace._stage_failed,
    **{cls: Trace._ended for cls in _END_STATUS},
}
