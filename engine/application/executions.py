"""StartPipelineExecution, StopPipelineExecution, RetryStageExecution."""

from __future__ import annotations

from collections.abc import Mapping

from domain.execution import PipelineExecution
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
    ) -> str:
        from engine.secrets import SecretStore, require_secrets

        # Secrets are resolved when the build runs; one missing is refused here, by name.
        require_secrets(self.pipeline(name).declaration(), SecretStore(self.settings.home))

        def attempt() -> str:
            now = self.clock.now()
            unit = self._unit(name)
            execution_id = self._start(
                unit, trigger_type, trigger_detail or by, dict(variables or {}), by, now
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
