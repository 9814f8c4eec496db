"""StartPipelineExecution, StopPipelineExecution, GetPipelineExecution, ListPipelineExecutions,
GetPipelineState, ListActionExecutions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.operation import Call, Handler
from server.operations.common import execute, execution_of, history, text

if TYPE_CHECKING:
    from engine.service import StartPipelineExecution

# The history view's page size when none is asked for: the model's maximum, CodePipeline's default.
PAGE_MAX = 100


def start_pipeline_execution(call: Call) -> dict[str, Any]:
    command = start_command(call, client_request_token=call.body.get("clientRequestToken"))
    return {"pipelineExecutionId": execute(call, command)}


def start_command(call: Call, *, client_request_token: str | None) -> StartPipelineExecution:
    """The command a start request asks for.

    `client_request_token` is CodePipeline's idempotency token (boto3 sends a fresh one with
    every call): the application answers a repeated token with the execution the first
    request started. `sourceRevisions` are checked by the domain (domain/starts.py).
    """
    from engine.service import StartPipelineExecution

    variables = {v["name"]: v["value"] for v in call.body.get("variables") or []}
    return StartPipelineExecution(
        call.body["name"],
        by=call.principal.name,
        variables=variables,
        client_request_token=client_request_token,
        source_revisions=call.body.get("sourceRevisions") or (),
    )


def stop_pipeline_execution(call: Call) -> dict[str, Any]:
    from engine.service import StopPipelineExecution

    execution = execution_of(call)
    command = StopPipelineExecution(
        execution.pipeline_name,
        execution_id=execution.execution_id,
        abandon=bool(call.body.get("abandon", False)),
        reason=text(call, "reason"),
        by=call.principal.name,
    )
    execute(call, command)
    return {"pipelineExecutionId": execution.execution_id}


def get_pipeline_execution(call: Call) -> dict[str, Any]:
    from projections.codepipeline import execution_document

    return {"pipelineExecution": execution_document(execution_of(call))}


def list_pipeline_executions(call: Call) -> dict[str, Any]:
    from projections.history import list_executions

    name = call.body["pipelineName"]
    call.system.app.pipeline(name)
    wanted = (call.body.get("filter") or {}).get("succeededInStage") or {}
    with history(call) as conn:
        return list_executions(
            conn,
            name,
            succeeded_in_stage=wanted.get("stageName"),
            max_results=call.body.get("maxResults") or PAGE_MAX,
            next_token=call.body.get("nextToken"),
            retention_months=call.system.settings.history_retention_months,
        )


def get_pipeline_state(call: Call) -> dict[str, Any]:
    from projections.codepipeline import pipeline_state

    # The state view's own function, on the aggregates: always current, no view to catch up.
    app = call.system.app
    return pipeline_state(app.pipeline(call.body["name"]), app.execution)


def list_action_executions(call: Call) -> dict[str, Any]:
    from projections.history import list_action_executions as listing

    name = call.body["pipelineName"]
    call.system.app.pipeline(name)
    execution_id = (call.body.get("filter") or {}).get("pipelineExecutionId")
    if execution_id is not None:
        call.system.app.execution(execution_id, name)  # an unknown id is refused, not empty
    with history(call) as conn:
        return listing(
            conn,
            name,
            execution_id=execution_id,
            max_results=call.body.get("maxResults") or PAGE_MAX,
            next_token=call.body.get("nextToken"),
            retention_months=call.system.settings.history_retention_months,
        )


OPERATIONS: dict[str, Handler] = {
    "StartPipelineExecution": start_pipeline_execution,
    "StopPipelineExecution": stop_pipeline_execution,
    "GetPipelineExecution": get_pipeline_execution,
    "ListPipelineExecutions": list_pipeline_executions,
    "GetPipelineState": get_pipeline_state,
    "ListActionExecutions": list_action_executions,
}
