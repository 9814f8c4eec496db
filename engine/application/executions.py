"""StartPipelineExecution, StopPipelineExecution, RetryStageExecution."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain import planner
from domain.definition import PipelineDeclaration
from domain.errors import (
    ConcurrentPipelineExecutionsLimitExceededException,
    DuplicatedStopRequestException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotFoundException,
    PipelineExecutionNotStoppableException,
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
    PipelineExecution,
)
from engine.application.base import ConveyorBase
from engine.application.decisions import latest_runs
from engine.application.unit import Unit

RETRY_MODES = ("FAILED_ACTIONS", "ALL_ACTIONS")


class ExecutionCommands(ConveyorBase):
    """Starting, stopping and retrying executions."""

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
            unit = self._unit(name)
            execution_id = self._start(
                unit, trigger_type, trigger_detail or by, dict(variables or {}), by, now
            )
            self._settle_and_save(unit, now)
            return execution_id

        return self._transact(attempt)

    def _start(
        self,
        unit: Unit,
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
            unit = self._unit(name)
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
            self._settle_and_save(unit, now)

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
            unit = self._unit(name)
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
            self._settle_and_save(unit, now)

        self._transact(attempt)

    def _check_retry(
        self, unit: Unit, execution: PipelineExecution, stage: str, retry_mode: str
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
        latest: list[Any] = latest_runs(pipeline, execution, stage)
        failed_now = execution.status == IN_PROGRESS and any(
            run["status"] == FAILED for run in latest
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

    def _resume(self, unit: Unit, execution: PipelineExecution, stage: str, now: datetime) -> None:
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
