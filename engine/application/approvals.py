"""PutApprovalResult."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import (
    ActionNotFoundException,
    ApprovalAlreadyCompletedException,
    InvalidApprovalTokenException,
    ValidationException,
)
from domain.execution import IN_PROGRESS, SUCCEEDED, PipelineExecution
from domain.pipeline import Pipeline
from engine.application.base import ConveyorBase
from engine.application.unit import Unit

# How far back an approval token is looked up to tell "already answered" from "unknown".
TOKEN_LOOKBACK = 50


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
        if status not in ("Approved", "Rejected"):
            raise ValidationException(f"result.status: '{status}' is not Approved or Rejected")
        if len(summary) > 512:
            raise ValidationException("result.summary: at most 512 characters")

        # Record what the clock decided (an expired approval) even if the answer is refused.
        self._catch_up_clock(name)

        def attempt() -> datetime:
            now = self.clock.now()
            unit = self._unit(name)
            self._require_approval_action(unit.pipeline, stage, action)
            # Deadlines first: an answer after its approval expired must find it timed out.
            self._settle(unit, now)
            execution, run = self._pending_approval(unit, stage, action, token)
            if status == "Approved":
                execution.grant_approval(run["id"], by=by, summary=summary, now=now)
            else:
                execution.reject_approval(run["id"], by=by, summary=summary, now=now)
            self._settle_and_save(unit, now)
            return now

        return self._transact(attempt)

    def _catch_up_clock(self, name: str) -> None:
        """Settle the pipeline in its own transaction; its work waits in the outbox."""

        def attempt() -> None:
            now = self.clock.now()
            self._settle_and_save(self._unit(name), now)

        self._transact(attempt)

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
        self, unit: Unit, stage: str, action: str, token: str | None
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
