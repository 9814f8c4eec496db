"""StartPipelineExecution, StopPipelineExecution, RetryStageExecution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.execution import PipelineExecution
from domain.starts import check_client_request_token
from domain.vocabulary import TriggerType
from engine.application.base import ConveyorBase


class ExecutionCommands(ConveyorBase):
    """Starting, stopping and retrying executions."""

    def start_pipeline_execution(
        self,
        name: str,
        *,
        by: str,
        variables: Mapping[str, str] | None = None,
        trigger_type: str = TriggerType.START_PIPELINE_EXECUTION,
        trigger_detail: str | None = None,
        client_request_token: str | None = None,
        source_revisions: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """A new execution's id; a repeated clientRequestToken returns its first start's id and
        records nothing (checked inside the transaction, so racing repeats start one)."""
        from engine.secrets import SecretStore, require_secrets

        token = check_client_request_token(client_request_token)
        pipeline = self.pipeline(name)
        if token is not None and (known := pipeline.execution_for_token(token)) is not None:
            return known
        # Secrets are resolved when the build runs; one missing is refused here, by name.
        require_secrets(pipeline.declaration(), SecretStore(self.settings.home))

        def attempt() -> str:
            now = self.clock.now()
            unit = self._unit(name)
            if token is not None and (known := unit.pipeline.execution_for_token(token)):
                return known
            execution_id = self._start(
                unit,
                trigger_type,
                trigger_detail or by,
                dict(variables or {}),
                by,
                now,
                client_request_token=token,
                source_revisions=source_revisions,
            )
            self._settle_and_save(unit, now)
            return execution_id

        return self._transact(attempt)

    def stop_pipeline_execution(
        self, name: str, execution_id: str, *, abandon: bool, reason: str, by: str
    ) -> None:
        PipelineExecution.check_stop_reason(reason)

        def attempt() -> None:
            now = self.clock.now()
            unit = self._unit(name)
            execution = unit.execution(self.execution(execution_id, name).execution_id)
            execution.request_stop(abandon=abandon, reason=reason, by=by, now=now)
            self._settle_and_save(unit, now)

        self._transact(attempt)

    def retry_stage_execution(
        self, name: str, stage: str, execution_id: str, *, retry_mode: str, by: str
    ) -> None:
        PipelineExecution.check_retry_mode(retry_mode)

        def attempt() -> None:
            now = self.clock.now()
            unit = self._unit(name)
            pipeline = unit.pipeline
            pipeline.require_stage(stage)
            execution = unit.execution(self.execution(execution_id, name).execution_id)
            pipeline.require_own_execution(execution_id, execution.pipeline_id)
            execution.retry(
                stage,
                retry_mode=retry_mode,
                declared=pipeline.action_names(stage, execution.pipeline_version),
                pipeline_version=pipeline.pipeline_version,
                gate=pipeline.gate(stage),
                by=by,
                now=now,
            )
            pipeline.resume(
                execution.execution_id,
                mode=execution.execution_mode,
                stage=stage,
                cap=self.settings.max_concurrent_executions,
                now=now,
            )
            self._settle_and_save(unit, now)

        self._transact(attempt)
