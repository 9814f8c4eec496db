"""The core acceptance, end to end through the CLI on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.app import Conveyor
from engine.settings import Settings
from tests.e2e.cli import Workspace

BUILDSPEC = """\
version: 0.2
env:
  exported-variables:
    - ARTIFACT_NAME
phases:
  build:
    commands:
      - mkdir -p out
      - echo "commit $(git rev-parse HEAD 2>/dev/null || cat REVISION)" > out/build.txt
      - cp app.txt out/app.txt
      - export ARTIFACT_NAME=app-build
artifacts:
  base-directory: out
  files:
    - '**/*'
"""


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def release_pipeline(deploy_dir: Path, *, build_command: str = "true") -> dict[str, Any]:
    return {
        "pipeline": {
            "name": "release",
            "roleArn": "arn:aws:iam::123456789012:role/local",
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
                            "runOrder": 1,
                            "actionTypeId": _type("Build", "CodeBuild"),
                            "configuration": {"ProjectName": "compile"},
                            "inputArtifacts": [{"name": "Src"}],
                            "outputArtifacts": [{"name": "Bin"}],
                        },
                        {
                            "name": "Lint",
                            "runOrder": 1,
                            "actionTypeId": _type("Test", "Shell"),
                            "configuration": {
                                "Commands": f"{build_command}\necho linted > lint.txt"
                            },
                            "inputArtifacts": [{"name": "Src"}],
                            "outputArtifacts": [{"name": "LintReport", "files": ["lint.txt"]}],
                        },
                        {
                            "name": "Bundle",
                            "runOrder": 2,
                            "actionTypeId": _type("Build", "Shell"),
                            "configuration": {
                                "Commands": (
                                    'cp "$CONVEYOR_INPUT_LintReport/lint.txt" lint.txt\n'
                                    "echo '#{SourceVariables.CommitId}' > COMMIT"
                                )
                            },
                            "inputArtifacts": [{"name": "Bin"}, {"name": "LintReport"}],
                            "outputArtifacts": [{"name": "Bundle"}],
                        },
                    ],
                },
                {
                    "name": "Approval",
                    "actions": [
                        {
                            "name": "Release",
                            "actionTypeId": _type("Approval", "Manual"),
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Publish",
                            "actionTypeId": _type("Deploy", "S3"),
                            "configuration": {"BucketName": str(deploy_dir), "Extract": "true"},
                            "inputArtifacts": [{"name": "Bundle"}],
                        }
                    ],
                },
            ],
        },
        "metadata": {"pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:release"},
    }


@pytest.fixture(params=["sqlite", "postgres"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    ws = Workspace(tmp_path, database_url=url)
    ws.write("app/app.txt", "the application\n")
    ws.write("app/buildspec.yml", BUILDSPEC)
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "first")
    return ws


def _events(ws: Workspace) -> list[tuple[str, str]]:
    """(originator id, topic) of every stored event, in notification order."""
    settings = Settings(home=ws.root / ".conveyor", database_url=ws.database_url)
    app = Conveyor(settings)
    try:
        rows = app.recorder.select_notifications(start=None, limit=100_000)
        return [(str(row.originator_id), row.topic) for row in rows]
    finally:
        app.close()


def test_a_release_runs_to_the_approval_and_deploys_that_exact_commit_after_approve(
    workspace: Workspace,
) -> None:
    ws = workspace
    deploy = ws.root / "deployed"
    ws.write("pipeline.json", release_pipeline(deploy))
    ws.run("init")
    ws.run("pipeline", "create", "pipeline.json", "--no-start")
    started = ws.run("start", "release", "--wait")
    assert "waiting for approval" in started.stdout
    assert not deploy.exists()

    state = ws.json("state", "release")
    assert state["pipelineName"] == "release" and state["pipelineVersion"] == 1
    stages = {s["stageName"]: s for s in state["stageStates"]}
    approval = stages["Approval"]["actionStates"][0]["latestExecution"]
    assert approval["status"] == "InProgress" and approval["token"]
    assert stages["Build"]["latestExecution"]["status"] == "Succeeded"
    assert stages["Deploy"]["inboundTransitionState"] == {"enabled": True}

    ws.run(
        "approve",
        "release",
        "Approval",
        "Release",
        "--comment",
        "ship it",
        "--token",
        approval["token"],
        "--wait",
    )
    commit = ws.git("app", "rev-parse", "HEAD")
    assert (deploy / "COMMIT").read_text().strip() == commit
    assert (deploy / "app.txt").read_text() == "the application\n"
    assert (deploy / "lint.txt").read_text().strip() == "linted"

    listing = ws.json("executions", "list", "release")
    summary = listing["pipelineExecutionSummaries"][0]
    assert summary["status"] == "Succeeded"
    assert summary["sourceRevisions"][0]["revisionId"] == commit
    assert summary["trigger"]["triggerType"] == "StartPipelineExecution"
    shown = ws.json("executions", "show", summary["pipelineExecutionId"])
    execution = shown["pipelineExecution"]
    assert {
        "pipelineExecutionId",
        "pipelineVersion",
        "status",
        "artifactRevisions",
        "trigger",
        "variables",
    } <= set(execution)
    assert execution["artifactRevisions"][0]["revisionId"] == commit
    details = shown["actionExecutionDetails"]
    assert {d["actionName"] for d in details} == {
        "Checkout",
        "Compile",
        "Lint",
        "Bundle",
        "Release",
        "Publish",
    }
    release = next(d for d in details if d["actionName"] == "Release")
    assert release["updatedBy"] == "tester"
    assert release["output"]["executionResult"]["externalExecutionSummary"] == "ship it"
    compile_ = next(d for d in details if d["actionName"] == "Compile")
    assert compile_["output"]["outputVariables"] == {"ARTIFACT_NAME": "app-build"}

    topics = [
        t.rsplit(".", 1)[-1] for oid, t in _events(ws) if oid == execution["pipelineExecutionId"]
    ]
    assert topics[0] == "ExecutionStarted" and topics[-1] == "ExecutionSucceeded"
    assert topics.index("ApprovalRequested") < topics.index("ApprovalGranted")
    entered = [i for i, t in enumerate(topics) if t == "StageEntered"]
    assert len(entered) == 4
    assert topics.index("ApprovalGranted") < entered[-1]


def test_a_failing_build_fails_the_execution_shows_the_error_and_log_and_stops_there(
    workspace: Workspace,
) -> None:
    ws = workspace
    deploy = ws.root / "deployed"
    ws.write(
        "pipeline.json", release_pipeline(deploy, build_command="echo 'lint: 3 problems'; exit 3")
    )
    created = ws.run("pipeline", "create", "pipeline.json", "--wait", expect=1)
    assert "Failed" in created.stdout
    listing = ws.json("executions", "list", "release")
    summary = listing["pipelineExecutionSummaries"][0]
    assert summary["status"] == "Failed"
    assert summary["trigger"]["triggerType"] == "CreatePipeline"
    shown = ws.run("executions", "show", summary["pipelineExecutionId"])
    assert "Lint" in shown.stdout and "exit" in shown.stdout.lower()
    logs = ws.run("logs", summary["pipelineExecutionId"], "Build", "Lint")
    assert "lint: 3 problems" in logs.stdout
    details = ws.json("executions", "show", summary["pipelineExecutionId"])
    ran = {d["stageName"] for d in details["actionExecutionDetails"]}
    assert ran == {"Source", "Build"}
    bundle = [d for d in details["actionExecutionDetails"] if d["actionName"] == "Bundle"]
    assert bundle == []
    assert not deploy.exists()


def _base(deploy: Path) -> dict[str, Any]:
    return json.loads(json.dumps(release_pipeline(deploy)))["pipeline"]


def _cases(deploy: Path) -> dict[str, tuple[str, str]]:
    """name -> (definition text, a rule that must be reported)."""
    cases: dict[str, tuple[str, str]] = {}
    missing_source = _base(deploy)
    missing_source["stages"] = missing_source["stages"][1:]
    cases["missing source stage"] = (json.dumps(missing_source), "stage.first-must-be-source")
    one = _base(deploy)
    one["stages"] = one["stages"][:1]
    cases["one stage"] = (json.dumps(one), "stages.count")
    eleven = _base(deploy)
    eleven["stages"] += [
        {
            "name": f"Extra{i}",
            "actions": [
                {
                    "name": "Noop",
                    "actionTypeId": _type("Test", "Shell"),
                    "configuration": {"Commands": "true"},
                }
            ],
        }
        for i in range(7)
    ]
    cases["eleven stages"] = (json.dumps(eleven), "stages.count")
    duplicate = _base(deploy)
    duplicate["stages"][1]["actions"][1]["outputArtifacts"] = [{"name": "Bin"}]
    cases["duplicate artifact"] = (json.dumps(duplicate), "artifact.output-unique")
    later = _base(deploy)
    later["stages"][1]["actions"][0]["inputArtifacts"] = [{"name": "Bundle"}]
    cases["input from a later action"] = (json.dumps(later), "artifact.input-undefined")
    unknown = _base(deploy)
    unknown["stages"][3]["actions"][0]["actionTypeId"]["provider"] = "Teleport"
    cases["unknown provider"] = (json.dumps(unknown), "action.provider-unknown")
    cases["bad json"] = ('{"pipeline": {"name": "release", "stages": [}', "json")
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "missing source stage",
        "one stage",
        "eleven stages",
        "duplicate artifact",
        "input from a later action",
        "unknown provider",
        "bad json",
    ],
)
def test_an_invalid_definition_lists_every_problem_exits_2_and_writes_nothing(
    tmp_path: Path, case: str
) -> None:
    ws = Workspace(tmp_path)
    text, rule = _cases(tmp_path / "deployed")[case]
    ws.write("bad.json", text)
    ws.run("init")
    for command in (["pipeline", "validate", "bad.json"], ["pipeline", "create", "bad.json"]):
        done = ws.run(*command, expect=2)
        assert rule in done.stderr
        assert "pipeline" in done.stderr or "$" in done.stderr
        assert "Traceback" not in done.stderr
    report = json.loads(ws.run("pipeline", "validate", "bad.json", "--json", expect=2).stderr)
    assert any(p["rule"] == rule for p in report["problems"])
    assert all(p["path"] for p in report["problems"])
    assert _events(ws) == []
