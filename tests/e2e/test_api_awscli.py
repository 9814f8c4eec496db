"""The AWS CLI (the `awscli` package) drives a real `conveyor server` by its endpoint URL alone,
with a profile that holds a Conveyor access key (made by `conveyor access-key create`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace
from tests.support.api_server import ApiServer, api_server

AWS = str(Path(sys.executable).parent / "aws")
PROFILE = "conveyor"
FINISHED_WITHIN_SECONDS = 120.0


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def definition(bucket: Path) -> dict[str, Any]:
    return {
        "name": "release",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Object",
                        "actionTypeId": _type("Source", "S3"),
                        "configuration": {"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Compile",
                        "actionTypeId": _type("Build", "Shell"),
                        "configuration": {"Commands": "cat source.txt"},
                        "inputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
        ],
    }


class AwsCli:
    """`aws` with a profile in files of its own: the developer's AWS config is never read."""

    def __init__(self, root: Path, endpoint: str, key_id: str, secret: str) -> None:
        home = root / "aws-home"
        home.mkdir()
        config = home / "config"
        config.write_text(f"[profile {PROFILE}]\nregion = us-east-1\noutput = json\n")
        credentials = home / "credentials"
        credentials.write_text(
            f"[{PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
        )
        self.endpoint = endpoint
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_PROFILE": PROFILE,
            # No instance metadata lookups, no pager waiting on a terminal.
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }

    def call(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AWS, "--endpoint-url", self.endpoint, "codepipeline", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def run(self, *args: str) -> Any:
        done = self.call(*args)
        assert done.returncode == 0, f"aws {' '.join(args)} exited {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else {}


def access_key(ws: Workspace, name: str, role: str) -> tuple[str, str]:
    made = ws.json("access-key", "create", "--name", name, "--role", role)["AccessKey"]
    return made["AccessKeyId"], made["SecretAccessKey"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Workspace, ApiServer]]:
    ws = Workspace(tmp_path)
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "source.txt").write_text("hello from the bucket\n")
    ws.write("release.json", definition(bucket))
    ws.run("pipeline", "create", "release.json", "--no-start")
    with api_server(ws, insecure=False) as server:
        yield ws, server


def test_the_aws_cli_lists_pipelines_reads_state_and_starts_an_execution(
    served: tuple[Workspace, ApiServer], tmp_path: Path
) -> None:
    ws, server = served
    aws = AwsCli(tmp_path, server.url, *access_key(ws, "release-bot", "operator"))

    listed = aws.run("list-pipelines")
    assert [p["name"] for p in listed["pipelines"]] == ["release"]

    state = aws.run("get-pipeline-state", "--name", "release")
    assert state["pipelineName"] == "release"
    assert [s["stageName"] for s in state["stageStates"]] == ["Source", "Build"]

    started = aws.run("start-pipeline-execution", "--name", "release")
    execution_id = started["pipelineExecutionId"]
    status = _until_finished(aws, execution_id)
    assert status == "Succeeded"

    state = aws.run("get-pipeline-state", "--name", "release")
    latest = {s["stageName"]: s["latestExecution"] for s in state["stageStates"]}
    assert latest["Build"]["pipelineExecutionId"] == execution_id
    assert latest["Build"]["status"] == "Succeeded"


def _until_finished(aws: AwsCli, execution_id: str) -> str:
    """The execution's final status, polled through the CLI until it ends (or a deadline)."""
    deadline = time.monotonic() + FINISHED_WITHIN_SECONDS
    while True:
        got = aws.run(
            "get-pipeline-execution",
            "--pipeline-name",
            "release",
            "--pipeline-execution-id",
            execution_id,
        )
        status = got["pipelineExecution"]["status"]
        if status not in ("InProgress", "Stopping"):
            return status
        assert time.monotonic() < deadline, f"{execution_id} still {status}"
        time.sleep(0.2)


def test_the_aws_cli_with_a_viewer_key_reads_but_is_refused_a_start_and_nothing_starts(
    served: tuple[Workspace, ApiServer], tmp_path: Path
) -> None:
    ws, server = served
    aws = AwsCli(tmp_path, server.url, *access_key(ws, "dashboard", "viewer"))

    assert aws.run("get-pipeline-state", "--name", "release")["pipelineName"] == "release"
    refused = aws.call("start-pipeline-execution", "--name", "release")

    assert refused.returncode != 0
    assert "AccessDeniedException" in refused.stderr
    assert "codepipeline:StartPipelineExecution" in refused.stderr
    listed = aws.run("list-pipeline-executions", "--pipeline-name", "release")
    assert listed["pipelineExecutionSummaries"] == []
