"""Every `--json` output of a CLI command that mirrors a CodePipeline operation has that
operation's response shape, checked against botocore's service model (tests/support/shapes.py).

One realistic pipeline is driven through success, failure, a manual retry (a second attempt),
an approval, a rejection and a stop, so that the optional members appear too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace
from tests.support.shapes import assert_shape

ARN = "arn:aws:codepipeline:eu-west-3:123456789012:flow"


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def _definition(marker: Path, *, ship: str = "echo shipped") -> dict[str, Any]:
    flaky = f"sleep 1; if [ ! -f {marker} ]; then touch {marker}; echo flaky; exit 1; fi"
    return {
        "name": "flow",
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "variables": [{"name": "Target", "defaultValue": "staging"}],
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Checkout",
                        "actionTypeId": _type("Source", "Git"),
                        "configuration": {"Repository": "app", "BranchName": "main"},
                        "outputArtifacts": [{"name": "Src"}],
                        "namespace": "SourceVariables",
                        # What `aws codepipeline get-pipeline` writes on every action.
                        "region": "eu-west-3",
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Flaky",
                        "actionTypeId": _type("Build", "Shell"),
                        "configuration": {"Commands": flaky},
                        "inputArtifacts": [{"name": "Src"}],
                        "outputArtifacts": [{"name": "Bin"}],
                        "region": "eu-west-3",
                    }
                ],
            },
            {
                "name": "Gate",
                "actions": [{"name": "Approve", "actionTypeId": _type("Approval", "Manual")}],
            },
            {
                "name": "Ship",
                "actions": [
                    {
                        "name": "Ship",
                        "actionTypeId": _type("Deploy", "Shell"),
                        "configuration": {"Commands": ship},
                        "inputArtifacts": [{"name": "Bin"}],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write("app/README", "v1\n")
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "v1")
    return ws


class Shapes:
    """Runs `--json` commands in a workspace whose settings name a region and an account."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.env = {"CONVEYOR_REGION": "eu-west-3", "CONVEYOR_ACCOUNT": "123456789012"}
        self.checked: set[str] = set()

    def json(self, operation: str, *args: str, expect: int = 0) -> Any:
        done = self.ws.run(*args, "--json", expect=expect, **self.env)
        document = json.loads(done.stdout)
        assert_shape(operation, document)
        self.checked.add(operation)
        return document

    def execution(self, execution_id: str) -> dict[str, Any]:
        """`executions show`: GetPipelineExecution's member, and ListActionExecutions' items."""
        done = self.ws.run("executions", "show", execution_id, "--json", **self.env)
        shown = json.loads(done.stdout)
        assert set(shown) == {"pipelineExecution", "actionExecutionDetails"}
        assert_shape("GetPipelineExecution", {"pipelineExecution": shown["pipelineExecution"]})
        assert_shape(
            "ListActionExecutions", {"actionExecutionDetails": shown["actionExecutionDetails"]}
        )
        self.checked |= {"GetPipelineExecution", "ListActionExecutions"}
        return shown

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.json("GetPipelineState", "state", "flow")
        return state

    def stage(self, name: str) -> dict[str, Any]:
        return next(s for s in self.state()["stageStates"] if s["stageName"] == name)


def test_every_json_output_of_a_mirrored_command_has_its_operations_shape(
    ws: Workspace, tmp_path: Path
) -> None:
    shapes = Shapes(ws)
    ws.write("p.json", _definition(tmp_path / "second-attempt"))
    created = shapes.json("CreatePipeline", "pipeline", "create", "p.json", "--no-start")
    assert created["pipeline"]["version"] == 1
    ws.write("p.json", _definition(tmp_path / "second-attempt", ship="echo shipped again"))
    shapes.json("UpdatePipeline", "pipeline", "update", "p.json")
    got = shapes.json("GetPipeline", "pipeline", "get", "flow")
    assert got["metadata"]["pipelineArn"] == ARN
    shapes.json("GetPipeline", "pipeline", "get", "flow", "--version", "1")
    shapes.json("ListPipelines", "pipeline", "list")
    shapes.state()
    _fail_retry_and_approve(shapes, ws)

    # A run that is rejected at the Gate.
    waiting = shapes.json("GetPipelineExecution", "start", "flow", "--wait")
    shapes.json("PutApprovalResult", "reject", "flow", "Gate", "Approve", "-m", "no")
    rejected = shapes.execution(waiting["pipelineExecution"]["pipelineExecutionId"])
    assert rejected["pipelineExecution"]["status"] == "Failed"

    # A run started without --wait (StartPipelineExecution's shape) and stopped.
    started = shapes.json("StartPipelineExecution", "start", "flow", "--var", "Target=prod")
    stopped = shapes.json(
        "StopPipelineExecution",
        "stop",
        started["pipelineExecutionId"],
        "--abandon",
        "--reason",
        "wrong commit",
    )
    assert stopped == started
    shapes.execution(started["pipelineExecutionId"])
    shapes.state()
    listed = shapes.json("ListPipelineExecutions", "executions", "list", "flow")
    assert len(listed["pipelineExecutionSummaries"]) == 3
    actions = shapes.json("ListActionExecutions", "executions", "actions", "flow")
    first = shapes.json(
        "ListActionExecutions", "executions", "actions", "flow", "--max-results", "2"
    )
    assert first["actionExecutionDetails"] == actions["actionExecutionDetails"][:2]
    assert first["nextToken"]
    # A retry that returns at once prints RetryStageExecution's shape.
    retry_at_once = shapes.json(
        "RetryStageExecution", "retry", started["pipelineExecutionId"], "Source"
    )
    assert retry_at_once == started

    # The definition changes only with create and update: executions leave `updated` alone.
    again = shapes.json("GetPipeline", "pipeline", "get", "flow")
    assert again["metadata"]["updated"] == got["metadata"]["updated"]
    assert again["metadata"]["created"] < again["metadata"]["updated"]
    assert shapes.checked == {
        "CreatePipeline",
        "UpdatePipeline",
        "GetPipeline",
        "ListPipelines",
        "GetPipelineState",
        "GetPipelineExecution",
        "ListActionExecutions",
        "StartPipelineExecution",
        "StopPipelineExecution",
        "RetryStageExecution",
        "ListPipelineExecutions",
        "PutApprovalResult",
    }


def _fail_retry_and_approve(shapes: Shapes, ws: Workspace) -> None:
    """A run that fails in Build, then a manual retry whose second attempt succeeds."""
    failed = shapes.json("GetPipelineExecution", "start", "flow", "--wait", expect=1)
    execution_id = failed["pipelineExecution"]["pipelineExecutionId"]
    assert failed["pipelineExecution"]["status"] == "Failed"
    shapes.execution(execution_id)
    shapes.stage("Build")
    retried = shapes.json("GetPipelineExecution", "retry", execution_id, "Build", "--wait")
    assert retried["pipelineExecution"]["status"] == "InProgress"  # waits at the Gate
    gate = shapes.stage("Gate")
    assert gate["actionStates"][0]["latestExecution"]["token"]
    build = shapes.stage("Build")
    assert build["retryStageMetadata"]["manualStageRetryAttempt"] == 1
    approved = shapes.json(
        "PutApprovalResult", "approve", "flow", "Gate", "Approve", "-m", "ok", "--wait"
    )
    assert approved["approvedAt"] > 0
    shown = shapes.execution(execution_id)
    assert shown["pipelineExecution"]["status"] == "Succeeded"
    flaky = [d for d in shown["actionExecutionDetails"] if d["actionName"] == "Flaky"]
    assert sorted(d["status"] for d in flaky) == ["Failed", "Succeeded"]
    # CodePipeline's shape has no attempt number; people see it, counting up across the retry.
    table = ws.run("executions", "show", execution_id).stdout
    assert re.search(r"Flaky\s*│\s*1\s*│\s*Failed", table), table
    assert re.search(r"Flaky\s*│\s*2\s*│\s*Succeeded", table), table
    succeeded = next(d for d in flaky if d["status"] == "Succeeded")
    # The one-second build ended after it started: the end time is reported, not the start.
    assert succeeded["lastUpdateTime"] >= succeeded["startTime"] + 1
    assert succeeded["input"]["region"] == "eu-west-3"
    assert (
        shapes.stage("Build")["actionStates"][0]["latestExecution"]["lastStatusChange"]
        == (succeeded["lastUpdateTime"])
    )


def test_a_refusal_in_json_mode_has_the_apis_error_shape(ws: Workspace) -> None:
    refused = ws.run("pipeline", "get", "nowhere", "--json", expect=2)
    assert json.loads(refused.stderr) == {
        "__type": "PipelineNotFoundException",
        "message": json.loads(refused.stderr)["message"],
    }
    ws.write("bad.json", {"name": "bad", "stages": []})
    invalid = json.loads(ws.run("pipeline", "create", "bad.json", "--json", expect=2).stderr)
    assert invalid["__type"] == "InvalidStructureException"
    assert invalid["problems"] and all(p["path"] in invalid["message"] for p in invalid["problems"])
