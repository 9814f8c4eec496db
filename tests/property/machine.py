"""A rule-based state machine over Conveyor's real command path that checks stage semantics."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.definition import PipelineDeclaration
from domain.execution import (
    ABANDONED,
    ACTIVE_STATUSES,
    CANCELLED,
    FAILED,
    IN_PROGRESS,
    STOPPED,
    STOPPING,
    SUCCEEDED,
    SUPERSEDED,
    TERMINAL_STATUSES,
    PipelineExecution,
)
from domain.job import Job
from domain.pipeline import STALE_TRANSITION_DAYS, Pipeline, bounded
from domain.registry import REGISTRY_ID
from engine.app import ActionWork, Conveyor
from tests.harness import Harness
from tests.property.support import (
    COMMAND_TICK,
    MODES,
    NAME,
    RETRY_MODES,
    TRANSITION_REASONS,
    Op,
    capture_saved_states,
    first_difference,
    perform,
    pipeline_shapes,
    replayed,
    state_of,
)

# The active profile's settings with three times its stateful step count: executions need many
# steps to get anywhere (every action result is a step), so shallow runs prove little.
# Claims on an action's job are the runner's bookkeeping, not stage semantics.
JOB_EVENTS = (Job.Event, Job.JobQueued)

DEEPER = settings(stateful_step_count=settings().stateful_step_count * 3)

PARALLEL = "PARALLEL"
SUPERSEDED_MODE = "SUPERSEDED"
WAIT_DISABLED = "transition-disabled"

NOT_STOPPABLE = "PipelineExecutionNotStoppableException"
DUPLICATE_STOP = "DuplicatedStopRequestException"
NOT_RETRYABLE = "StageNotRetryableException"
NOT_LATEST = "NotLatestPipelineExecutionException"

# How far the virtual clock may jump in one step (in minutes, or to just past the earliest deadline
# of the work in progress, which times that work out). Long jumps are rare: they time out
# everything running; 31 days also makes disabled transitions stale.
TIME_JUMPS: tuple[int | str, ...] = (
    1,
    1,
    5,
    "past the next deadline",
    "past the next deadline",
    "to just before the next deadline",
    STALE_TRANSITION_DAYS * 24 * 60 + 1,
)


@dataclass
class RunShadow:
    """One action run as the events told it."""

    id: str
    stage: str
    action: str
    approval: bool
    status: str = IN_PROGRESS
    granted: bool = False


@dataclass
class ExecutionShadow:
    """One execution folded from its events only, in log order (no aggregate code involved)."""

    id: str
    index: int
    version: int
    mode: str
    status: str = IN_PROGRESS
    entered: list[str] = field(default_factory=list)
    stage_status: dict[str, str] = field(default_factory=dict)
    auto_retries: dict[str, int] = field(default_factory=dict)
    runs: dict[str, RunShadow] = field(default_factory=dict)
    latest: dict[tuple[str, str], str] = field(default_factory=dict)
    waiting_at: str | None = None
    arrived: dict[str, int] = field(default_factory=dict)
    stop_abandon: bool | None = None

    def latest_run(self, stage: str, action: str) -> RunShadow | None:
        found = self.latest.get((stage, action))
        return self.runs[found] if found else None

    def stage_runs(self, stage: str) -> list[RunShadow]:
        return [self.runs[aeid] for (s, _), aeid in self.latest.items() if s == stage]


@dataclass
class Fold:
    """What an event handler needs besides the shadow and the event."""

    name: str
    nid: int
    declaration: PipelineDeclaration
    order: list[str]
    entries: list[tuple[str, str]]
    superseded: list[tuple[str, str, str]]


@dataclass
class Snapshot:
    """The aggregates as the repository gives them after a step."""

    now: datetime
    pipeline: Pipeline
    executions: dict[str, PipelineExecution]


class StageSemanticsMachine(RuleBasedStateMachine):
    """Random interleavings of CodePipeline's commands against one pipeline, with the stage
    semantics checked after every step, both on the aggregates' state and on the event log.

    Parametrise by subclassing: `modes` (which executionMode the shape may take), `max_stages`,
    `max_executions` (started in all), `max_concurrent` (active at once), `max_disabled`
    (transitions disabled at once), `max_updates`, `persistence` ("popo" or "sqlite"; SQLite
    keeps its file at `self.home / "events.sqlite"`). Extend `after_step`
    (call super first) to check more after every step, e.g. that a view rebuilt from position 0
    equals the incrementally maintained one; `self.h`, `self.snap`, `self.ops`, `self.last_batch`
    (the notifications the last step recorded) and `self.last_changed` (the ids of the
    aggregates they belong to) are there to use.
    """

    modes: tuple[str, ...] = MODES
    max_stages = 10
    max_executions = 10
    max_concurrent = 4
    max_disabled = 2
    max_updates = 1
    persistence = "popo"

    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="conveyor-machine-"))
        self.h: Harness | None = None
        self.document: dict[str, Any] = {}
        self.ops: list[tuple[Op, str | None]] = []
        self.started: list[str] = []
        self.updates = 0
        # The model's own record of transitions: disabled stage -> instant it was disabled.
        self.disabled: dict[str, datetime] = {}
        self.position = 0
        self.last_batch: list[Any] = []
        self.last_changed: set[UUID] = set()
        self.shadows: dict[str, ExecutionShadow] = {}
        # stage -> executions in the order they entered it (non-PARALLEL: one at a time).
        self.entrants: dict[str, list[str]] = {}
        self.saved: dict[UUID, dict[str, Any]] = {}
        self.snap: Snapshot | None = None
        self.current_op: Op | None = None

    # ----- plumbing ----------------------------------------------------------------------------

    def persistence_env(self) -> dict[str, str]:
        if self.persistence == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.home / "events.sqlite"),
            }
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}

    @property
    def app(self) -> Conveyor:
        assert self.h is not None
        return self.h.app

    @property
    def mode(self) -> str:
        return str(self.document.get("executionMode", SUPERSEDED_MODE))

    @property
    def stage_names(self) -> list[str]:
        return [stage["name"] for stage in self.document["stages"]]

    def do(self, op: Op) -> tuple[Any, str | None]:
        """Issue one command through the real application and log it with its outcome."""
        assert self.h is not None
        self.current_op = op
        result, error = perform(self.h, op)
        self.ops.append((op, error))
        return result, error

    def fail(self, message: str) -> None:
        tail = "\n".join(
            f"  {str(op)[:160]}" + (f" -> {err}" if err else "") for op, err in self.ops[-12:]
        )
        raise AssertionError(f"{message}\nlast commands:\n{tail}")

    def check(self, condition: object, message: str) -> None:
        if not condition:
            self.fail(message)

    def label(self, execution_id: str) -> str:
        shadow = self.shadows.get(execution_id)
        return f"e{shadow.index + 1}" if shadow else execution_id[:8]

    def declaration(self, version: int) -> PipelineDeclaration:
        assert self.snap is not None
        return self.snap.pipeline.declaration(version)

    def teardown(self) -> None:
        if self.h is not None:
            self.h.app.close()
        shutil.rmtree(self.home, ignore_errors=True)

    # ----- what the last snapshot offers the rules ----------------------------------------------

    def running_work(self) -> list[ActionWork]:
        if self.snap is None or self.h is None:
            return []
        return [
            self.h.work[run["id"]]
            for execution in self.snap.executions.values()
            for run in execution.in_progress_runs()
            if run["id"] in self.h.work
        ]

    def finished_work(self) -> list[ActionWork]:
        if self.snap is None or self.h is None:
            return []
        return [
            work
            for work in self.h.work.values()
            if self.snap.executions[work.execution_id].actions[work.action_execution_id]["status"]
            != IN_PROGRESS
        ]

    def approvals(self, pending: bool) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        """(execution id, stage, action, token, run) of approval runs pending or answered."""
        if self.snap is None:
            return []
        found = []
        for eid, execution in self.snap.executions.items():
            for run in execution.actions.values():
                if not run["token"]:
                    continue
                waiting = run["status"] == IN_PROGRESS
                if waiting == pending:
                    found.append((eid, run["stage"], run["action"], run["token"], run))
        return found

    # ----- rules -------------------------------------------------------------------------------

    @initialize(data=st.data())
    def create_pipeline(self, data: st.DataObject) -> None:
        self.document = data.draw(pipeline_shapes(self.modes, self.max_stages), label="pipeline")
        self.h = Harness(self.home, persistence=self.persistence_env())
        capture_saved_states(self.h.app, self.saved)
        _, error = self.do(Op("create", (self.document,)))
        self.check(error is None, f"creating a valid pipeline failed with {error}")

    def can_start(self) -> bool:
        if self.snap is None or len(self.started) >= self.max_executions:
            return False
        active = sum(1 for e in self.snap.executions.values() if e.is_active)
        return active < self.max_concurrent

    @precondition(lambda self: self.can_start())
    @rule()
    def start_execution(self) -> None:
        execution_id, error = self.do(Op("start"))
        self.check(error is None, f"starting an execution failed with {error}")
        self.started.append(execution_id)

    # Reporting results is what moves executions on. Hypothesis switches whole rules off per
    # example (swarm testing), so progress comes from several distinct rules, and the likeliest
    # ones are counted twice.
    def _report(self, work: ActionWork, succeeded: bool) -> None:
        assert self.snap is not None
        run = self.snap.executions[work.execution_id].actions[work.action_execution_id]
        expired = run["deadline"] <= self.h.clock.now() + COMMAND_TICK  # type: ignore[union-attr]
        _, error = self.do(Op("report", (work.action_execution_id, succeeded)))
        self.check(error is None, f"reporting a result failed with {error}")
        if expired and run["status"] == IN_PROGRESS:
            after = self.app.execution(work.execution_id).run(work.action_execution_id)
            timed_out = (
                after["status"] == FAILED and (after["error"] or {}).get("code") == "TimedOut"
            )
            self.check(
                timed_out,
                f"a result that came after {work.stage}/{work.action}'s deadline was recorded "
                f"({after['status']}) instead of the action timing out",
            )

    @precondition(lambda self: bool(self.running_work()))
    @rule(data=st.data())
    def report_a_success(self, data: st.DataObject) -> None:
        self._report(data.draw(st.sampled_from(self.running_work()), label="work"), True)

    report_another_success = report_a_success

    @precondition(lambda self: bool(self.running_work()))
    @rule(data=st.data())
    def report_a_failure(self, data: st.DataObject) -> None:
        self._report(data.draw(st.sampled_from(self.running_work()), label="work"), False)

    @precondition(lambda self: bool(self.running_work()))
    @rule()
    def report_success_for_everything_running(self) -> None:
        for work in self.running_work():
            self._report(work, True)

    run_everything_again = report_success_for_everything_running

    @precondition(lambda self: bool(self.finished_work()))
    @rule(data=st.data(), succeeded=st.booleans())
    def report_a_late_result_for_a_finished_action(
        self, data: st.DataObject, succeeded: bool
    ) -> None:
        work = data.draw(st.sampled_from(self.finished_work()), label="finished work")
        before = self.app.recorder.max_notification_id()
        _, error = self.do(Op("report", (work.action_execution_id, succeeded), tick=False))
        self.check(error is None, f"a late result was refused with {error}")
        after = self.app.recorder.max_notification_id()
        self.check(before == after, "a late result for a finished action recorded events")

    def _answer(self, data: st.DataObject, status: str) -> None:
        eid, stage, action, token, _ = data.draw(
            st.sampled_from(self.approvals(pending=True)), label="approval"
        )
        pending = next(r for r in self.snap.executions[eid].actions.values() if r["token"] == token)  # type: ignore[union-attr]
        expired = pending["deadline"] <= self.h.clock.now() + COMMAND_TICK  # type: ignore[union-attr]
        _, error = self.do(Op("approval", (stage, action, token, status)))
        if expired:
            self.check(
                error == "InvalidApprovalTokenException",
                f"an answer after the approval's deadline gave {error}, expected "
                "InvalidApprovalTokenException (expired)",
            )
            return
        self.check(error is None, f"answering the pending approval failed with {error}")
        runs = self.app.execution(eid).actions.values()
        answered = [run for run in runs if run["token"] == token]
        self.check(
            [run["status"] for run in answered] == [SUCCEEDED if status == "Approved" else FAILED],
            f"after {status} the approval run is {[run['status'] for run in answered]}",
        )

    @precondition(lambda self: bool(self.approvals(pending=True)))
    @rule(data=st.data())
    def approve_a_pending_approval(self, data: st.DataObject) -> None:
        self._answer(data, "Approved")

    approve_another_pending_approval = approve_a_pending_approval

    @precondition(lambda self: bool(self.approvals(pending=True)))
    @rule(data=st.data())
    def reject_a_pending_approval(self, data: st.DataObject) -> None:
        self._answer(data, "Rejected")

    @precondition(lambda self: bool(self.approvals(pending=False)))
    @rule(data=st.data(), approve=st.booleans())
    def answer_an_approval_with_a_stale_token(self, data: st.DataObject, approve: bool) -> None:
        _, stage, action, token, run = data.draw(
            st.sampled_from(self.approvals(pending=False)), label="answered approval"
        )
        status = "Approved" if approve else "Rejected"
        _, error = self.do(Op("approval", (stage, action, token, status)))
        expected = (
            "ApprovalAlreadyCompletedException"
            if run["updated_by"] is not None
            else "InvalidApprovalTokenException"
        )
        self.check(error == expected, f"a stale token gave {error}, expected {expected}")

    @precondition(lambda self: self.h is not None)
    @rule(jump=st.sampled_from(TIME_JUMPS))
    def let_time_pass(self, jump: int | str) -> None:
        assert self.snap is not None
        if isinstance(jump, int):
            minutes = float(jump)
        else:
            deadlines = [
                run["deadline"]
                for execution in self.snap.executions.values()
                for run in execution.in_progress_runs()
            ]
            if not deadlines:
                return
            # The tick lands on the deadline; "just before" leaves it for the next command's
            # own one-second tick to cross.
            margin = COMMAND_TICK * 1.5 if jump.startswith("to just before") else timedelta(0)
            minutes = (min(deadlines) - margin - self.snap.now).total_seconds() / 60
            if minutes < 0:
                return
        _, error = self.do(Op("tick", (minutes,)))
        self.check(error is None, f"advancing after {minutes} minutes failed with {error}")

    @precondition(lambda self: self.h is not None and len(self.disabled) < self.max_disabled)
    @rule(data=st.data(), reason=st.sampled_from(TRANSITION_REASONS))
    def disable_a_transition(self, data: st.DataObject, reason: str) -> None:
        stage = data.draw(st.sampled_from(self.stage_names[1:]), label="stage")
        # Disabling again keeps the first instant: the 30-day rule counts from it.
        self.disabled.setdefault(stage, self.h.clock.now() + timedelta(seconds=1))  # type: ignore[union-attr]
        _, error = self.do(Op("disable", (stage, reason)))
        self.check(error is None, f"disabling the transition to {stage} failed with {error}")

    @precondition(lambda self: bool(self.disabled))
    @rule(data=st.data())
    def enable_a_transition(self, data: st.DataObject) -> None:
        assert self.snap is not None and self.h is not None
        stage = data.draw(st.sampled_from(sorted(self.disabled)), label="stage")
        now = self.h.clock.now() + timedelta(seconds=1)
        stale = now - self.disabled.pop(stage) > timedelta(days=STALE_TRANSITION_DAYS)
        waiting = [
            eid
            for eid, e in self.snap.executions.items()
            if e.is_active and e.waiting and e.waiting["stage"] == stage
        ]
        _, error = self.do(Op("enable", (stage,)))
        self.check(error is None, f"enabling the transition to {stage} failed with {error}")
        for eid in waiting:
            status = self.app.execution(eid).status
            if stale:
                self.check(status == STOPPED, f"{self.label(eid)} resumed after > 30 days")
            else:
                self.check(status != STOPPED, f"{self.label(eid)} stopped by a fresh enable")

    @precondition(lambda self: bool(self.started))
    @rule(data=st.data(), abandon=st.booleans())
    def stop_an_execution(self, data: st.DataObject, abandon: bool) -> None:
        assert self.snap is not None
        active = [eid for eid in self.started if self.snap.executions[eid].is_active]
        pool = active if active and data.draw(st.integers(0, 3), label="any") < 3 else self.started
        eid = data.draw(st.sampled_from(pool), label="execution")
        execution = self.snap.executions[eid]
        if execution.status == STOPPING:
            already = bool((execution.stop or {}).get("abandon"))
            expected = None if abandon and not already else DUPLICATE_STOP
        elif execution.is_active:
            expected = None
        else:
            expected = NOT_STOPPABLE
        # Work whose deadline passes when the command's instant comes times out first.
        at = self.snap.now + COMMAND_TICK
        running = any(run["deadline"] > at for run in execution.in_progress_runs())
        _, error = self.do(Op("stop", (eid, abandon)))
        self.check(
            error == expected,
            f"stopping {self.label(eid)} ({execution.status}, abandon={abandon}) gave {error}, "
            f"expected {expected}",
        )
        if error is None:
            status = self.app.execution(eid).status
            should = STOPPED if abandon or not running else STOPPING
            self.check(status == should, f"after the stop {self.label(eid)} is {status}")

    @precondition(lambda self: bool(self.started))
    @rule(data=st.data(), retry_mode=st.sampled_from(RETRY_MODES))
    def retry_a_stage(self, data: st.DataObject, retry_mode: str) -> None:
        assert self.snap is not None
        candidates = [
            eid
            for eid, e in self.snap.executions.items()
            if e.status in (FAILED, STOPPED) or self._failed_now(e)
        ]
        eid = data.draw(st.sampled_from(candidates or self.started), label="execution")
        execution = self.snap.executions[eid]
        stages = self.stage_names
        if execution.stage and data.draw(st.integers(0, 3), label="other stage") != 3:
            stage = execution.stage
        else:
            stage = data.draw(st.sampled_from(stages), label="stage")
        expected = self.expected_retry_error(execution, stage, retry_mode)
        _, error = self.do(Op("retry", (stage, eid, retry_mode)))
        self.check(
            error == expected,
            f"retrying {stage} of {self.label(eid)} ({execution.status}, {retry_mode}) gave "
            f"{error}, expected {expected}",
        )
        if error is None:
            after = self.app.execution(eid)
            self.check(after.attempt == execution.attempt + 1, "a retry did not count an attempt")
            at = self.snap.now + COMMAND_TICK
            expiring = any(run["deadline"] <= at for run in execution.in_progress_runs())
            self.check(
                after.status in (IN_PROGRESS, SUCCEEDED) or expiring,
                f"a retried execution is {after.status}",
            )

    @precondition(lambda self: len(self.started) >= 2 and self.updates < self.max_updates)
    @rule()
    def update_the_pipeline(self) -> None:
        assert self.snap is not None
        in_flight = [eid for eid, e in self.snap.executions.items() if e.is_active]
        version = self.snap.pipeline.pipeline_version
        self.updates += 1
        _, error = self.do(Op("update", (self.document,)))
        self.check(error is None, f"updating the pipeline failed with {error}")
        pipeline = self.app.pipeline(NAME)
        self.check(pipeline.pipeline_version == version + 1, "an update did not add a version")
        self.check(pipeline.active == [], "executions survived an update")
        for eid in in_flight:
            status = self.app.execution(eid).status
            self.check(status == CANCELLED, f"{self.label(eid)} is {status} after an update")

    # ----- oracles -----------------------------------------------------------------------------

    def _failed_now(self, execution: PipelineExecution) -> bool:
        stage = execution.stage
        if stage is None:
            return False
        declared = self.declaration(execution.pipeline_version).stage(stage)
        assert declared is not None
        runs = [execution.latest_run(stage, a.name) for a in declared.actions]
        return execution.status == IN_PROGRESS and any(r and r["status"] == FAILED for r in runs)

    def expected_retry_error(
        self, execution: PipelineExecution, stage: str, retry_mode: str
    ) -> str | None:
        """The spec's rules for RetryStageExecution, applied to the state before the command."""
        assert self.snap is not None
        eid = execution.execution_id
        stage_status = execution.stage_status(stage)
        if execution.stage != stage or stage_status is None:
            return NOT_RETRYABLE
        if (execution.outcome or {}).get("while_waiting"):
            return NOT_RETRYABLE  # stopped while waiting: no actions there to retry
        declared = self.declaration(execution.pipeline_version).stage(stage)
        assert declared is not None
        runs = [execution.latest_run(stage, a.name) for a in declared.actions]
        latest = [run for run in runs if run is not None]
        running = any(run["status"] == IN_PROGRESS for run in latest)
        if execution.status not in (FAILED, STOPPED) and not self._failed_now(execution):
            return NOT_RETRYABLE
        if execution.pipeline_version != self.snap.pipeline.pipeline_version:
            return NOT_RETRYABLE  # the structure changed since
        if execution.execution_mode != PARALLEL and self.entrants.get(stage, [])[-1:] != [eid]:
            return NOT_LATEST  # a later execution entered the stage since
        if retry_mode == "ALL_ACTIONS" and running:
            return NOT_RETRYABLE
        failed = [run for run in latest if run["status"] in (FAILED, ABANDONED)]
        if retry_mode == "FAILED_ACTIONS" and not failed and stage_status != STOPPED:
            return NOT_RETRYABLE
        return None

    # ----- after every step --------------------------------------------------------------------

    @invariant()
    def stage_semantics_hold_after_every_step(self) -> None:
        if self.h is not None:
            self.after_step()

    def after_step(self) -> None:
        """Refresh the snapshot, fold the new events, check every invariant (extend in
        subclasses: call super().after_step() first)."""
        assert self.h is not None
        app = self.h.app
        pipeline = app.pipeline(NAME)
        self.snap = Snapshot(
            now=self.h.clock.now(),
            pipeline=pipeline,
            executions={eid: app.execution(eid) for eid in self.started},
        )
        step_op = self.current_op
        before = app.recorder.max_notification_id()
        _, error = self.do(Op("advance", tick=False))
        self.current_op = step_op
        self.check(error is None, f"advance failed with {error}")
        self.check(
            app.recorder.max_notification_id() == before,
            "the last command left decisions unmade: advance with no news recorded events",
        )
        batch = self._read_new_notifications()
        self.last_batch = batch
        changed: set[UUID] = set()
        entries: list[tuple[str, str]] = []
        superseded: list[tuple[str, str, str]] = []
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            changed.add(event.originator_id)
            self._fold(notification.id, event, entries, superseded)
        self.last_changed = changed
        self._check_batch(entries, superseded)
        self._check_state()
        self._check_replay(changed)
        self.current_op = None

    def _read_new_notifications(self) -> list[Any]:
        batch: list[Any] = []
        while True:
            page = self.app.recorder.select_notifications(start=self.position + 1, limit=500)
            if not page:
                return batch
            batch.extend(page)
            self.position = page[-1].id

    # ----- the event log, event by event ---------------------------------------------------------

    def _fold(
        self,
        nid: int,
        event: DomainEventProtocol[Any],
        entries: list[tuple[str, str]],
        superseded: list[tuple[str, str, str]],
    ) -> None:
        assert self.snap is not None
        kind = type(event).__name__
        oid = str(event.originator_id)
        if event.originator_id == REGISTRY_ID or isinstance(event, JOB_EVENTS):
            return
        if event.originator_id == self.snap.pipeline.id:
            self._fold_pipeline_event(kind, event)
            return
        if kind == "ExecutionStarted":
            self.check(
                event.pipeline_version == self.snap.pipeline.pipeline_version,  # type: ignore[attr-defined]
                "an execution started on an old pipeline version",
            )
            self.shadows[oid] = ExecutionShadow(
                id=oid,
                index=len(self.shadows),
                version=event.pipeline_version,  # type: ignore[attr-defined]
                mode=event.execution_mode,  # type: ignore[attr-defined]
            )
            self.check(event.execution_mode == self.mode, "execution mode differs")  # type: ignore[attr-defined]
            return
        x = self.shadows[oid]
        name = self.label(oid)
        if x.status in TERMINAL_STATUSES:
            legal = (
                kind == "StageRetried"
                and x.status in (FAILED, STOPPED)
                and event.trigger == "ManualStageRetry"  # type: ignore[attr-defined]
                and self.current_op is not None
                and self.current_op.name == "retry"
            )
            self.check(legal, f"{name} was {x.status} (terminal) and then recorded {kind}")
        declaration = self.declaration(x.version)
        order = declaration.stage_names()
        handler = getattr(self, f"_on_{kind}", None)
        self.check(handler is not None, f"unexpected event {kind} on {name}")
        assert handler is not None
        handler(x, event, Fold(name, nid, declaration, order, entries, superseded))

    def _fold_pipeline_event(self, kind: str, event: Any) -> None:
        op = self.current_op
        if kind in ("TransitionDisabled", "TransitionEnabled"):
            wanted = "disable" if kind == "TransitionDisabled" else "enable"
            self.check(
                op is not None and op.name == wanted and op.args[0] == event.stage,
                f"{kind} for {event.stage} recorded by {op}",
            )
        elif kind == "PipelineUpdated":
            self.check(op is not None and op.name == "update", f"PipelineUpdated by {op}")
            active = {x.id for x in self.shadows.values() if x.status in ACTIVE_STATUSES}
            self.check(
                set(event.cancelled) == active,
                "an update cancelled a different set of executions than those in flight",
            )

    def _require_granted_before(
        self,
        x: ExecutionShadow,
        name: str,
        declaration: PipelineDeclaration,
        stages: list[str],
        stage: str | None = None,
        run_order: int | None = None,
        what: str = "",
    ) -> None:
        """Every approval that comes before `what` has its latest run granted."""
        for stage_name in stages:
            declared = declaration.stage(stage_name)
            assert declared is not None
            for action in declared.actions:
                if action.category != "Approval":
                    continue
                if stage_name == stage and run_order is not None and action.run_order >= run_order:
                    continue
                run = x.latest_run(stage_name, action.name)
                self.check(
                    run is not None and run.granted,
                    f"{name}: {what} ran before approval {stage_name}/{action.name} was granted",
                )

    def _on_StageEntered(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, nid, declaration, order = ctx.name, ctx.nid, ctx.declaration, ctx.order
        stage = event.stage
        self.check(x.status == IN_PROGRESS, f"{name} entered {stage} while {x.status}")
        self.check(
            len(x.entered) < len(order) and order[len(x.entered)] == stage,
            f"{name} entered {stage} after {x.entered}; stages are {order} (skip or repeat)",
        )
        if x.entered:
            previous = x.entered[-1]
            self.check(
                x.stage_status.get(previous) == SUCCEEDED,
                f"{name} entered {stage} before {previous} succeeded",
            )
        self._require_granted_before(x, name, declaration, x.entered, what=f"entering {stage}")
        self.check(stage not in self.disabled, f"{name} passed the disabled transition to {stage}")
        x.entered.append(stage)
        x.stage_status[stage] = IN_PROGRESS
        x.waiting_at = None
        x.arrived.setdefault(stage, nid)
        if x.mode != PARALLEL:
            entrants = self.entrants.setdefault(stage, [])
            if entrants:
                last = self.shadows[entrants[-1]]
                self.check(
                    last.index < x.index,
                    f"{name} entered {stage} after the newer {self.label(last.id)} did",
                )
                self.check(
                    last.arrived[stage] < x.arrived[stage],
                    f"{name} entered {stage} after {self.label(last.id)}, which arrived later",
                )
            entrants.append(x.id)
        ctx.entries.append((stage, x.id))

    def _on_ExecutionHeld(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, nid, order = ctx.name, ctx.nid, ctx.order
        stage = event.stage
        self.check(x.status == IN_PROGRESS, f"{name} began waiting while {x.status}")
        self.check(
            len(x.entered) < len(order) and order[len(x.entered)] == stage,
            f"{name} waits at {stage} after {x.entered}; stages are {order}",
        )
        if x.entered:
            self.check(
                x.stage_status.get(x.entered[-1]) == SUCCEEDED,
                f"{name} waits at {stage} before {x.entered[-1]} succeeded",
            )
        disabled = stage in self.disabled
        self.check(
            (event.reason == WAIT_DISABLED) == disabled,
            f"{name} waits at {stage} for '{event.reason}' but the transition is "
            + ("disabled" if disabled else "enabled"),
        )
        if x.mode == PARALLEL:
            self.check(disabled, f"{name} waits at open {stage} in PARALLEL mode")
        x.waiting_at = stage
        x.arrived.setdefault(stage, nid)

    def _on_ActionStarted(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, declaration = ctx.name, ctx.declaration
        stage, action = event.stage, event.action
        self.check(x.status == IN_PROGRESS, f"{name} started {stage}/{action} while {x.status}")
        self.check(
            x.entered and x.entered[-1] == stage and x.stage_status[stage] == IN_PROGRESS,
            f"{name} started {stage}/{action} outside its current stage ({x.entered})",
        )
        declared = declaration.stage(stage)
        assert declared is not None
        this = declared.action(action)
        assert this is not None
        previous = x.latest_run(stage, action)
        self.check(
            previous is None or previous.status != IN_PROGRESS,
            f"{name} started {stage}/{action} twice at once",
        )
        for run in x.stage_runs(stage):
            self.check(
                run.status not in (FAILED, ABANDONED),
                f"{name} started {stage}/{action} after {run.action} {run.status} (no retry)",
            )
        for other in declared.actions:
            if other.run_order < this.run_order:
                run = x.latest_run(stage, other.name)
                self.check(
                    run is not None and run.status == SUCCEEDED,
                    f"{name} started {stage}/{action} (runOrder {this.run_order}) before "
                    f"{other.name} (runOrder {other.run_order}) succeeded",
                )
        self._require_granted_before(
            x,
            name,
            declaration,
            [*x.entered[:-1], stage],
            stage,
            this.run_order,
            what=f"{stage}/{action}",
        )
        approval = event.action_type["category"] == "Approval"
        x.runs[event.action_execution_id] = RunShadow(
            event.action_execution_id, stage, action, approval
        )
        x.latest[(stage, action)] = event.action_execution_id

    def _run(self, x: ExecutionShadow, name: str, event: Any, kind: str) -> RunShadow:
        run = x.runs.get(event.action_execution_id)
        self.check(run is not None, f"{name}: {kind} for an unknown action run")
        assert run is not None
        self.check(
            run.status == IN_PROGRESS,
            f"{name}: {kind} for {run.stage}/{run.action}, which was already {run.status}",
        )
        return run

    def _on_ApprovalRequested(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        run = self._run(x, name, event, "ApprovalRequested")
        self.check(run.approval, f"{name}: approval requested for {run.action}")

    def _on_ActionSucceeded(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        run = self._run(x, name, event, "ActionSucceeded")
        self.check(not run.approval, f"{name}: approval {run.action} succeeded without a grant")
        run.status = SUCCEEDED

    def _on_ActionFailed(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        self._run(x, name, event, "ActionFailed").status = FAILED

    def _on_ActionAbandoned(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        run = self._run(x, name, event, "ActionAbandoned")
        op = self.current_op
        self.check(
            x.stop_abandon or (op is not None and op.name == "update"),
            f"{name}: {run.action} abandoned without a stop-and-abandon or an update",
        )
        run.status = ABANDONED

    def _on_ApprovalGranted(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        run = self._run(x, name, event, "ApprovalGranted")
        self.check(run.approval, f"{name}: {run.action} granted but it is not an approval")
        run.status = SUCCEEDED
        run.granted = True

    def _on_ApprovalRejected(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        run = self._run(x, name, event, "ApprovalRejected")
        self.check(run.approval, f"{name}: {run.action} rejected but it is not an approval")
        run.status = FAILED

    def _on_StageSucceeded(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, declaration = ctx.name, ctx.declaration
        stage = event.stage
        self.check(x.entered[-1:] == [stage], f"{name} succeeded {stage} outside it")
        declared = declaration.stage(stage)
        assert declared is not None
        for action in declared.actions:
            run = x.latest_run(stage, action.name)
            self.check(
                run is not None and run.status == SUCCEEDED,
                f"{name}: {stage} succeeded but {action.name} is "
                + (run.status if run else "not started"),
            )
        x.stage_status[stage] = SUCCEEDED

    def _on_StageFailed(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, declaration = ctx.name, ctx.declaration
        stage = event.stage
        runs = x.stage_runs(stage)
        self.check(x.entered[-1:] == [stage], f"{name} failed {stage} outside it")
        self.check(any(r.status == FAILED for r in runs), f"{name}: {stage} failed, none did")
        self.check(
            not any(r.status == IN_PROGRESS for r in runs),
            f"{name}: {stage} failed while siblings still ran",
        )
        declared = declaration.stage(stage)
        assert declared is not None
        if declared.on_failure is not None and declared.on_failure.result == "RETRY":
            self.check(
                x.auto_retries.get(stage, 0) >= 1,
                f"{name}: {stage} failed without its automatic retry",
            )
        x.stage_status[stage] = FAILED

    def _on_StageRetried(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        stage = event.stage
        runs = x.stage_runs(stage)
        self.check(x.entered[-1:] == [stage], f"{name} retried {stage}, not its current stage")
        if event.trigger == "AutomatedStageRetry":
            self.check(x.status == IN_PROGRESS, f"{name} retried automatically while {x.status}")
            self.check(
                x.auto_retries.get(stage, 0) == 0,
                f"{name}: a second automatic retry of {stage}",
            )
            self.check(any(r.status == FAILED for r in runs), f"{name}: auto-retry, no failure")
            self.check(
                not any(r.status == IN_PROGRESS for r in runs),
                f"{name}: auto-retry of {stage} while actions still ran",
            )
            x.auto_retries[stage] = x.auto_retries.get(stage, 0) + 1
        else:
            op = self.current_op
            self.check(op is not None and op.name == "retry", f"manual retry by {op}")
        if event.retry_mode == "ALL_ACTIONS":
            expected = sorted(r.action for r in runs)
        else:
            expected = sorted(r.action for r in runs if r.status in (FAILED, ABANDONED))
        self.check(
            sorted(event.reset) == expected,
            f"{name}: {event.retry_mode} retry of {stage} reset {event.reset}, not {expected}",
        )
        for action in event.reset:
            x.latest.pop((stage, action), None)
        x.stage_status[stage] = IN_PROGRESS
        x.status = IN_PROGRESS
        x.stop_abandon = None

    def _on_ExecutionSucceeded(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name, order = ctx.name, ctx.order
        self.check(
            x.entered == order and all(x.stage_status[s] == SUCCEEDED for s in order),
            f"{name} succeeded with stages {x.stage_status}",
        )
        x.status = SUCCEEDED

    def _on_ExecutionFailed(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        self.check(
            x.entered[-1:] == [event.stage] and x.stage_status[event.stage] == FAILED,
            f"{name} failed at {event.stage} without that stage failing",
        )
        x.status = FAILED

    def _on_ExecutionStopRequested(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        op = self.current_op
        self.check(op is not None and op.name == "stop", f"{name} began stopping by {op}")
        x.status = STOPPING
        x.stop_abandon = bool(event.abandon) or bool(x.stop_abandon)

    def _on_ExecutionStopped(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        op = self.current_op
        stale_enable = op is not None and op.name == "enable" and x.waiting_at == op.args[0]
        self.check(
            x.status == STOPPING or stale_enable,
            f"{name} stopped from {x.status} without a stop request",
        )
        if event.stage:
            self.check(x.waiting_at is None, f"{name} stopped in {event.stage} while waiting")
            self.check(
                not any(r.status == IN_PROGRESS for r in x.stage_runs(event.stage)),
                f"{name} stopped while actions in {event.stage} still ran",
            )
            x.stage_status[event.stage] = STOPPED
        x.status = STOPPED
        x.waiting_at = None

    def _on_ExecutionSuperseded(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        self.check(x.mode == SUPERSEDED_MODE, f"{name} superseded in {x.mode} mode")
        self.check(
            x.waiting_at == event.stage,
            f"{name} superseded at {event.stage} while not waiting there ({x.waiting_at})",
        )
        ctx.superseded.append((event.stage, x.id, event.superseded_by))
        x.status = SUPERSEDED
        x.waiting_at = None

    def _on_ExecutionCancelled(self, x: ExecutionShadow, event: Any, ctx: Fold) -> None:
        name = ctx.name
        op = self.current_op
        self.check(op is not None and op.name == "update", f"{name} cancelled by {op}")
        self.check(
            not any(r.status == IN_PROGRESS for r in x.runs.values()),
            f"{name} cancelled with actions still running",
        )
        if x.entered and x.stage_status.get(x.entered[-1]) == IN_PROGRESS:
            x.stage_status[x.entered[-1]] = CANCELLED
        x.status = CANCELLED
        x.waiting_at = None

    # ----- checks over a whole step ---------------------------------------------------------

    def _check_batch(
        self, entries: list[tuple[str, str]], superseded: list[tuple[str, str, str]]
    ) -> None:
        for stage, loser, winner in superseded:
            by = self.shadows.get(winner)
            self.check(
                by is not None and by.index > self.shadows[loser].index,
                f"{self.label(loser)} superseded by an older execution {self.label(winner)}",
            )
            self.check(
                stage in self.shadows[winner].arrived,
                f"{self.label(loser)} superseded at {stage} by {self.label(winner)}, "
                "which never arrived there",
            )
        if self.mode == PARALLEL:
            return
        for stage, entrant in entries:
            arrived = self.shadows[entrant].arrived[stage]
            for other in self.shadows.values():
                if other.waiting_at == stage and other.status in ACTIVE_STATUSES:
                    self.check(
                        other.arrived[stage] > arrived,
                        f"{self.label(entrant)} entered {stage} ahead of "
                        f"{self.label(other.id)}, which arrived first and still waits",
                    )

    def _check_state(self) -> None:
        snap = self.snap
        assert snap is not None and self.h is not None
        pipeline = snap.pipeline
        executions = snap.executions
        active = {eid for eid, e in executions.items() if e.status in ACTIVE_STATUSES}
        self.check(set(pipeline.active) == active, "the pipeline's active list is wrong")
        self.check(len(pipeline.active) == len(set(pipeline.active)), "active has duplicates")
        self.check(
            pipeline.recent == bounded(self.started, pipeline.active),
            "the pipeline names other executions than the active and the latest ended",
        )
        for eid, execution in executions.items():
            name = self.label(eid)
            shadow = self.shadows[eid]
            self.check(
                execution.status == shadow.status,
                f"{name} is {execution.status} but its events say {shadow.status}",
            )
            order = self.declaration(execution.pipeline_version).stage_names()
            entered = list(execution.stages)
            self.check(
                entered == order[: len(entered)],
                f"{name} has stages {entered}, not a prefix of {order}",
            )
            self.check(execution.stage == (entered[-1] if entered else None), f"{name} stage")
            for run in execution.in_progress_runs():
                self.check(execution.is_active, f"{name} is {execution.status} with work running")
                self.check(
                    run["deadline"] > snap.now,
                    f"{name}: {run['stage']}/{run['action']} is past its deadline, not timed out",
                )
            if execution.is_active and execution.waiting is None:
                self.check(
                    bool(execution.in_progress_runs()),
                    f"{name} is {execution.status} in {execution.stage} with nothing running "
                    "and not waiting (stalled)",
                )
        for stage in self.stage_names:
            enabled = stage not in self.disabled
            self.check(
                pipeline.transition_enabled(stage) == enabled,
                f"transition to {stage}: pipeline says {pipeline.transition_enabled(stage)}",
            )
            gate = pipeline.gate(stage)
            waiting = sorted(
                (eid for eid in active if (executions[eid].waiting or {}).get("stage") == stage),
                key=lambda eid: self.shadows[eid].arrived[stage],
            )
            self.check(
                gate["waiting"] == waiting,
                f"{stage}: the gate's waiting list {gate['waiting']} is not the executions "
                f"waiting there in arrival order {waiting}",
            )
            holders = [
                eid
                for eid in active
                if executions[eid].waiting is None
                and executions[eid].stage == stage
                and executions[eid].stage_status(stage) == IN_PROGRESS
            ]
            if self.mode == PARALLEL:
                self.check(not enabled or not waiting, f"{stage} open yet executions wait")
                self.check(gate["occupant"] is None, f"{stage} is locked in PARALLEL mode")
                continue
            self.check(
                len(holders) <= 1,
                f"{stage} holds {[self.label(e) for e in holders]} at once",
            )
            self.check(
                gate["occupant"] == (holders[0] if holders else None),
                f"{stage}: gate occupant {gate['occupant']} but holders {holders}",
            )
            if self.mode == SUPERSEDED_MODE:
                self.check(len(waiting) <= 1, f"{stage} has {len(waiting)} waiting executions")
            if enabled and not holders:
                self.check(not waiting, f"{stage} is free and open yet executions wait")

    def _check_replay(self, changed: set[UUID]) -> None:
        app = self.app
        for aggregate_id in changed:
            cached = state_of(app.repository.get(aggregate_id))
            rebuilt = state_of(replayed(app, aggregate_id))
            diff = first_difference(rebuilt, cached)
            self.check(diff is None, f"{aggregate_id}: replayed != cached at {diff}")
            live = self.saved.get(aggregate_id)
            if live is not None:
                diff = first_difference(rebuilt, live)
                self.check(diff is None, f"{aggregate_id}: replayed != as saved at {diff}")
            version = cached["_version"]
            from_snapshot = state_of(app.repository.get(aggregate_id, version=version))
            diff = first_difference(rebuilt, from_snapshot)
            self.check(diff is None, f"{aggregate_id}: replayed != via snapshot at {diff}")
