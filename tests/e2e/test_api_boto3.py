"""boto3 drives a real `conveyor server` through CodePipeline's API, changing only the endpoint."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace
from tests.support.api_server import ApiServer, signed_api_server

BUILDSPEC = """\
version: 0.2
phases:
  build:
    commands:
      - mkdir -p out
      - cp app.txt out/app.txt
      - git rev-parse HEAD > out/COMMIT 2>/dev/null || echo unknown > out/COMMIT
artifacts:
  base-directory: out
  files:
    - '**/*'
"""
ROLE = "arn:aws:iam::123456789012:role/local"
WITHIN = 60.0


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


SOURCE = {
    "name": "Source",
    "actions": [
        {
            "name": "Checkout",
            "actionTypeId": _type("Source", "Git"),
            "configuration": {"RepositoryUrl": "app", "BranchName": "main"},
            "outputArtifacts": [{"name": "Src"}],
        }
    ],
}


def _shell_stage(stage: str, commands: str) -> dict[str, Any]:
    action = {
        "name": "Run",
        "actionTypeId": _type("Build", "Shell"),
        "configuration": {"Commands": commands},
        "inputArtifacts": [{"name": "Src"}],
    }
    return {"name": stage, "actions": [action]}


def release(deploy: Path, name: str = "release") -> dict[str, Any]:
    """Git source, CodeBuild build, manual approval, S3 deploy: the issue's acceptance pipeline."""
    build = {
        "name": "Compile",
        "actionTypeId": _type("Build", "CodeBuild"),
        "configuration": {"ProjectName": "compile"},
        "inputArtifacts": [{"name": "Src"}],
        "outputArtifacts": [{"name": "Bin"}],
    }
    approve = {"name": "Release", "actionTypeId": _type("Approval", "Manual")}
    publish = {
        "name": "Publish",
        "actionTypeId": _type("Deploy", "S3"),
        "configuration": {"BucketName": str(deploy), "Extract": "true"},
        "inputArtifacts": [{"name": "Bin"}],
    }
    return {
        "name": name,
        "roleArn": ROLE,
        "stages": [
            SOURCE,
            {"name": "Build", "actions": [build]},
            {"name": "Approval", "actions": [approve]},
            {"name": "Deploy", "actions": [publish]},
        ],
    }


def simple(name: str, *stages: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "roleArn": ROLE, "stages": [SOURCE, *stages]}


def until(condition: Callable[[], Any], what: str, within: float = WITHIN) -> Any:
    """The condition's first truthy value; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.1)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    made = Workspace(tmp_path)
    made.write("app/app.txt", "the application\n")
    made.write("app/buildspec.yml", BUILDSPEC)
    made.git("app", "init", "-q", "-b", "main")
    made.git("app", "add", ".")
    made.git("app", "commit", "-q", "-m", "first")
    return made


@pytest.fixture
def server(ws: Workspace) -> Iterator[ApiServer]:
    with signed_api_server(ws) as started:
        yield started


def status_of(client: Any, name: str, execution_id: str) -> str:
    answer = client.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
    return str(answer["pipelineExecution"]["status"])


def ended(client: Any, name: str, execution_id: str, status: str) -> None:
    until(
        lambda: status_of(client, name, execution_id) == status,
        f"execution {execution_id} {status}",
    )


def stage(client: Any, name: str, stage_name: str) -> dict[str, Any]:
    states = client.get_pipeline_state(name=name)["stageStates"]
    return next(s for s in states if s["stageName"] == stage_name)


def waiting_approval(client: Any, name: str, execution_id: str) -> dict[str, Any] | None:
    """The approval's latest execution once this execution's approval waits, else None."""
    gate = stage(client, name, "Approval")
    latest = gate["actionStates"][0].get("latestExecution", {})
    inside = gate.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
    return latest if inside and latest.get("status") == "InProgress" else None


def test_a_release_created_with_boto3_waits_for_approval_and_deploys_once_approved(
    ws: Workspace, server: ApiServer
) -> None:
    client = server.client()
    deploy = ws.root / "deployed"
    created = client.create_pipeline(pipeline=release(deploy))
    assert created["pipeline"]["name"] == "release" and created["pipeline"]["version"] == 1
    got = client.get_pipeline(name="release")
    assert got["pipeline"]["stages"][1]["actions"][0]["actionTypeId"]["provider"] == "CodeBuild"
    assert got["metadata"]["pipelineArn"].endswith(":release")

    # CreatePipeline started the first execution, as CodePipeline does: reject it.
    [first] = client.list_pipeline_executions(pipelineName="release")["pipelineExecutionSummaries"]
    assert first["trigger"]["triggerType"] == "CreatePipeline"
    token = until(
        lambda: waiting_approval(client, "release", first["pipelineExecutionId"]),
        "the first approval waits",
    )["token"]
    client.put_approval_result(
        pipelineName="release",
        stageName="Approval",
        actionName="Release",
        result={"summary": "not this one", "status": "Rejected"},
        token=token,
    )
    ended(client, "release", first["pipelineExecutionId"], "Failed")

    execution_id = client.start_pipeline_execution(name="release")["pipelineExecutionId"]
    latest = until(lambda: waiting_approval(client, "release", execution_id), "approval waits")
    assert not deploy.exists()
    answer = client.put_approval_result(
        pipelineName="release",
        stageName="Approval",
        actionName="Release",
        result={"summary": "ship it", "status": "Approved"},
        token=latest["token"],
    )
    assert answer["approvedAt"].year >= 2026
    ended(client, "release", execution_id, "Succeeded")
    commit = ws.git("app", "rev-parse", "HEAD")
    assert (deploy / "app.txt").read_text() == "the application\n"
    assert (deploy / "COMMIT").read_text().strip() in (commit, "unknown")

    execution = client.get_pipeline_execution(
        pipelineName="release", pipelineExecutionId=execution_id
    )["pipelineExecution"]
    assert execution["artifactRevisions"][0]["revisionId"] == commit
    assert execution["trigger"]["triggerType"] == "StartPipelineExecution"
    details = client.list_action_executions(
        pipelineName="release", filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    assert {d["actionName"]: d["status"] for d in details} == {
        "Checkout": "Succeeded",
        "Compile": "Succeeded",
        "Release": "Succeeded",
        "Publish": "Succeeded",
    }
    everything = client.list_action_executions(pipelineName="release")["actionExecutionDetails"]
    assert {d["pipelineExecutionId"] for d in everything} == {
        execution_id,
        first["pipelineExecutionId"],
    }


def test_a_disabled_transition_holds_the_execution_until_it_is_enabled(
    server: ApiServer,
) -> None:
    client = server.client()
    client.create_pipeline(
        pipeline=simple("held", _shell_stage("Build", "true"), _shell_stage("Ship", "true"))
    )
    [first] = client.list_pipeline_executions(pipelineName="held")["pipelineExecutionSummaries"]
    ended(client, "held", first["pipelineExecutionId"], "Succeeded")
    client.disable_stage_transition(
        pipelineName="held", stageName="Ship", transitionType="Inbound", reason="freeze"
    )
    transition = stage(client, "held", "Ship")["inboundTransitionState"]
    assert transition["enabled"] is False and transition["disabledReason"] == "freeze"
    assert transition["lastChangedBy"] == "e2e-admin"  # the signing key's name

    execution_id = client.start_pipeline_execution(name="held")["pipelineExecutionId"]
    until(
        lambda: (
            stage(client, "held", "Ship").get("inboundExecution", {}).get("pipelineExecutionId")
            == execution_id
        ),
        "the execution waits at the disabled transition",
    )
    assert status_of(client, "held", execution_id) == "InProgress"
    client.enable_stage_transition(pipelineName="held", stageName="Ship", transitionType="Inbound")
    ended(client, "held", execution_id, "Succeeded")
    assert stage(client, "held", "Ship")["inboundTransitionState"]["enabled"] is True


def test_a_failed_stage_is_retried_and_the_execution_then_succeeds(
    ws: Workspace, server: ApiServer
) -> None:
    client = server.client()
    marker = ws.root / "fixed"
    client.create_pipeline(pipeline=simple("flaky", _shell_stage("Build", f'test -f "{marker}"')))
    [first] = client.list_pipeline_executions(pipelineName="flaky")["pipelineExecutionSummaries"]
    execution_id = first["pipelineExecutionId"]
    ended(client, "flaky", execution_id, "Failed")
    with pytest.raises(client.exceptions.StageNotRetryableException):
        client.retry_stage_execution(
            pipelineName="flaky",
            stageName="Source",
            pipelineExecutionId=execution_id,
            retryMode="FAILED_ACTIONS",
        )

    marker.write_text("now it passes\n")
    answer = client.retry_stage_execution(
        pipelineName="flaky",
        stageName="Build",
        pipelineExecutionId=execution_id,
        retryMode="FAILED_ACTIONS",
    )
    assert answer["pipelineExecutionId"] == execution_id
    ended(client, "flaky", execution_id, "Succeeded")
    builds = [
        d
        for d in client.list_action_executions(pipelineName="flaky")["actionExecutionDetails"]
        if d["stageName"] == "Build"
    ]
    assert sorted(d["status"] for d in builds) == ["Failed", "Succeeded"]
    metadata = stage(client, "flaky", "Build")["retryStageMetadata"]
    assert metadata["manualStageRetryAttempt"] == 1


def test_stop_with_abandon_ends_a_running_build_at_once(ws: Workspace, server: ApiServer) -> None:
    client = server.client()
    started = ws.root / "started"
    commands = f'touch "{started}"; sleep 120'
    client.create_pipeline(pipeline=simple("long", _shell_stage("Build", commands)))
    [first] = client.list_pipeline_executions(pipelineName="long")["pipelineExecutionSummaries"]
    execution_id = first["pipelineExecutionId"]
    until(started.exists, "the build started")
    answer = client.stop_pipeline_execution(
        pipelineName="long", pipelineExecutionId=execution_id, abandon=True, reason="wrong branch"
    )
    assert answer["pipelineExecutionId"] == execution_id
    ended(client, "long", execution_id, "Stopped")
    [summary] = client.list_pipeline_executions(pipelineName="long")["pipelineExecutionSummaries"]
    assert summary["stopTrigger"]["reason"] == "wrong branch"
    with pytest.raises(client.exceptions.PipelineExecutionNotStoppableException):
        client.stop_pipeline_execution(pipelineName="long", pipelineExecutionId=execution_id)


def test_paginators_walk_every_execution_and_pipeline_once(ws: Workspace) -> None:
    with signed_api_server(ws, env={"CONVEYOR_MAX_PIPELINES": "3"}) as server:
        client = server.client()
        client.create_pipeline(pipeline=simple("paged", _shell_stage("Build", "true")))
        started = {
            client.start_pipeline_execution(name="paged")["pipelineExecutionId"] for _ in range(4)
        }
        pages = list(
            client.get_paginator("list_pipeline_executions").paginate(
                pipelineName="paged", PaginationConfig={"PageSize": 2}
            )
        )
        ids = [s["pipelineExecutionId"] for p in pages for s in p["pipelineExecutionSummaries"]]
        assert len(pages) == 3 and len(ids) == len(set(ids)) == 5
        assert started < set(ids)

        for name in ("second", "third"):
            client.create_pipeline(pipeline=simple(name, _shell_stage("Build", "true")))
        listed = list(
            client.get_paginator("list_pipelines").paginate(PaginationConfig={"PageSize": 2})
        )
        names = [p["name"] for page in listed for p in page["pipelines"]]
        assert names == ["paged", "second", "third"] and len(listed) == 2
        with pytest.raises(client.exceptions.LimitExceededException):
            client.create_pipeline(pipeline=simple("fourth", _shell_stage("Build", "true")))


def _error(call: Callable[[], Any]) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def test_each_codepipeline_exception_is_raised_where_codepipeline_raises_it(
    ws: Workspace, server: ApiServer
) -> None:
    client = server.client()
    errors = client.exceptions
    client.create_pipeline(pipeline=release(ws.root / "deployed"))
    [first] = client.list_pipeline_executions(pipelineName="release")["pipelineExecutionSummaries"]
    execution_id = first["pipelineExecutionId"]

    with pytest.raises(errors.PipelineNotFoundException):
        client.get_pipeline_state(name="nope")
    with pytest.raises(errors.PipelineNotFoundException):
        client.start_pipeline_execution(name="nope")
    with pytest.raises(errors.PipelineNameInUseException):
        client.create_pipeline(pipeline=release(ws.root / "deployed"))
    with pytest.raises(errors.PipelineVersionNotFoundException):
        client.get_pipeline(name="release", version=7)
    with pytest.raises(errors.PipelineExecutionNotFoundException):
        client.get_pipeline_execution(pipelineName="release", pipelineExecutionId=str(uuid.uuid4()))

    broken = release(ws.root / "deployed", name="broken")
    broken["stages"] = broken["stages"][1:]  # no source stage, and its build has no input
    broken["stages"][0]["actions"][0]["actionTypeId"]["provider"] = "NoSuchBuilder"
    code, message = _error(lambda: client.create_pipeline(pipeline=broken))
    assert code == "InvalidStructureException"
    assert message.count("\n  pipeline.") >= 2, message

    with pytest.raises(errors.StageNotFoundException):
        client.disable_stage_transition(
            pipelineName="release", stageName="Nope", transitionType="Inbound", reason="x"
        )
    latest = until(lambda: waiting_approval(client, "release", execution_id), "approval waits")
    approval = {
        "pipelineName": "release",
        "stageName": "Approval",
        "actionName": "Release",
        "result": {"summary": "ok", "status": "Approved"},
    }
    with pytest.raises(errors.ActionNotFoundException):
        client.put_approval_result(**{**approval, "actionName": "Nope"}, token=latest["token"])
    with pytest.raises(errors.InvalidApprovalTokenException):
        client.put_approval_result(**approval, token=str(uuid.uuid4()))
    client.put_approval_result(**approval, token=latest["token"])
    with pytest.raises(errors.ApprovalAlreadyCompletedException):
        client.put_approval_result(**approval, token=latest["token"])
    with pytest.raises(errors.StageNotRetryableException):
        client.retry_stage_execution(
            pipelineName="release",
            stageName="Build",
            pipelineExecutionId=execution_id,
            retryMode="FAILED_ACTIONS",
        )

    # botocore checks types and minimums itself; patterns and maximums only the server does.
    code, message = _error(lambda: client.get_pipeline(name="no spaces allowed"))
    assert code == "ValidationException" and "'name'" in message
    with pytest.raises(errors.ValidationException):
        client.enable_stage_transition(
            pipelineName="release", stageName="Deploy", transitionType="Outbound"
        )
    assert client.delete_pipeline(name="nope")["ResponseMetadata"]["HTTPStatusCode"] == 200
