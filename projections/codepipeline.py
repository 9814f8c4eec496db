"""CodePipeline's response shapes (GetPipelineState, GetPipelineExecution, ...) from aggregates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.execution import PipelineExecution
from domain.pipeline import ENDED_KEPT, Pipeline
from domain.vocabulary import ActionStatus, ExecutionMode, ExecutionStatus, StageStatus

if TYPE_CHECKING:  # annotations only: the definition models need pydantic, a read does not
    from domain.definition import StageDeclaration

Loader = Callable[[str], PipelineExecution]

# The region an ARN and an action execution's input name when the settings name none.
DEFAULT_REGION = "us-east-1"

# CodePipeline's only execution type (its other one, ROLLBACK, Conveyor does not run).
STANDARD = "STANDARD"

# How many of the newest executions a PARALLEL pipeline's state looks through per stage; at most
# ENDED_KEPT, the ended executions a pipeline still names.
PARALLEL_LOOKBACK = ENDED_KEPT


def epoch(value: datetime | str | None) -> float | None:
    """CodePipeline's JSON timestamps are epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return round(value.timestamp(), 3)


def pipeline_arn(name: str, *, region: str, account: str) -> str:
    """A pipeline's ARN as AWS writes it; region and account are the settings'."""
    return f"arn:aws:codepipeline:{region}:{account}:{name}"


def present(**members: Any) -> dict[str, Any]:
    """The members that have a value: AWS leaves an absent member out rather than writing null."""
    return {name: value for name, value in members.items() if value is not None}


def pipeline_metadata(pipeline: Pipeline, *, region: str, account: str) -> dict[str, Any]:
    """GetPipeline's metadata. `updated` is when the definition last changed, as in AWS:
    executions leave it alone."""
    return {
        "pipelineArn": pipeline_arn(pipeline.name, region=region, account=account),
        "created": epoch(pipeline.created_on),
        "updated": epoch(pipeline.definition_updated_on),
    }


def pipeline_declaration(document: Mapping[str, Any], *, account: str) -> dict[str, Any]:
    """A stored definition as CodePipeline's PipelineDeclaration, whose `roleArn` is required:
    a definition written without one (Conveyor runs actions as its own user, and needs none)
    names the account's `conveyor` role."""
    return {"roleArn": f"arn:aws:iam::{account}:role/conveyor", **document}


def pipeline_summary(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "version": pipeline.pipeline_version,
        "pipelineType": pipeline.pipeline_type,
        "executionMode": pipeline.execution_mode,
        "created": epoch(pipeline.created_on),
        "updated": epoch(pipeline.definition_updated_on),
    }


def _stage_execution(execution: PipelineExecution, stage: str) -> dict[str, Any]:
    status = execution.stage_status(stage) or StageStatus.IN_PROGRESS
    if execution.status == ExecutionStatus.STOPPING and status == StageStatus.IN_PROGRESS:
        status = StageStatus.STOPPING
    return {"pipelineExecutionId": execution.execution_id, "status": status, "type": STANDARD}


def action_execution_state(run: Mapping[str, Any]) -> dict[str, Any]:
    latest: dict[str, Any] = {
        "actionExecutionId": run["id"],
        "status": run["status"],
        "lastStatusChange": epoch(run["updated_at"]),
    }
    if run["summary"]:
        latest["summary"] = run["summary"]
    if run["token"] and run["status"] == ActionStatus.IN_PROGRESS:
        latest["token"] = run["token"]
    if run["updated_by"]:
        latest["lastUpdatedBy"] = run["updated_by"]
    if run["external_execution_id"]:
        latest["externalExecutionId"] = run["external_execution_id"]
    if run["external_execution_url"]:
        latest["externalExecutionUrl"] = run["external_execution_url"]
    if run["error"]:
        latest["errorDetails"] = {
            "code": run["error"]["code"],
            "message": run["error"]["message"],
        }
    return latest


def _transition_state(transition: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {"enabled": transition.get("enabled", True)}
    if transition:
        state["lastChangedBy"] = transition["by"]
        state["lastChangedAt"] = epoch(transition["at"])
        if transition.get("reason"):
            state["disabledReason"] = transition["reason"]
    return state


def _action_state(execution: PipelineExecution | None, stage: str, action: str) -> dict[str, Any]:
    state: dict[str, Any] = {"actionName": action}
    run = execution.latest_run(stage, action) if execution else None
    if run is not None:
        state["latestExecution"] = action_execution_state(run)
        if run["revision"]:
            state["currentRevision"] = present(
                revisionId=run["revision"]["revisionId"],
                revisionChangeId=run["revision"].get("revisionChangeIdentifier"),
                created=epoch(run["revision"].get("created")),
            )
    return state


def _stage_state(
    pipeline: Pipeline, stage: StageDeclaration, latest: PipelineExecution | None
) -> dict[str, Any]:
    """One stageStates[] item: transition, who waits at it, who is (or was last) inside."""
    state: dict[str, Any] = {
        "stageName": stage.name,
        "inboundTransitionState": _transition_state(pipeline.transitions.get(stage.name, {})),
    }
    waiting = [
        {"pipelineExecutionId": e, "status": ExecutionStatus.IN_PROGRESS, "type": STANDARD}
        for e in pipeline.gate(stage.name)["waiting"]
    ]
    if waiting:
        state["inboundExecution"] = waiting[-1]
        state["inboundExecutions"] = waiting
    if latest is not None:
        state["latestExecution"] = _stage_execution(latest, stage.name)
        stage_run: Mapping[str, Any] = latest.stages.get(stage.name, {})
        if stage_run.get("retry_trigger"):
            state["retryStageMetadata"] = _retry_metadata(stage_run)
    state["actionStates"] = [_action_state(latest, stage.name, a.name) for a in stage.actions]
    return state


def _retry_metadata(stage_run: Mapping[str, Any]) -> dict[str, Any]:
    # A count that is 0 is left out: the model's minimum is 1, and AWS omits it.
    metadata: dict[str, Any] = {"latestRetryTrigger": stage_run["retry_trigger"]}
    if stage_run["auto_retries"]:
        metadata["autoStageRetryAttempt"] = stage_run["auto_retries"]
    if stage_run["manual_retries"]:
        metadata["manualStageRetryAttempt"] = stage_run["manual_retries"]
    return metadata


def pipeline_state(pipeline: Pipeline, load: Loader) -> dict[str, Any]:
    """GetPipelineState: per stage its transition, who waits, who is (or was last) inside."""
    parallel = pipeline.execution_mode == ExecutionMode.PARALLEL
    recent: list[PipelineExecution] = []
    if parallel:
        recent = [load(e) for e in reversed(pipeline.recent[-PARALLEL_LOOKBACK:])]
    stage_states = []
    for stage in pipeline.declaration().stages:
        # PARALLEL executions pass each other: the newest that reached the stage is shown.
        latest: PipelineExecution | None = None
        if parallel:
            latest = next((e for e in recent if e.stage_status(stage.name)), None)
        elif occupant := pipeline.gate(stage.name)["latest"]:
            latest = load(occupant)
        stage_states.append(_stage_state(pipeline, stage, latest))
    return {
        "pipelineName": pipeline.name,
        "pipelineVersion": pipeline.pipeline_version,
        "stageStates": stage_states,
        "created": epoch(pipeline.created_on),
        "updated": epoch(pipeline.definition_updated_on),
    }


def execution_document(execution: PipelineExecution) -> dict[str, Any]:
    """GetPipelineExecution's pipelineExecution, exactly its model's members."""
    document: dict[str, Any] = {
        "pipelineName": execution.pipeline_name,
        "pipelineVersion": execution.pipeline_version,
        "pipelineExecutionId": execution.execution_id,
        "status": execution.status,
        "artifactRevisions": [
            present(
                name=_output_name_of(execution, r["actionName"]),
                revisionId=r["revisionId"],
                revisionChangeIdentifier=r.get("revisionChangeIdentifier"),
                revisionSummary=r.get("revisionSummary") or None,
                created=epoch(r.get("created")),
                revisionUrl=r.get("revisionUrl"),
            )
            for r in execution.source_revisions
        ],
        "variables": [
            {"name": name, "resolvedValue": value} for name, value in execution.variables.items()
        ],
        "trigger": dict(execution.trigger),
        "executionMode": execution.execution_mode,
        "executionType": STANDARD,
    }
    if execution.status_summary:
        document["statusSummary"] = execution.status_summary
    return document


def execution_detail(execution: PipelineExecution) -> dict[str, Any]:
    """What Conveyor shows beyond GetPipelineExecution's members (for people, not the API):
    start and last change, who superseded it, where it waits, and its stages."""
    detail: dict[str, Any] = {
        "startTime": epoch(execution.started_at),
        "lastUpdateTime": epoch(execution.modified_on),
    }
    if execution.stop:
        detail["stopTrigger"] = {"reason": execution.stop["reason"]}
    outcome: Mapping[str, Any] = execution.outcome or {}
    if outcome.get("superseded_by"):
        detail["supersededBy"] = outcome["superseded_by"]
    if execution.waiting:
        detail["waiting"] = {
            "stageName": execution.waiting["stage"],
            "reason": execution.waiting["reason"],
            "heldBy": execution.waiting["holder"],
            "since": epoch(execution.waiting["since"]),
        }
    detail["stages"] = [
        {
            "stageName": name,
            "status": stage["status"],
            "startTime": epoch(stage["entered_at"]),
            "endTime": epoch(stage["ended_at"]),
            "actions": [
                {"actionName": run["action"], **action_execution_state(run)}
                for key, aeid in execution.latest.items()
                if key.startswith(name + "/") and (run := execution.actions[aeid])
            ],
        }
        for name, stage in execution.stages.items()
    ]
    return detail


def _output_name_of(execution: PipelineExecution, action: str) -> str | None:
    for run in execution.actions.values():
        if run["action"] == action and run["output_artifacts"]:
            return str(next(iter(run["output_artifacts"])))
    return None


def execution_summary(execution: PipelineExecution) -> dict[str, Any]:
    """ListPipelineExecutions' pipelineExecutionSummaries[] item."""
    summary: dict[str, Any] = {
        "pipelineExecutionId": execution.execution_id,
        "status": execution.status,
        "startTime": epoch(execution.started_at),
        "lastUpdateTime": epoch(execution.modified_on),
        "sourceRevisions": [
            present(
                actionName=r["actionName"],
                revisionId=r["revisionId"],
                revisionSummary=r.get("revisionSummary") or None,
                revisionUrl=r.get("revisionUrl"),
            )
            for r in execution.source_revisions
        ],
        "trigger": dict(execution.trigger),
        "executionMode": execution.execution_mode,
        "executionType": STANDARD,
    }
    if execution.status_summary:
        summary["statusSummary"] = execution.status_summary
    if execution.stop:
        summary["stopTrigger"] = present(reason=execution.stop["reason"] or None)
    return summary


# Where ListActionExecutions' artifacts are: Conveyor keeps them content-addressed, so the
# "bucket" is its artifact store and the "key" the artifact's digest.
ARTIFACT_BUCKET = "conveyor-artifacts"


def _artifacts(artifacts: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "s3location": {"bucket": ARTIFACT_BUCKET, "key": digest}}
        for name, digest in artifacts.items()
    ]


def action_execution_detail(
    execution: PipelineExecution, run: Mapping[str, Any], *, region: str
) -> dict[str, Any]:
    """One ListActionExecutions actionExecutionDetails[] item: one attempt of one action."""
    latest = action_execution_state(run)
    result: dict[str, Any] = {
        k: latest[k]
        for k in ("externalExecutionId", "externalExecutionUrl", "errorDetails")
        if k in latest
    }
    if run["summary"]:
        result["externalExecutionSummary"] = run["summary"]
    detail = present(
        pipelineExecutionId=execution.execution_id,
        actionExecutionId=run["id"],
        pipelineVersion=execution.pipeline_version,
        stageName=run["stage"],
        actionName=run["action"],
        startTime=epoch(run["started_at"]),
        lastUpdateTime=epoch(run["updated_at"]),
        updatedBy=run["updated_by"],
        status=run["status"],
    )
    detail["input"] = present(
        actionTypeId=dict(run["action_type"]),
        configuration=dict(run["configuration"]),
        resolvedConfiguration=dict(run["resolved_configuration"]),
        region=region,
        inputArtifacts=_artifacts(run["input_artifacts"]),
        namespace=run["namespace"],
    )
    detail["output"] = {
        "outputArtifacts": _artifacts(run["output_artifacts"]),
        "executionResult": result,
        "outputVariables": dict(run["output_variables"]),
    }
    return detail


def action_execution_details(execution: PipelineExecution, *, region: str) -> list[dict[str, Any]]:
    """ListActionExecutions' actionExecutionDetails[], newest first, every attempt its own row."""
    details = [
        action_execution_detail(execution, run, region=region) for run in execution.actions.values()
    ]
    details.sort(key=lambda d: (d["startTime"], d["actionExecutionId"]), reverse=True)
    return details
