"""The engine's own moves: settle a pipeline, and record what a provider reported."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.execution import IN_PROGRESS, PipelineExecution
from engine.application.base import ConveyorBase
from engine.application.unit import Unit
from engine.application.work import ActionResult, ActionWork


class ActionCommands(ConveyorBase):
    """What runners call: advance a pipeline, report an action's result."""

    def advance(self, name: str) -> list[ActionWork]:
        """Apply every decision the planner can make now; return the actions to run."""

        def attempt() -> None:
            now = self.clock.now()
            self._settle_and_save(self._unit(name), now)

        self._transact(attempt)
        return self.take_work()

    def complete_action(
        self, work: ActionWork, result: ActionResult, *, worker: str = "in-process"
    ) -> list[ActionWork]:
        """Claim the action's job and report its result at once (the simulator, and tests).

        One transaction records the claim and the result; a job another worker holds, or
        whose action has already ended, is left alone.
        """

        def attempt() -> None:
            now = self.clock.now()
            # By id, not name: the pipeline may have been deleted while the action ran.
            owner = self.execution(work.execution_id)
            unit = Unit(self, self.pipeline_of(owner))
            # Deadlines first: a result arriving after its action timed out is ignored.
            self._settle(unit, now)
            execution = unit.execution(work.execution_id)
            run = execution.actions[work.action_execution_id]
            job = unit.job(work.action_execution_id)
            if job is not None and job.claimable(now) and run["status"] == IN_PROGRESS:
                nonce = str(self.ids.new())
                job.claim_for(worker, nonce=nonce, lease=timedelta(0), now=now)
                job.complete(nonce, succeeded=result.succeeded, now=now)
                record_result(unit, execution, work.action_execution_id, work.action, result, now)
            self._settle_and_save(unit, now)

        self._transact(attempt)
        return self.take_work()


def record_result(
    unit: Unit,
    execution: PipelineExecution,
    action_execution_id: str,
    action: str,
    result: ActionResult,
    now: datetime,
) -> None:
    """Record what the provider reported on the execution (and a new revision on the pipeline)."""
    if not result.succeeded:
        execution.fail_action(
            action_execution_id,
            code=result.error_code or "JobFailed",
            message=result.error_message or "the action failed",
            summary=result.summary,
            external_execution_id=result.external_execution_id,
            now=now,
        )
        return
    execution.succeed_action(
        action_execution_id,
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
            action=action,
            revision_id=str(result.revision["revisionId"]),
            now=now,
        )
