"""A real `conveyor server` in signed mode: access keys made with the CLI, checked per request.

Each refusal the issue names (unsigned, a wrong secret, a revoked key, a 20-minute-old
signature, a viewer starting an execution) gets AWS's error, and the event log is the same
after all of them as before.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import botocore
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.cli import Workspace
from tests.support.api_server import REGION, ApiServer, api_server
from tests.support.sigv4 import signed_headers

ROLE_ARN = "arn:aws:iam::123456789012:role/local"
KEY_LINE = re.compile(r"aws_access_key_id\s*=\s*(AKIA[A-Z0-9]{16})")
SECRET_LINE = re.compile(r"aws_secret_access_key\s*=\s*(\S+)")
WITHIN = 60.0


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


# Git source, then a manual approval: once it waits there, nothing changes the store by itself.
GATED = {
    "name": "gated",
    "roleArn": ROLE_ARN,
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
            "name": "Approval",
            "actions": [{"name": "Ship", "actionTypeId": _type("Approval", "Manual")}],
        },
    ],
}


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WITHIN
    while not (found := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {WITHIN} s")
        time.sleep(0.1)
    return found


def create_key(ws: Workspace, name: str, role: str) -> tuple[str, str]:
    done = ws.run("access-key", "create", "--name", name, "--role", role)
    key_id, secret = KEY_LINE.search(done.stdout), SECRET_LINE.search(done.stdout)
    assert key_id and secret, done.stdout
    return key_id.group(1), secret.group(1)


def log_head(ws: Workspace) -> tuple[int, int]:
    """How many events the store holds and the last one's position, from a signed export."""
    head = json.loads(ws.run("audit", "--all", "--json").stdout.splitlines()[0])
    return head["records"], head["lastPosition"]


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    status = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], error["Message"], status


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    made = Workspace(tmp_path)
    made.write("app/app.txt", "the application\n")
    made.git("app", "init", "-q", "-b", "main")
    made.git("app", "add", ".")
    made.git("app", "commit", "-q", "-m", "first")
    return made


@pytest.fixture
def keys(ws: Workspace) -> dict[str, tuple[str, str]]:
    return {
        "admin": create_key(ws, "release-admin", "admin"),
        "viewer": create_key(ws, "dashboard", "viewer"),
        "retired": create_key(ws, "old-ci", "operator"),
    }


@pytest.fixture
def server(ws: Workspace, keys: dict[str, tuple[str, str]]) -> Iterator[ApiServer]:
    with api_server(ws, insecure=False) as started:
        yield started


def gated_and_waiting(server: ApiServer, admin: Any) -> str:
    """The gated pipeline, created by the admin key, its first execution waiting at Ship."""
    admin.create_pipeline(pipeline=GATED)

    def waiting() -> str | None:
        stages = admin.get_pipeline_state(name="gated")["stageStates"]
        ship = stages[1].get("actionStates", [{}])[0].get("latestExecution", {})
        return ship.get("token") if ship.get("status") == "InProgress" else None

    return str(until(waiting, "the approval waits"))


def test_a_signed_admin_key_drives_the_api_and_its_name_is_the_by_of_the_events_it_causes(
    ws: Workspace, server: ApiServer, keys: dict[str, tuple[str, str]]
) -> None:
    admin = server.client(*keys["admin"])
    gated_and_waiting(server, admin)
    assert admin.list_pipelines()["pipelines"][0]["name"] == "gated"
    records = [json.loads(line) for line in ws.run("audit", "--json").stdout.splitlines()[1:]]
    by_key = [r["event"] for r in records if r["actor"] == "release-admin"]
    assert "PipelineCreated" in by_key and "ExecutionStarted" in by_key


def test_the_server_refuses_each_bad_request_with_awss_error_and_the_store_is_unchanged(
    ws: Workspace, server: ApiServer, keys: dict[str, tuple[str, str]]
) -> None:
    admin = server.client(*keys["admin"])
    gated_and_waiting(server, admin)
    retired = server.client(*keys["retired"])
    assert retired.list_pipelines()["pipelines"]  # a live key works ...
    ws.run("access-key", "revoke", "old-ci")  # ... until it is revoked, by another process
    executions = admin.list_pipeline_executions(pipelineName="gated")["pipelineExecutionSummaries"]
    before = log_head(ws)

    refusals = {
        "unsigned": error_of(lambda: unsigned(server).start_pipeline_execution(name="gated")),
        "wrong secret": error_of(
            lambda: server.client(keys["admin"][0], "x" * 40).start_pipeline_execution(name="gated")
        ),
        "revoked": error_of(lambda: retired.start_pipeline_execution(name="gated")),
        "20 minutes old": error_of(lambda: twenty_minutes_ago(admin.start_pipeline_execution)),
        "viewer starts": error_of(
            lambda: server.client(*keys["viewer"]).start_pipeline_execution(name="gated")
        ),
    }
    assert {case: code for case, (code, _, _) in refusals.items()} == {
        "unsigned": "MissingAuthenticationTokenException",
        "wrong secret": "InvalidSignatureException",
        "revoked": "UnrecognizedClientException",
        "20 minutes old": "InvalidSignatureException",
        "viewer starts": "AccessDeniedException",
    }
    assert refusals["unsigned"][2] == 403
    assert refusals["wrong secret"][1].startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert refusals["20 minutes old"][1].startswith("Signature expired: ")
    assert "is now earlier than" in refusals["20 minutes old"][1]
    assert refusals["viewer starts"][1] == (
        "User: dashboard is not authorized to perform: codepipeline:StartPipelineExecution"
    )
    assert log_head(ws) == before
    after = admin.list_pipeline_executions(pipelineName="gated")["pipelineExecutionSummaries"]
    assert after == executions


def test_a_viewer_key_may_read_what_it_may_not_change(
    server: ApiServer, keys: dict[str, tuple[str, str]]
) -> None:
    token = gated_and_waiting(server, server.client(*keys["admin"]))
    viewer = server.client(*keys["viewer"])
    assert viewer.get_pipeline_state(name="gated")["pipelineName"] == "gated"
    code, _, _ = error_of(
        lambda: viewer.put_approval_result(
            pipelineName="gated",
            stageName="Approval",
            actionName="Ship",
            result={"summary": "ok", "status": "Approved"},
            token=token,
        )
    )
    assert code == "AccessDeniedException"


def test_a_hand_made_request_signed_twenty_minutes_ago_gets_awss_expiry_message(
    server: ApiServer, keys: dict[str, tuple[str, str]]
) -> None:
    key_id, secret = keys["admin"]
    now = datetime.now(UTC)
    headers = signed_headers(
        server.url + "/", "ListPipelines", b"{}", key_id, secret, at=now - timedelta(minutes=20)
    )
    answer = httpx.post(server.url + "/", content=b"{}", headers=headers, timeout=30)
    assert answer.status_code == 403
    body = answer.json()
    assert body["__type"] == "InvalidSignatureException"
    assert re.fullmatch(
        r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
        r"\(\d{8}T\d{6}Z - 5 min\.\)",
        body["message"],
    )


def test_a_plain_post_without_any_signature_is_refused_before_anything_is_read(
    server: ApiServer,
) -> None:
    answer = httpx.post(
        server.url + "/",
        content=json.dumps({"pipeline": GATED}),
        headers={
            "X-Amz-Target": "CodePipeline_20150709.CreatePipeline",
            "Content-Type": "application/x-amz-json-1.1",
        },
        timeout=30,
    )
    assert (answer.status_code, answer.json()["__type"]) == (
        403,
        "MissingAuthenticationTokenException",
    )


def unsigned(server: ApiServer) -> Any:
    import boto3

    return boto3.client(
        "codepipeline",
        endpoint_url=server.url,
        region_name=REGION,
        config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}),
    )


def twenty_minutes_ago(call: Callable[..., Any]) -> Any:
    """The call as boto3 makes it from a machine whose clock is 20 minutes slow."""
    slow = datetime.now(UTC) - timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=slow):
        return call(name="gated")


def test_a_signed_server_with_no_keys_says_so_as_it_starts_and_refuses_every_request(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    with api_server(ws, insecure=False) as server:
        code, _, _ = error_of(lambda: server.client("AKIA" + "0" * 16, "x" * 40).list_pipelines())
    assert code == "UnrecognizedClientException"
    banner = "".join(server.stdout)
    assert "no live access keys" in banner and "INSECURE" not in banner
