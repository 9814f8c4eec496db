"""PutApprovalResult."""

from __future__ import annotations

from datetime import datetime

from domain.approvals import pending_approval
from domain.execution import PipelineExecution
from engine.application.base import ConveyorBase


class ApprovalCommands(ConveyorBase):
    """Answering a manual approval."""

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
        PipelineExecution.check_approval_answer(status, summary)
        # Record what the clock decided (an expired approval) even if the answer is refused.
        self._catch_up_clock(name)

        def attempt() -> datetime:
            now = self.clock.now()
            unit = self._unit(name)
            unit.pipeline.require_approval_action(stage, action)
            # Deadlines first: an answer after its approval expired must find it timed out.
            self._settle(unit, now)
            execution, run = pending_approval(unit.pipeline, unit.execution, stage, action, token)
            execution.answer_approval(run["id"], status=status, by=by, summary=summary, now=now)
            self._settle_and_save(unit, now)
            return now

        return self._transact(attempt)

    def _catch_up_clock(self, name: str) -> None:
        """Settle the pipeline in its own transaction; its work waits in the outbox."""

        def attempt() -> None:
            now = self.clock.now()
            self._settle_and_save(self._unit(name), now)

        self._transact(attempt)
