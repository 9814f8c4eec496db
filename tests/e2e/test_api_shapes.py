"""Every response a real `conveyor server` gives boto3, checked raw against botocore's output
shapes: a scenario that leaves executions succeeded, rejected, stopped, retried and waiting, so
each read operation returns its richest documents, and calls every operation the API serves."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.operations import OPERATIONS
from tests.e2e.cli import Workspace
from tests.support.api_server import REGION, api_server
from tests.support.raw_responses import RawResponses
from tests.support.shapes import shape_problems

WITHIN_SECONDS = 120.0
# boto3 requires one (botocore checks the model's required members before sending).
ROLE = "arn:aws:iam::000000000000:role/conveyor"
BUILDSPEC = """\
version: 0.2
env:
  exported-variables:
    - ARTIFACT_NAME
phases:
  build:
    commands:
      - mkdir -p out
      - cp app.txt out/app.txt
      - export ARTIFACT_NAME=app-build
artifacts:
  base-directory: out
  files:
    - '**/*'
"""


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def release(name: str, deploy_dir: Path) -> dict[str, Any]:
    """Git source, CodeBuild build, manual approval, S3 deploy: the issue's pipeline."""
    return {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "executionMode": "SUPERSEDED",
        "variables": [{"name": "Greeting", "defaultValue": "hello", "description": "said"}],
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Checkout",
                        "actionTypeId": _type("Source", "Git"),
                        "configuration": {"RepositoryUrl": "app", "BranchName": "main"},
                        "outputArtifacts": [{"name": "Src"}],
                        "namespace": "SourceVariables",
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Compile",
                        "actionTypeId": _type("Build", "CodeBuild"),
                        "configuration": {"ProjectName": "compile"},
                        "inputArtifacts": [{"name": "Src"}],
                        "outputArtifacts": [{"name": "Bin"}],
                        "namespace": "BuildVariables",
                    }
                ],
            },
            {
                "name": "Approval",
                "actions": [{"name": "Release", "actionTypeId": _type("Approval", "Manual")}],
            },
            {
                "name": "Deploy",
                "actions": [
                    {
                        "name": "Publish",
                        "actionTypeId": _type("Deploy", "S3"),
                        "configuration": {"BucketName": str(deploy_dir), "Extract": "true"},
                        "inputArtifacts": [{"name": "Bin"}],
                    }
                ],
            },
        ],
    }


def flaky(name: str, marker: Path) -> dict[str, Any]:
    """A build that fails the first time it runs and passes when retried."""
    command = f"test -e '{marker}' || {{ touch '{marker}'; exit 3; }}"
    return {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Checkout",
                        "actionTypeId": _type("Source", "Git"),
                        "configuration": {"RepositoryUrl": "app", "BranchName": "main"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Flaky",
                        "actionTypeId": _type("Build", "Shell"),
                        "configuration": {"Commands": command},
                        "inputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
        ],
    }


class Scenario:
    """The calls, made through one boto3 client whose raw responses are recorded."""

    def __init__(self, client: Any, root: Path) -> None:
        self.client = client
        self.root = root

    def until(self, what: str, found: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WITHIN_SECONDS
        while not (value := found()):
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.1)
        return value

    def status(self, name: str, execution_id: str) -> str:
        got = self.client.get_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id
        )
        return got["pipelineExecution"]["status"]

    def ended(self, name: str, execution_id: str) -> str:
        return self.until(
            f"{execution_id} to end",
            lambda: (s := self.status(name, execution_id)) not in ("InProgress", "Stopping") and s,
        )

    def approval_token(self, name: str, execution_id: str) -> str:
        def token() -> str | None:
            state = self.client.get_pipeline_state(name=name)
            for stage in state["stageStates"]:
                for action in stage.get("actionStates", []):
                    latest = action.get("latestExecution", {})
                    if (
                        stage.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
                        and latest.get("status") == "InProgress"
                        and latest.get("token")
                    ):
                        return str(latest["token"])
            return None

        return self.until(f"the approval of {execution_id}", token)

    def answer(self, name: str, execution_id: str, status: str) -> None:
        self.client.put_approval_result(
            pipelineName=name,
            stageName="Approval",
            actionName="Release",
            result={"summary": f"{status} by the shape walk", "status": status},
            token=self.approval_token(name, execution_id),
        )

    def latest_execution(self, name: str) -> str:
        listed = self.client.list_pipeline_executions(pipelineName=name, maxResults=1)
        return listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"]

    def run(self) -> None:
        c = self.client
        if "ListActionTypes" in OPERATIONS:
            c.list_action_types()
            c.list_action_types(actionOwnerFilter="AWS")
        c.create_pipeline(
            pipeline=release("release", self.root / "deployed"),
            **(
                {"tags": [{"key": "team", "value": "delivery"}]}
                if "TagResource" in OPERATIONS
                else {}
            ),
        )
        first = self.until("the first execution", lambda: self._any_execution("release"))
        self.answer("release", first, "Approved")
        assert self.ended("release", first) == "Succeeded"
        second = c.start_pipeline_execution(
            name="release", variables=[{"name": "Greeting", "value": "hi"}]
        )["pipelineExecutionId"]
        self.answer("release", second, "Rejected")
        assert self.ended("release", second) == "Failed"
        third = c.start_pipeline_execution(name="release")["pipelineExecutionId"]
        self.approval_token("release", third)
        c.stop_pipeline_execution(
            pipelineName="release", pipelineExecutionId=third, abandon=True, reason="walk"
        )
        self.ended("release", third)
        fourth = c.start_pipeline_execution(name="release")["pipelineExecutionId"]
        self.approval_token("release", fourth)  # left waiting: state shows the token
        self.retried()
        self.transitions_and_tags()
        self.reads("release", [first, second, third, fourth])
        c.update_pipeline(pipeline=release("release", self.root / "deployed-2"))
        c.get_pipeline(name="release", version=1)
        c.get_pipeline(name="release")
        c.create_pipeline(pipeline=flaky("doomed", self.root / "never"))
        c.delete_pipeline(name="doomed")

    def _any_execution(self, name: str) -> str | None:
        listed = self.client.list_pipeline_executions(pipelineName=name)
        summaries = listed.get("pipelineExecutionSummaries", [])
        return summaries[0]["pipelineExecutionId"] if summaries else None

    def retried(self) -> None:
        c = self.client
        c.create_pipeline(pipeline=flaky("flaky", self.root / "flaky-marker"))
        failed = self.until("the flaky execution", lambda: self._any_execution("flaky"))
        assert self.ended("flaky", failed) == "Failed"
        c.get_pipeline_state(name="flaky")
        c.retry_stage_execution(
            pipelineName="flaky",
            stageName="Build",
            pipelineExecutionId=failed,
            retryMode="FAILED_ACTIONS",
        )
        assert self.ended("flaky", failed) == "Succeeded"
        c.get_pipeline_state(name="flaky")
        c.list_action_executions(pipelineName="flaky", filter={"pipelineExecutionId": failed})

    def transitions_and_tags(self) -> None:
        c = self.client
        c.disable_stage_transition(
            pipelineName="release",
            stageName="Deploy",
            transitionType="Inbound",
            reason="Release freeze (walk)",
        )
        c.get_pipeline_state(name="release")
        c.enable_stage_transition(
            pipelineName="release", stageName="Deploy", transitionType="Inbound"
        )
        if "TagResource" not in OPERATIONS:
            return
        arn = c.get_pipeline(name="release")["metadata"]["pipelineArn"]
        c.tag_resource(resourceArn=arn, tags=[{"key": "owner", "value": "walk"}])
        c.list_tags_for_resource(resourceArn=arn)
        c.untag_resource(resourceArn=arn, tagKeys=["owner"])
        c.list_tags_for_resource(resourceArn=arn, maxResults=1)

    def reads(self, name: str, executions: list[str]) -> None:
        c = self.client
        c.list_pipelines()
        c.list_pipelines(maxResults=1)
        c.get_pipeline_state(name=name)
        for execution_id in executions:
            c.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
            c.list_action_executions(
                pipelineName=name, filter={"pipelineExecutionId": execution_id}
            )
        for page in c.get_paginator("list_pipeline_executions").paginate(
            pipelineName=name, PaginationConfig={"PageSize": 2}
        ):
            assert page["pipelineExecutionSummaries"]
        for page in c.get_paginator("list_action_executions").paginate(
            pipelineName=name, PaginationConfig={"PageSize": 3}
        ):
            assert page["actionExecutionDetails"]
        c.list_pipeline_executions(
            pipelineName=name, filter={"succeededInStage": {"stageName": "Deploy"}}
        )


def walk(root: Path) -> RawResponses:
    ws = Workspace(root)
    ws.write("app/app.txt", "the application\n")
    ws.write("app/buildspec.yml", BUILDSPEC)
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "first")
    raw = RawResponses()
    with api_server(ws) as server:
        Scenario(raw.attach(unchecked_client(server.url)), root).run()
    return raw


def unchecked_client(url: str) -> Any:
    """A client without the server fixture's check on arrival (tests/support/shape_walk.py):
    here every problem of every operation is collected, then listed per operation."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "codepipeline",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local-secret",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def problems_of(responses: RawResponses, operation: str) -> list[str]:
    """Each problem once (whatever its list index), in the order first seen."""
    found: dict[str, None] = {}
    for response in responses.succeeded(operation):
        for problem in shape_problems(operation, response.document()):
            found[re.sub(r"\[\d+\]", "[*]", problem)] = None
    return list(found)


# One test, so one walk: the scenario takes a while, and a parametrized test would repeat it
# on every pytest-xdist worker that ran a part of it.
def test_every_response_of_every_operation_served_matches_botocores_output_shape(
    tmp_path: Path,
) -> None:
    walked = walk(tmp_path)
    never = sorted(op for op in OPERATIONS if not walked.succeeded(op))
    assert not never, f"the scenario never called {never} successfully"
    failing = {op: problems_of(walked, op) for op in sorted(OPERATIONS)}
    report = [
        f"{op}: {len(found)} problems in {len(walked.succeeded(op))} responses:\n    "
        + "\n    ".join(found)
        for op, found in failing.items()
        if found
    ]
    assert not report, "\n".join(report)
    refusals = [r for r in walked.seen if r.status != 200]
    for refused in refusals:
        assert set(refused.document()) >= {"__type", "message"}, refused
