"""The API dispatcher on a real store through TestClient: what it refuses, and how."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import System, init_workspace
from engine.settings import Settings
from server.app import create_app
from server.errors import ApiError, invalid_signature
from server.identity import Principal, SignedRequest
from server.operations import OPERATIONS

with warnings.catch_warnings():  # Starlette would rather have httpx2, which is not installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TARGET = "CodePipeline_20150709."
JSON_11 = "application/x-amz-json-1.1"


def _pipeline(name: str = "flow") -> dict[str, Any]:
    approval = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    git = {"category": "Source", "owner": "AWS", "provider": "Git", "version": "1"}
    checkout = {
        "name": "Checkout",
        "actionTypeId": git,
        "configuration": {"Repository": "app", "BranchName": "main"},
        "outputArtifacts": [{"name": "Src"}],
    }
    return {
        "name": name,
        "roleArn": "arn:aws:iam::123456789012:role/local",
        "stages": [
            {"name": "Source", "actions": [checkout]},
            {"name": "Gate", "actions": [{"name": "Approve", "actionTypeId": approval}]},
            {"name": "Again", "actions": [{"name": "Approve", "actionTypeId": approval}]},
        ],
    }


class FixedKeys:
    """An authenticator that knows one principal per key id, from a header stand-in."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals

    def authenticate(self, request: SignedRequest) -> Principal:
        key = request.headers.get("x-test-key")
        if key is None:
            raise ApiError(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 403
            )
        if key not in self.principals:
            raise invalid_signature("The request signature we calculated does not match")
        return self.principals[key]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = init_workspace(Settings(home=tmp_path / ".conveyor"), env={})
    yield built
    built.close()


@pytest.fixture
def client(system: System) -> TestClient:
    return TestClient(create_app(system, authenticator=None), raise_server_exceptions=False)


def _post(
    client: TestClient, operation: str, body: Any, *, content_type: str = JSON_11, **headers: str
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/",
        content=raw,
        headers={"X-Amz-Target": TARGET + operation, "Content-Type": content_type, **headers},
    )


def _refusal(response: Any, status: int, type_: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_11
    body = response.json()
    assert set(body) == {"__type", "message"} and body["__type"] == type_
    return str(body["message"])


def test_a_request_without_a_target_is_an_unknown_operation(client: TestClient) -> None:
    response = client.post("/", content=b"{}", headers={"Content-Type": JSON_11})
    _refusal(response, 400, "UnknownOperationException")


def test_an_operation_codepipeline_does_not_have_is_unknown(client: TestClient) -> None:
    message = _refusal(_post(client, "LaunchRocket", {}), 400, "UnknownOperationException")
    assert "not an operation of CodePipeline" in message


def test_an_operation_conveyor_does_not_serve_says_so(client: TestClient) -> None:
    message = _refusal(_post(client, "PollForJobs", {}), 400, "UnknownOperationException")
    assert "does not serve" in message


def test_a_body_that_is_not_json_is_a_serialization_error(client: TestClient) -> None:
    _refusal(_post(client, "ListPipelines", b"{nope"), 400, "SerializationException")


def test_a_body_that_is_not_an_object_is_a_serialization_error(client: TestClient) -> None:
    _refusal(_post(client, "ListPipelines", [1, 2]), 400, "SerializationException")


def test_a_wrong_content_type_is_a_serialization_error(client: TestClient) -> None:
    response = _post(client, "ListPipelines", {}, content_type="text/plain")
    assert "application/x-amz-json-1.1" in _refusal(response, 400, "SerializationException")


def test_an_empty_body_is_an_empty_request(client: TestClient) -> None:
    response = _post(client, "ListPipelines", b"")
    assert response.status_code == 200 and response.json() == {"pipelines": []}


def test_a_missing_member_is_refused_in_aws_words(client: TestClient) -> None:
    message = _refusal(_post(client, "GetPipeline", {}), 400, "ValidationException")
    assert message == (
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_every_broken_member_is_counted_and_named(client: TestClient) -> None:
    body = {"pipelineName": "a b", "stageName": "S", "transitionType": "Sideways"}
    message = _refusal(_post(client, "EnableStageTransition", body), 400, "ValidationException")
    assert message.startswith("2 validation errors detected")
    assert "'pipelineName'" in message and "regular expression pattern" in message
    assert "'transitionType'" in message and "enum value set" in message


def test_a_wrong_type_or_range_names_the_member(client: TestClient) -> None:
    wrong_type = _post(client, "ListPipelines", {"maxResults": "ten"})
    assert "'maxResults'" in _refusal(wrong_type, 400, "ValidationException")
    too_many = _post(client, "ListPipelineExecutions", {"pipelineName": "p", "maxResults": 101})
    assert "less than or equal to 100" in _refusal(too_many, 400, "ValidationException")
    nested = {"name": "p", "variables": [{"name": "X", "value": 7}]}
    message = _refusal(_post(client, "StartPipelineExecution", nested), 400, "ValidationException")
    assert "'variables.1.member.value'" in message


def test_a_definition_breaking_the_rules_lists_every_problem(client: TestClient) -> None:
    broken = _pipeline()
    broken["stages"] = [
        {"name": "Gate", "actions": [{"name": "A", "actionTypeId": {"category": "Nope"}}]}
    ]
    message = _refusal(
        _post(client, "CreatePipeline", {"pipeline": broken}), 400, "InvalidStructureException"
    )
    assert "problems" in message and message.count("\n") >= 2


def test_a_bug_in_a_handler_is_an_internal_failure_not_a_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_: Any) -> dict[str, Any]:
        raise KeyError("oops")

    monkeypatch.setitem(OPERATIONS, "ListPipelines", broken)
    _refusal(_post(client, "ListPipelines", {}), 500, "InternalFailure")
    assert "KeyError" in capsys.readouterr().err


def test_anything_but_post_is_answered_in_aws_shape(client: TestClient) -> None:
    _refusal(client.get("/"), 404, "UnknownOperationException")
    assert client.get("/health").json() == {"status": "ok"}


def test_a_role_without_the_operation_is_denied_and_nothing_is_recorded(system: System) -> None:
    keys = FixedKeys({"v": Principal("vera", "viewer"), "a": Principal("ada", "admin")})
    client = TestClient(create_app(system, authenticator=keys), raise_server_exceptions=False)
    created = _post(client, "CreatePipeline", {"pipeline": _pipeline()}, **{"x-test-key": "a"})
    assert created.status_code == 200, created.text
    before = system.app.recorder.max_notification_id()

    denied = _post(client, "StartPipelineExecution", {"name": "flow"}, **{"x-test-key": "v"})
    message = _refusal(denied, 400, "AccessDeniedException")
    assert "vera" in message and "codepipeline:StartPipelineExecution" in message
    unsigned = _post(client, "StartPipelineExecution", {"name": "flow"})
    _refusal(unsigned, 403, "MissingAuthenticationTokenException")
    forged = _post(client, "DeletePipeline", {"name": "flow"}, **{"x-test-key": "x"})
    _refusal(forged, 403, "InvalidSignatureException")
    assert system.app.recorder.max_notification_id() == before

    read = _post(client, "GetPipelineState", {"name": "flow"}, **{"x-test-key": "v"})
    assert read.status_code == 200 and read.json()["pipelineName"] == "flow"


def test_the_key_name_is_who_did_it(system: System) -> None:
    keys = FixedKeys({"a": Principal("ada", "admin")})
    client = TestClient(create_app(system, authenticator=keys), raise_server_exceptions=False)
    headers = {"x-test-key": "a"}
    assert _post(client, "CreatePipeline", {"pipeline": _pipeline()}, **headers).status_code == 200
    body = {
        "pipelineName": "flow",
        "stageName": "Again",
        "transitionType": "Inbound",
        "reason": "freeze",
    }
    assert _post(client, "DisableStageTransition", body, **headers).status_code == 200
    state = _post(client, "GetPipelineState", {"name": "flow"}, **headers).json()
    transition = state["stageStates"][2]["inboundTransitionState"]
    assert transition["enabled"] is False and transition["lastChangedBy"] == "ada"
