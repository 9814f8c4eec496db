"""PutApprovalResult, EnableStageTransition, DisableStageTransition, RetryStageExecution."""

from __future__ import annotations

from typing import Any

from domain.errors import ValidationException
from server.operation import Call, Handler
from server.operations.common import execute, execution_of, text

# Conveyor gates a stage at its entrance only, as GetPipelineState shows transitions.
INBOUND = "Inbound"


def put_approval_result(call: Call) -> dict[str, Any]:
    from engine.service import PutApprovalResult
    from projections.codepipeline import epoch

    result = call.body["result"]
    command = PutApprovalResult(
        call.body["pipelineName"],
        stage=call.body["stageName"],
        action=call.body["actionName"],
        status=result["status"],
        summary=result["summary"],
        by=call.principal.name,
        token=call.body["token"],
    )
    return {"approvedAt": epoch(execute(call, command))}


def _inbound(call: Call) -> None:
    if call.body["transitionType"] != INBOUND:
        raise ValidationException(
            f"transitionType: Conveyor controls only a stage's {INBOUND} transition, not "
            f"'{call.body['transitionType']}'"
        )


def disable_stage_transition(call: Call) -> dict[str, Any]:
    from engine.service import DisableStageTransition

    _inbound(call)
    command = DisableStageTransition(
        call.body["pipelineName"],
        stage=call.body["stageName"],
        reason=text(call, "reason"),
        by=call.principal.name,
    )
    execute(call, command)
    return {}


def enable_stage_transition(call: Call) -> dict[str, Any]:
    from engine.service import EnableStageTransition

    _inbound(call)
    command = EnableStageTransition(
        call.body["pipelineName"], stage=call.body["stageName"], by=call.principal.name
    )
    execute(call, command)
    return {}


def retry_stage_execution(call: Call) -> dict[str, Any]:
    from engine.service import RetryStageExecution

    execution = execution_of(call)
    command = RetryStageExecution(
        execution.pipeline_name,
        stage=call.body["stageName"],
        execution_id=execution.execution_id,
        retry_mode=call.body["retryMode"],
        by=call.principal.name,
    )
    execute(call, command)
    return {"pipelineExecutionId": execution.execution_id}


OPERATIONS: dict[str, Handler] = {
    "PutApprovalResult": put_approval_result,
    "EnableStageTransition": enable_stage_transition,
    "DisableStageTransition": disable_stage_transition,
    "RetryStageExecution": retry_stage_execution,
}
