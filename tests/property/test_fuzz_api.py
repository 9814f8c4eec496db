"""Fuzzing the API: bad bodies, targets and content types posted to every operation are refused
with a 4xx in AWS's error shape, never a 500, and never change the store.

The requests come from botocore's CodePipeline model (tests/property/api_requests.py): a body
that would succeed against the store below, with one fault put in it, or a document that is not
a JSON object at all. They go to the real Starlette app, in process, over a real SQLite store
that holds a pipeline waiting at an approval and one whose build failed, so every name, id and
token in a body is one the store knows. `make test` runs a modest number of cases per
operation; `make fuzz` the long profile (the README records the last run).
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bootstrap import System, init_workspace
from engine.service import CreatePipeline
from engine.settings import Settings
from server.app import create_app
from server.operations import OPERATIONS
from tests.property.api_requests import (
    Case,
    Known,
    bad_targets,
    headers_for,
    model,
    plain_body,
    requests_for,
)

with warnings.catch_warnings():  # Starlette would rather have httpx2, which is not installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

# A CreatePipeline body's name, made unique per request: a pipeline wrongly created by one case
# must not turn the next into a PipelineNameInUseException that hides its own fault.
FRESH = "fuzz-created"


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def _pipeline(name: str, bucket: Path, stages: list[dict[str, Any]]) -> dict[str, Any]:
    source = {
        "name": "Source",
        "actions": [
            {
                "name": "Object",
                "actionTypeId": _type("Source", "S3"),
                "configuration": {"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
                "outputArtifacts": [{"name": "Src"}],
            }
        ],
    }
    return {
        "name": name,
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "variables": [{"name": "Greeting", "defaultValue": "hello"}],
        "stages": [source, *stages],
    }


def _build(commands: str) -> dict[str, Any]:
    return {
        "name": "Build",
        "actions": [
            {
                "name": "Compile",
                "actionTypeId": _type("Build", "Shell"),
                "configuration": {"Commands": commands},
                "inputArtifacts": [{"name": "Src"}],
            }
        ],
    }


APPROVAL = {
    "name": "Approval",
    "actions": [{"name": "Approve", "actionTypeId": _type("Approval", "Manual")}],
}


class Store:
    """The workspace every case is posted against, and what it holds."""

    def __init__(self, root: Path) -> None:
        bucket = root / "bucket"
        bucket.mkdir()
        (bucket / "source.txt").write_text("hello\n")
        self.system: System = init_workspace(Settings(home=root / ".conveyor"), env={})
        self.demo = _pipeline("demo", bucket, [APPROVAL, _build("true")])
        self.waiting = self._run(self.demo)
        self.failed = self._run(_pipeline("failing", bucket, [_build("exit 3")]))
        execution = self.system.app.execution(self.waiting)
        assert execution.status == "InProgress", execution.status
        assert self.system.app.execution(self.failed).status == "Failed"
        (run,) = execution.in_progress_runs("Approval")
        self.token = run["token"]
        self.client = TestClient(create_app(self.system, authenticator=None))
        got = self.post("GetPipeline", {"name": "demo"})
        self.arn = got["metadata"]["pipelineArn"]

    def _run(self, document: dict[str, Any]) -> str:
        command = CreatePipeline(document, by="fuzz", start=True)
        _, execution_id = self.system.service().execute(command, drive=True)
        assert execution_id is not None
        return execution_id

    def post(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.post("/", content=json.dumps(body), headers=headers_for(operation))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def known(self, operation: str) -> Known:
        """The names in a body for `operation` that would make it succeed."""
        members: dict[str, Any] = {
            "name": "demo",
            "pipelineName": "demo",
            "stageName": "Build",
            "pipelineExecutionId": self.waiting,
            "actionName": "Approve",
            "token": self.token,
            "resourceArn": self.arn,
            "version": 1,
            "result": {"summary": "looks right", "status": "Approved"},
            "transitionType": "Inbound",
            "pipeline": {**self.demo, "name": FRESH}
            if operation == "CreatePipeline"
            else self.demo,
        }
        if operation == "PutApprovalResult":
            members["stageName"] = "Approval"
        if operation == "RetryStageExecution":
            members.update(pipelineName="failing", pipelineExecutionId=self.failed)
        shapes = {"PipelineExecutionId": self.waiting, "StageName": "Build", "ActionName": "Object"}
        return Known(members, shapes)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    made = Store(tmp_path_factory.mktemp("fuzz-api"))
    try:
        yield made
    finally:
        made.client.close()
        made.system.close()


_fresh = itertools.count()


def refused_unchanged(store: Store, case: Case) -> None:
    """Post the case: a 4xx in AWS's error shape, and not one event recorded."""
    body = case.body.replace(f'"{FRESH}"'.encode(), f'"{FRESH}-{next(_fresh)}"'.encode())
    before = store.system.app.recorder.max_notification_id()
    # Bytes, as they travel: a header value outside ASCII reaches the server as it was sent.
    headers = {name: value.encode() for name, value in case.headers.items()}
    answer = store.client.post("/", content=body, headers=headers)
    after = store.system.app.recorder.max_notification_id()
    assert 400 <= answer.status_code < 500, f"{answer.status_code} {answer.text[:500]}"
    document = answer.json()
    assert isinstance(document, dict), document
    assert isinstance(document.get("__type"), str), document
    assert isinstance(document.get("message"), str), document
    assert document["__type"] and document["message"], document
    assert after == before, f"refused with {document}, yet {after - before} events were recorded"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(data=st.data())
def test_a_bad_request_to_any_operation_is_refused_in_aws_shape_and_changes_nothing(
    store: Store, operation: str, data: st.DataObject
) -> None:
    case = data.draw(requests_for(operation, store.known(operation)), label="case")
    refused_unchanged(store, case)


UNSERVED = sorted(set(model().operation_names) - set(OPERATIONS))


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    case=bad_targets()
    | st.sampled_from(UNSERVED or ["Nope"]).map(
        lambda op: Case(op, b"{}", headers_for(op), "unserved")
    )
)
def test_a_missing_wrong_or_unserved_target_is_refused_in_aws_shape_and_changes_nothing(
    store: Store, case: Case
) -> None:
    refused_unchanged(store, case)


# Reads first, the delete last: each operation finds what the fuzz's store holds.
IN_ORDER = sorted(OPERATIONS, key=lambda op: (not op.startswith(("Get", "List")), op))
IN_ORDER.sort(key=lambda op: op == "DeletePipeline")


def test_without_its_fault_each_operations_body_succeeds(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The faults are the only thing wrong: every body they go into succeeds on its own
    (on a store of its own, so the fuzz's store stays as it is)."""
    fresh = Store(tmp_path_factory.mktemp("fuzz-api-plain"))
    try:
        for operation in IN_ORDER:
            fresh.post(operation, plain_body(operation, fresh.known(operation)))
    finally:
        fresh.client.close()
        fresh.system.close()
