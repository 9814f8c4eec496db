"""The event-sourced application: CodePipeline's commands as load, decide, save (retried)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, OperationalError

from domain import planner
from domain.catalogue import lookup
from domain.definition import ActionDeclaration, PipelineDeclaration
from domain.errors import (
    ActionNotFoundException,
    ApprovalAlreadyCompletedException,
    ConcurrentPipelineExecutionsLimitExceededException,
    ConflictException,
    DuplicatedStopRequestException,
    InvalidApprovalTokenException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotFoundException,
    PipelineExecutionNotStoppableException,
    PipelineNotFoundException,
    StageNotRetryableException,
    ValidationException,
)
from domain.execution import (
    ABANDONED,
    ACTIVE_STATUSES,
    FAILED,
    IN_PROGRESS,
    STOPPED,
    STOPPING,
    SUCCEEDED,
    PipelineExecution,
)
from domain.pipeline import Pipeline
from domain.registry import REGISTRY_ID, PipelineRegistry
from domain.validation import parse_definition
from domain.variables import UnresolvedVariable, resolve, resolve_configuration
from engine.clock import Clock, IdFactory, RandomIds, SystemClock
from engine.settings import Settings

T = TypeVar("T")

TRANSITION_REASON = re.compile(r"[a-zA-Z0-9!@ \(\)\.\*\?\-]+")
RETRY_MODES = ("FAILED_ACTIONS", "ALL_ACTIONS")
# How far back an approval token is looked up to tell "already answered" from "unknown".
TOKEN_LOOKBACK = 50


@dataclass(frozen=True)
class ActionWork:
    """An action the planner started that a provider must now run (outside any transaction)."""

    pipeline_name: str
    execution_id: str
    action_execution_id: str
    stage: str
    action: str
    kind: str
    action_type: Mapping[str, str]
    configuration: Mapping[str, str]
    commands: tuple[str, ...]
    input_artifacts: Mapping[str, str]
    output_artifacts: Mapping[str, tuple[str, ...]]
    output_variable_names: tuple[str, ...]
    environment: Mapping[str, str]
    timeout_seconds: float


@dataclass(frozen=True)
class ActionResult:
    """What a provider reports back; artifacts are already in the artifact store (digests)."""

    succeeded: bool
    summary: str | None = None
    output_artifacts: Mapping[str, str] = field(default_factory=dict)
    output_variables: Mapping[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    revision: Mapping[str, Any] | None = None
    external_execution_id: str | None = None
    external_execution_url: str | None = None


class _Unit:
    """The aggregates one command touches, saved together in one transaction."""

    def __init__(self, app: Conveyor, pipeline: Pipeline) -> None:
        self.app = app
        self.pipeline = pipeline
        self.executions: dict[str, PipelineExecution] = {}
        self.extra: list[Any] = []
        self.work: list[ActionWork] = []
        for execution_id in pipeline.active:
            self.execution(execution_id)

    def execution(self, execution_id: str) -> PipelineExecution:
        found = self.executions.get(execution_id)
        if found is None:
            found = self.app.repository.get(UUID(execution_id))
            self.executions[execution_id] = found
        return found

    def save(self) -> None:
        self.app.save(*self.extra, self.pipeline, *self.executions.values())
        # Only work from a committed decision may run; a retried attempt's work is dropped.
        self.app._hand_out(self.work)


class Conveyor(Application[UUID]):
    """CodePipeline's API over an event store; every method is one transaction (or none)."""

    name = "conveyor"
    snapshotting_intervals = {Pipeline: 100, PipelineExecution: 100, PipelineRegistry: 100}
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"}

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ids = ids or RandomIds()
        merged = {**settings.event_store_env(), **(env or {})}
        super().__init__(env=merged)
        self._outbox: list[ActionWork] = []
        self._pipeline_ids: dict[str, UUID] = {}
        self._outbox_lock = threading.Lock()

    def _hand_out(self, work: list[ActionWork]) -> None:
        with self._outbox_lock:
            self._outbox.extend(work)

    def take_work(self) -> list[ActionWork]:
        """Actions started by committed commands of this process and not yet handed to a runner."""
        with self._outbox_lock:
            taken, self._outbox = self._outbox, []
        return taken

    # ----- plumbing ---------------------------------------------------------------------------

    def _transact(self, attempt: Callable[[], T]) -> T:
        """Run load → decide → save; a concurrent writer's win means reload and decide again."""
        delay = 0.005
        for _ in range(60):
            try:
                return attempt()
            except IntegrityError:
                time.sleep(delay)
            except OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise ConflictException("the pipeline is busy with concurrent changes; try again")

    def _registry(self) -> PipelineRegistry | None:
        try:
            registry: PipelineRegistry = self.repository.get(REGISTRY_ID)
        except AggregateNotFoundError:
            return None
        return registry

    def pipeline(self, name: str) -> Pipeline:
        pipeline: Pipeline
        known = self._pipeline_ids.get(name)
        if known is not None:
            # A deleted pipeline may have been re-created under its name by another process:
            # only a live pipeline confirms the remembered id.
            pipeline = self.repository.get(known)
            if not pipeline.deleted:
                return pipeline
            self._pipeline_ids.pop(name, None)
        registry = self._registry()
        pipeline_id = registry.pipeline_id(name) if registry else None
        if pipeline_id is None:
            raise PipelineNotFoundException(f"no pipeline named '{name}'")
        pipeline = self.repository.get(pipeline_id)
        self._pipeline_ids[name] = pipeline_id
        return pipeline

    def pipeline_of(self, execution: PipelineExecution) -> Pipeline:
        """The pipeline an execution belongs to, even if it has been deleted since."""
        pipeline: Pipeline = self.repository.get(UUID(execution.pipeline_id))
        return pipeline

    def pipeline_names(self) -> list[str]:
        registry = self._registry()
        return sorted(registry.names) if registry else []

    def execution(self, execution_id: str, pipeline_name: str | None = None) -> PipelineExecution:
        try:
            execution: PipelineExecution = self.repository.get(UUID(str(execution_id)))
        except (AggregateNotFoundError, ValueError):
            raise PipelineExecutionNotFoundException(
                f"no pipeline execution with id '{execution_id}'"
            ) from None
        if not isinstance(execution, PipelineExecution) or (
            pipeline_name is not None and execution.pipeline_name != pipeline_name
        ):
            raise PipelineExecutionNotFoundException(
                f"no execution '{execution_id}' in pipeline '{pipeline_name}'"
            )
        return execution

    def find_execution(self, prefix: str) -> PipelineExecution:
        """An execution by full id or by a unique prefix of it (as people copy them)."""
        try:
            return self.execution(str(UUID(prefix)))
        except ValueError:
            pass
        except PipelineExecutionNotFoundException:
            raise
        if len(prefix) < 4:
            raise ValidationException(
                f"execution id: '{prefix}' is too short; give at least 4 characters of the id"
            )
        matches = [
            execution_id
            for name in self.pipeline_names()
            for execution_id in self.pipeline(name).executions
            if execution_id.startswith(prefix.lower())
        ]
        if len(matches) != 1:
            raise PipelineExecutionNotFoundException(
                f"'{prefix}' matches {len(matches)} executions; give more of the id"
            )
        return self.execution(matches[0])

    # ----- pipelines --------------------------------------------------------------------------

    def create_pipeline(
        self, source: Any, *, by: str, start: bool = True
    ) -> tuple[Pipeline, str | None]:
        declaration = parse_definition(source, self.settings.limits)

        def attempt() -> tuple[Pipeline, str | None]:
            now = self.clock.now()
            registry = self._registry() or PipelineRegistry.open(now)
            pipeline_id = self.ids.new()
            registry.register(
                declaration.name, pipeline_id, limit=self.settings.max_pipelines, now=now
            )
            pipeline = Pipeline.create(
                pipeline_id=pipeline_id, declaration=declaration, by=by, now=now
            )
            unit = _Unit(self, pipeline)
            unit.extra.append(registry)
            execution_id = None
            if start:
                execution_id = self._start(unit, "CreatePipeline", by, {}, by, now)
            unit.save()
            return pipeline, execution_id

        return self._transact(attempt)

    def update_pipeline(self, source: Any, *, by: str) -> Pipeline:
        declaration = parse_definition(source, self.settings.limits)

        def attempt() -> Pipeline:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(declaration.name))
            version = unit.pipeline.pipeline_version + 1
            cancelled = self._cancel_all(unit, f"pipeline updated to version {version}", by, now)
            unit.pipeline.update(declaration, by=by, cancelled=cancelled, now=now)
            unit.save()
            return unit.pipeline

        return self._transact(attempt)

    def delete_pipeline(self, name: str, *, by: str) -> bool:
        """Delete; like CodePipeline, deleting a missing pipeline succeeds (returns False)."""

        def attempt() -> bool:
            now = self.clock.now()
            try:
                unit = _Unit(self, self.pipeline(name))
            except PipelineNotFoundException:
                return False
            registry = self._registry()
            assert registry is not None
            cancelled = self._cancel_all(unit, "pipeline deleted", by, now)
            unit.pipeline.delete(by=by, cancelled=cancelled, now=now)
            registry.unregister(name, now)
            unit.extra.append(registry)
            unit.save()
            return True

        return self._transact(attempt)

    def _cancel_all(self, unit: _Unit, reason: str, by: str, now: datetime) -> list[str]:
        cancelled = list(unit.pipeline.active)
        abandon = self.settings.cancelled_actions == "abandon"
        for execution_id in cancelled:
            unit.execution(execution_id).cancel(
                reason=reason, by=by, abandon_actions=abandon, now=now
            )
        return cancelled

    # ----- transitions ------------------------------------------------------------------------

    def disable_stage_transition(self, name: str, stage: str, *, reason: str, by: str) -> None:
        if not reason or len(reason) > 300 or not TRANSITION_REASON.fullmatch(reason):
            raise ValidationException(
                "reason: required, 1..300 characters of letters, digits, spaces and !@().*?-"
                " [transition.reason]"
            )

        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            unit.pipeline.require_stage(stage)
            if unit.pipeline.stage_names()[0] == stage:
                raise ValidationException(
                    f"stage: '{stage}' is the first stage; it has no inbound transition"
                    " [transition.first-stage]"
                )
            unit.pipeline.disable_transition(stage, reason=reason, by=by, now=now)
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)

    def enable_stage_transition(self, name: str, stage: str, *, by: str) -> None:
        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            stale = unit.pipeline.enable_transition(stage, by=by, now=now)
            for execution_id in stale:
                unit.pipeline.dequeue(stage, execution_id, now)
                unit.execution(execution_id).stopped(
                    stage=None,
                    reason=f"the inbound transition to {stage} was disabled for more than "
                    "30 days; start a new execution to run the latest revision",
                    by=by,
                    now=now,
                )
                unit.pipeline.deactivate(execution_id, now)
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)

    # ----- executions -------------------------------------------------------------------------

    def start_pipeline_execution(
        self,
        name: str,
        *,
        by: str,
        variables: Mapping[str, str] | None = None,
        trigger_type: str = "StartPipelineExecution",
        trigger_detail: str | None = None,
    ) -> str:
        def attempt() -> str:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            execution_id = self._start(
                unit, trigger_type, trigger_detail or by, dict(variables or {}), by, now
            )
            self._settle(unit, now)
            unit.save()
            return execution_id

        return self._transact(attempt)

    def _start(
        self,
        unit: _Unit,
        trigger_type: str,
        trigger_detail: str,
        overrides: dict[str, str],
        by: str,
        now: datetime,
    ) -> str:
        pipeline = unit.pipeline
        declaration = pipeline.declaration()
        resolved = self._pipeline_variables(declaration, overrides)
        if declaration.execution_mode in ("QUEUED", "PARALLEL"):
            cap = self.settings.max_concurrent_executions
            if len(pipeline.active) >= cap:
                raise ConcurrentPipelineExecutionsLimitExceededException(
                    f"pipeline '{pipeline.name}' has {len(pipeline.active)} executions in "
                    f"progress, the limit for {declaration.execution_mode} mode is {cap}"
                )
        execution = PipelineExecution.start(
            execution_id=self.ids.new(),
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            pipeline_version=pipeline.pipeline_version,
            execution_mode=declaration.execution_mode,
            pipeline_type=declaration.pipeline_type,
            trigger_type=trigger_type,
            trigger_detail=trigger_detail,
            variables=resolved,
            by=by,
            now=now,
        )
        unit.executions[execution.execution_id] = execution
        pipeline.activate(execution.execution_id, now)
        return execution.execution_id

    @staticmethod
    def _pipeline_variables(
        declaration: PipelineDeclaration, overrides: dict[str, str]
    ) -> dict[str, str]:
        declared = {v.name: v for v in declaration.variables}
        problems = []
        for key, value in overrides.items():
            if key not in declared:
                known = ", ".join(declared) or "none"
                problems.append(
                    f"variables.{key}: not declared by the pipeline (declared: {known})"
                    " [variable.undeclared]"
                )
            elif not value:
                problems.append(f"variables.{key}: must not be empty [variable.empty]")
        if problems:
            raise ValidationException("; ".join(problems))
        resolved = {v.name: v.default_value for v in declaration.variables if v.default_value}
        resolved.update(overrides)
        missing = [name for name in declared if name not in resolved]
        if missing:
            raise ValidationException(
                "variables: "
                + ", ".join(missing)
                + " ha"
                + ("s" if len(missing) == 1 else "ve")
                + " no default value; pass --var NAME=VALUE [variable.required]"
            )
        return resolved

    def stop_pipeline_execution(
        self, name: str, execution_id: str, *, abandon: bool, reason: str, by: str
    ) -> None:
        if len(reason) > 200:
            raise ValidationException("reason: at most 200 characters [stop.reason]")

        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            execution = unit.execution(self.execution(execution_id, name).execution_id)
            if execution.status == STOPPING:
                if abandon and not (execution.stop or {}).get("abandon"):
                    execution.request_stop(abandon=True, reason=reason, by=by, now=now)
                else:
                    raise DuplicatedStopRequestException(
                        f"execution {execution_id} is already stopping"
                        + (" (abandoning)" if abandon else "")
                    )
            elif execution.status not in ACTIVE_STATUSES:
                raise PipelineExecutionNotStoppableException(
                    f"execution {execution_id} is {execution.status}; only an execution in "
                    "progress can be stopped"
                )
            else:
                execution.request_stop(abandon=abandon, reason=reason, by=by, now=now)
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)

    def retry_stage_execution(
        self, name: str, stage: str, execution_id: str, *, retry_mode: str, by: str
    ) -> None:
        if retry_mode not in RETRY_MODES:
            raise ValidationException(
                f"retryMode: '{retry_mode}' is not one of FAILED_ACTIONS, ALL_ACTIONS"
            )

        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            unit.pipeline.require_stage(stage)
            execution = unit.execution(self.execution(execution_id, name).execution_id)
            if execution.pipeline_id != str(unit.pipeline.id):
                raise PipelineExecutionNotFoundException(
                    f"execution {execution_id} belongs to a pipeline named '{name}' that was "
                    "deleted; it cannot be retried in the new one"
                )
            reset = self._check_retry(unit, execution, stage, retry_mode)
            execution.retry_stage(
                stage,
                retry_mode=retry_mode,
                trigger="ManualStageRetry",
                by=by,
                reset=reset,
                now=now,
            )
            self._resume(unit, execution, stage, now)
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)

    def _check_retry(
        self, unit: _Unit, execution: PipelineExecution, stage: str, retry_mode: str
    ) -> list[str]:
        eid = execution.execution_id
        pipeline = unit.pipeline
        status = execution.stage_status(stage)
        if execution.stage != stage or status is None:
            raise StageNotRetryableException(
                f"stage {stage} is not where execution {eid} stopped or failed"
            )
        outcome = execution.outcome or {}
        if outcome.get("while_waiting"):
            raise StageNotRetryableException(
                f"execution {eid} was stopped while waiting to enter {stage}; it has no "
                "actions there to retry"
            )
        running = execution.in_progress_runs(stage)
        failed_now = execution.status == IN_PROGRESS and any(
            run["status"] == FAILED for run in self._latest_runs(unit, execution, stage)
        )
        if execution.status not in (FAILED, STOPPED) and not failed_now:
            raise StageNotRetryableException(
                f"execution {eid} is {execution.status}; only a failed or stopped stage can be "
                "retried"
            )
        if execution.pipeline_version != pipeline.pipeline_version:
            raise StageNotRetryableException(
                f"the pipeline structure changed after the stage failed (execution ran version "
                f"{execution.pipeline_version}, the pipeline is at {pipeline.pipeline_version})"
            )
        if execution.execution_mode != planner.PARALLEL_MODE:
            gate = pipeline.gate(stage)
            if gate["latest"] != eid or gate["occupant"] not in (None, eid):
                raise NotLatestPipelineExecutionException(
                    f"stage {stage} has run a later execution "
                    f"({gate['occupant'] or gate['latest']}) since execution {eid} "
                    "stopped there; it can no longer be retried"
                )
        latest = self._latest_runs(unit, execution, stage)
        if retry_mode == "ALL_ACTIONS":
            if running:
                raise StageNotRetryableException(
                    f"stage {stage} still has actions in progress; ALL_ACTIONS needs them finished"
                )
            return [run["action"] for run in latest]
        reset = [run["action"] for run in latest if run["status"] in (FAILED, ABANDONED)]
        if not reset and status != STOPPED:
            raise StageNotRetryableException(f"stage {stage} has no failed actions to retry")
        return reset

    @staticmethod
    def _latest_runs(unit: _Unit, execution: PipelineExecution, stage: str) -> list[dict[str, Any]]:
        declaration = unit.pipeline.declaration(execution.pipeline_version)
        stage_decl = declaration.stage(stage)
        assert stage_decl is not None
        runs = [execution.latest_run(stage, action.name) for action in stage_decl.actions]
        return [run for run in runs if run is not None]

    def _resume(self, unit: _Unit, execution: PipelineExecution, stage: str, now: datetime) -> None:
        pipeline = unit.pipeline
        eid = execution.execution_id
        if eid not in pipeline.active:
            if execution.execution_mode in ("QUEUED", "PARALLEL"):
                cap = self.settings.max_concurrent_executions
                if len(pipeline.active) >= cap:
                    raise ConcurrentPipelineExecutionsLimitExceededException(
                        f"pipeline '{pipeline.name}' already has {cap} executions in progress"
                    )
            pipeline.activate(eid, now)
        if execution.execution_mode != planner.PARALLEL_MODE and (
            pipeline.gate(stage)["occupant"] != eid
        ):
            pipeline.lock(stage, eid, now)

    # ----- approvals --------------------------------------------------------------------------

    def put_approval_result(
        self,
        name: str,
        stage: str,
        action: str,
        *,
        status: str,
        summary: str,
        by: str,
        token: str | None = None,
    ) -> datetime:
        if status not in ("Approved", "Rejected"):
            raise ValidationException(f"result.status: '{status}' is not Approved or Rejected")
        if len(summary) > 512:
            raise ValidationException("result.summary: at most 512 characters")

        # Record what the clock decided (an expired approval) even if the answer is refused.
        self._catch_up_clock(name)

        def attempt() -> datetime:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            self._require_approval_action(unit.pipeline, stage, action)
            # Deadlines first: an answer after its approval expired must find it timed out.
            self._settle(unit, now)
            execution, run = self._pending_approval(unit, stage, action, token)
            if status == "Approved":
                execution.grant_approval(run["id"], by=by, summary=summary, now=now)
            else:
                execution.reject_approval(run["id"], by=by, summary=summary, now=now)
            self._settle(unit, now)
            unit.save()
            return now

        return self._transact(attempt)

    @staticmethod
    def _require_approval_action(pipeline: Pipeline, stage: str, action: str) -> None:
        pipeline.require_stage(stage)
        stage_decl = pipeline.declaration().stage(stage)
        assert stage_decl is not None
        declared = stage_decl.action(action)
        if declared is None:
            raise ActionNotFoundException(f"stage {stage} has no action '{action}'")
        if declared.category != "Approval":
            raise ValidationException(
                f"{stage}/{action} is a {declared.category} action, not a manual approval"
            )

    def _pending_approval(
        self, unit: _Unit, stage: str, action: str, token: str | None
    ) -> tuple[PipelineExecution, dict[str, Any]]:
        pending = []
        for execution_id in unit.pipeline.active:
            execution = unit.execution(execution_id)
            run = execution.latest_run(stage, action)
            if run and run["status"] == IN_PROGRESS and run["token"]:
                pending.append((execution, run))
        if token is None:
            if len(pending) == 1:
                return pending[0]
            if not pending:
                raise InvalidApprovalTokenException(f"no approval is waiting at {stage}/{action}")
            raise ValidationException(
                f"token: {len(pending)} approvals wait at {stage}/{action}; pass --token "
                "to say which (tokens are shown by `conveyor executions show`)"
            )
        for execution, run in pending:
            if run["token"] == token:
                return execution, run
        for execution_id in reversed(unit.pipeline.executions[-TOKEN_LOOKBACK:]):
            execution = unit.execution(execution_id)
            for run in execution.actions.values():
                if run["token"] == token:
                    if run["updated_by"] is not None:
                        raise ApprovalAlreadyCompletedException(
                            f"the approval with token {token} was already "
                            f"{'approved' if run['status'] == SUCCEEDED else 'rejected'} by "
                            f"{run['updated_by']}"
                        )
                    raise InvalidApprovalTokenException(
                        f"the approval with token {token} is no longer waiting "
                        f"({run['status']}); use the token of the current run"
                    )
        raise InvalidApprovalTokenException(f"no approval at {stage}/{action} has token {token}")

    # ----- the engine's own moves -------------------------------------------------------------

    def _catch_up_clock(self, name: str) -> None:
        """Settle the pipeline in its own transaction; its work waits in the outbox."""

        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)

    def advance(self, name: str) -> list[ActionWork]:
        """Apply every decision the planner can make now; return the actions to run."""

        def attempt() -> None:
            now = self.clock.now()
            unit = _Unit(self, self.pipeline(name))
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)
        return self.take_work()

    def complete_action(self, work: ActionWork, result: ActionResult) -> list[ActionWork]:
        """Record a provider's result, then move on in the same transaction."""

        def attempt() -> None:
            now = self.clock.now()
            # By id, not name: the pipeline may have been deleted while the action ran.
            owner = self.execution(work.execution_id)
            unit = _Unit(self, self.pipeline_of(owner))
            # Deadlines first: a result arriving after its action timed out is ignored.
            self._settle(unit, now)
            execution = unit.execution(work.execution_id)
            run = execution.actions[work.action_execution_id]
            # A result for an abandoned, timed-out or cancelled action is ignored.
            if run["status"] == IN_PROGRESS:
                self._record_result(unit, execution, work, result, now)
            self._settle(unit, now)
            unit.save()

        self._transact(attempt)
        return self.take_work()

    def _record_result(
        self,
        unit: _Unit,
        execution: PipelineExecution,
        work: ActionWork,
        result: ActionResult,
        now: datetime,
    ) -> None:
        if result.succeeded:
            execution.succeed_action(
                work.action_execution_id,
                summary=result.summary,
                output_artifacts=dict(result.output_artifacts),
                output_variables=dict(result.output_variables),
                revision=dict(result.revision) if result.revision else None,
                external_execution_id=result.external_execution_id,
                external_execution_url=result.external_execution_url,
                now=now,
            )
            if result.revision and execution.is_active:
                unit.pipeline.record_revision(
                    execution_id=execution.execution_id,
                    action=work.action,
                    revision_id=str(result.revision["revisionId"]),
                    now=now,
                )
        else:
            execution.fail_action(
                work.action_execution_id,
                code=result.error_code or "JobFailed",
                message=result.error_message or "the action failed",
                summary=result.summary,
                external_execution_id=result.external_execution_id,
                now=now,
            )

    def _settle(self, unit: _Unit, now: datetime) -> None:
        """Let the planner decide until nothing more can happen without news from outside."""
        for _ in range(100_000):
            decision = planner.plan(unit.pipeline, unit.executions, now)
            if decision is None:
                return
            self._apply(unit, decision, now)
        raise RuntimeError("the planner did not settle; this is a bug in the planner")

    def _apply(self, unit: _Unit, decision: planner.Decision, now: datetime) -> None:
        pipeline = unit.pipeline
        eid = decision.execution_id
        execution = unit.execution(eid)
        locking = execution.execution_mode != planner.PARALLEL_MODE
        match decision:
            case planner.TimeOutAction(action_execution_id=aeid):
                run = execution.run(aeid)
                what = "approval" if run["token"] else "action"
                execution.fail_action(
                    aeid,
                    code="TimedOut",
                    message=f"the {what} did not finish before its timeout "
                    f"({run['deadline'].isoformat()})",
                    now=now,
                )
            case planner.AbandonAction(action_execution_id=aeid):
                stop = execution.stop or {}
                execution.abandon_action(
                    aeid,
                    reason=f"abandoned: stop requested by {stop.get('by')}"
                    + (f": {stop['reason']}" if stop.get("reason") else ""),
                    now=now,
                )
            case planner.StopExecution(stage=stage):
                stop = execution.stop or {}
                if execution.waiting:
                    pipeline.dequeue(execution.waiting["stage"], eid, now)
                execution.stopped(
                    stage=stage, reason=stop.get("reason", ""), by=stop.get("by", ""), now=now
                )
                if stage and locking:
                    pipeline.unlock(stage, eid, now)
                pipeline.deactivate(eid, now)
            case planner.RetryStage(stage=stage, retry_mode=mode):
                runs = self._latest_runs(unit, execution, stage)
                reset = [
                    run["action"]
                    for run in runs
                    if mode == "ALL_ACTIONS" or run["status"] in (FAILED, ABANDONED)
                ]
                execution.retry_stage(
                    stage,
                    retry_mode=mode,
                    trigger="AutomatedStageRetry",
                    by="conveyor",
                    reset=reset,
                    now=now,
                )
            case planner.FailStage(stage=stage):
                failed = [
                    run
                    for run in self._latest_runs(unit, execution, stage)
                    if run["status"] == FAILED
                ]
                first = failed[0]
                error = first["error"] or {"code": "JobFailed", "message": "failed"}
                summary = f"action {first['action']} failed in stage {stage}: {error['message']}"
                execution.fail_stage(stage, summary=summary, now=now)
                execution.fail(
                    stage=stage,
                    summary=summary,
                    error={**error, "action": first["action"]},
                    now=now,
                )
                if locking:
                    pipeline.unlock(stage, eid, now)
                pipeline.deactivate(eid, now)
            case planner.StartAction(stage=stage, action=action):
                self._start_action(unit, execution, stage, action, now)
            case planner.SucceedStage(stage=stage):
                execution.succeed_stage(stage, now)
                if locking:
                    pipeline.unlock(stage, eid, now)
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

    def _start_action(
        self,
        unit: _Unit,
        execution: PipelineExecution,
        stage: str,
        action_name: str,
        now: datetime,
    ) -> None:
        declaration = unit.pipeline.declaration(execution.pipeline_version)
        stage_decl = declaration.stage(stage)
        assert stage_decl is not None
        action = stage_decl.action(action_name)
        assert action is not None
        spec = lookup(action.category, action.owner, action.provider)
        kind = spec.kind if spec else "custom"
        aeid = str(self.ids.new())
        minutes = action.timeout_in_minutes or (spec.default_timeout_minutes if spec else 60)
        deadline = now + timedelta(minutes=minutes)
        scopes = execution.scopes()
        error: str | None = None
        try:
            resolved = resolve_configuration(action.configuration, scopes)
            environment = {
                variable.name: resolve(variable.value, scopes)
                for variable in action.environment_variables or []
            }
            commands = tuple(resolve(command, scopes) for command in action.commands or [])
        except UnresolvedVariable as unresolved:
            resolved, environment, commands = dict(action.configuration), {}, ()
            error = str(unresolved)
        inputs = {name: execution.artifacts.get(name, "") for name in action.input_names}
        execution.start_action(
            action_execution_id=aeid,
            stage=stage,
            action=action_name,
            action_type=_action_type(action),
            configuration=dict(action.configuration),
            resolved_configuration=resolved,
            input_artifacts=inputs,
            namespace=action.namespace,
            deadline=deadline,
            now=now,
        )
        if error is not None:
            execution.fail_action(aeid, code="ConfigurationError", message=error, now=now)
            return
        if kind == "manual-approval":
            execution.request_approval(
                aeid, token=str(self.ids.new()), expires_at=deadline, now=now
            )
            return
        if kind == "custom":
            # Custom actions wait for external job workers (a later issue); until one reports,
            # the action times out like CodePipeline's 24-hour custom-action timeout.
            return
        environment.update(
            {
                "CODEPIPELINE_PIPELINE_NAME": execution.pipeline_name,
                "CODEPIPELINE_PIPELINE_EXECUTION_ID": execution.execution_id,
                "CODEPIPELINE_STAGE_NAME": stage,
                "CODEPIPELINE_ACTION_NAME": action_name,
                "CODEPIPELINE_ACTION_EXECUTION_ID": aeid,
            }
        )
        unit.work.append(
            ActionWork(
                pipeline_name=execution.pipeline_name,
                execution_id=execution.execution_id,
                action_execution_id=aeid,
                stage=stage,
                action=action_name,
                kind=kind,
                action_type=_action_type(action),
                configuration=resolved,
                commands=commands,
                input_artifacts=inputs,
                output_artifacts={
                    out.name: tuple(out.files or ()) for out in action.output_artifacts
                },
                output_variable_names=tuple(action.output_variables or ()),
                environment=environment,
                timeout_seconds=minutes * 60.0,
            )
        )


def _action_type(action: ActionDeclaration) -> dict[str, str]:
    type_id = action.action_type_id
    return {
        "category": type_id.category,
        "owner": type_id.owner,
        "provider": type_id.provider,
        "version": type_id.version,
    }


def pending_approvals(execution: PipelineExecution) -> list[dict[str, Any]]:
    return [run for run in execution.in_progress_runs() if run["token"]]


__all__: Sequence[str] = ["ActionResult", "ActionWork", "Conveyor", "pending_approvals"]
