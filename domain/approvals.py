"""Which waiting approval an answer is for: by token, or the only one waiting at the action."""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import (
    ApprovalAlreadyCompletedException,
    InvalidApprovalTokenException,
    ValidationException,
)
from domain.execution import IN_PROGRESS, SUCCEEDED, ActionRun, PipelineExecution
from domain.pipeline import ENDED_KEPT, Pipeline

# How far back an approval token is looked up to tell "already answered" from "unknown": the
# executions that started last. At most ENDED_KEPT, the ended executions a pipeline still names.
TOKEN_LOOKBACK = min(50, ENDED_KEPT)


def pending_approval(
    pipeline: Pipeline,
    execution: Callable[[str], PipelineExecution],
    stage: str,
    action: str,
    token: str | None,
) -> tuple[PipelineExecution, ActionRun]:
    """The execution and run a PutApprovalResult answers; refuses stale and unknown tokens."""
    pending = []
    for execution_id in pipeline.active:
        found = execution(execution_id)
        run = found.latest_run(stage, action)
        if run and run["status"] == IN_PROGRESS and run["token"]:
            pending.append((found, run))
    if token is None:
        if len(pending) == 1:
            return pending[0]
        if not pending:
            raise InvalidApprovalTokenException(f"no approval is waiting at {stage}/{action}")
        raise ValidationException(
            f"token: {len(pending)} approvals wait at {stage}/{action}; pass --token "
            "to say which (tokens are shown by `conveyor executions show`)"
        )
    for found, run in pending:
        if run["token"] == token:
            return found, run
    _refuse_token(pipeline, execution, token)
    raise InvalidApprovalTokenException(f"no approval at {stage}/{action} has token {token}")


def _refuse_token(
    pipeline: Pipeline, execution: Callable[[str], PipelineExecution], token: str
) -> None:
    """A token of a recent run that is no longer waiting: say why it is refused."""
    for execution_id in reversed(pipeline.recent[-TOKEN_LOOKBACK:]):
        for run in execution(execution_id).actions.values():
            if run["token"] != token:
                continue
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
