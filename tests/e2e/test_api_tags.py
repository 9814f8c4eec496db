"""boto3 against a real `conveyor server`: tags, start tokens, source revisions, action types."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace
from tests.e2e.test_api_boto3 import ROLE, SOURCE, _type, ended
from tests.support.api_server import ApiServer, signed_api_server

ARN = "arn:aws:codepipeline:us-east-1:000000000000:{}"


def checked(name: str, check: str = "true") -> dict[str, Any]:
    """Git source, then a shell action that runs `check` in the source's tree."""
    action = {
        "name": "Check",
        "actionTypeId": _type("Build", "Shell"),
        "configuration": {"Commands": check},
        "inputArtifacts": [{"name": "Src"}],
    }
    return {
        "name": name,
        "roleArn": ROLE,
        "stages": [SOURCE, {"name": "Build", "actions": [action]}],
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    made = Workspace(tmp_path)
    made.write("app/app.txt", "one\n")
    made.git("app", "init", "-q", "-b", "main")
    made.git("app", "add", ".")
    made.git("app", "commit", "-q", "-m", "first")
    made.write("app/app.txt", "two\n")
    made.git("app", "commit", "-q", "-am", "second")
    return made


@pytest.fixture
def server(ws: Workspace) -> Iterator[ApiServer]:
    with signed_api_server(ws) as started:
        yield started


def executions_of(client: Any, name: str) -> list[str]:
    pages = client.get_paginator("list_pipeline_executions").paginate(pipelineName=name)
    return [s["pipelineExecutionId"] for p in pages for s in p["pipelineExecutionSummaries"]]


def test_tags_are_created_with_the_pipeline_added_listed_a_page_at_a_time_and_removed(
    server: ApiServer,
) -> None:
    client = server.client()
    created = client.create_pipeline(
        pipeline=checked("tagged"), tags=[{"key": "team", "value": "web"}]
    )
    assert created["tags"] == [{"key": "team", "value": "web"}]
    arn = ARN.format("tagged")
    client.tag_resource(
        resourceArn=arn, tags=[{"key": "tier", "value": "1"}, {"key": "owner", "value": ""}]
    )
    pages = client.get_paginator("list_tags_for_resource").paginate(
        resourceArn=arn, PaginationConfig={"PageSize": 2}
    )
    listed = [p["tags"] for p in pages]
    assert listed == [
        [{"key": "team", "value": "web"}, {"key": "tier", "value": "1"}],
        [{"key": "owner", "value": ""}],
    ]
    client.untag_resource(resourceArn=arn, tagKeys=["team", "never-there"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "tier", "value": "1"},
        {"key": "owner", "value": ""},
    ]


def test_each_refused_tag_request_raises_codepipelines_exception_and_changes_nothing(
    server: ApiServer,
) -> None:
    client = server.client()
    client.create_pipeline(pipeline=checked("tagged"), tags=[{"key": "keep", "value": "me"}])
    arn = ARN.format("tagged")
    errors = client.exceptions
    refusals = [
        (
            errors.InvalidTagsException,
            {"resourceArn": arn, "tags": [{"key": "aws:x", "value": ""}]},
        ),
        (
            errors.InvalidTagsException,
            {"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
        ),
        (
            errors.TooManyTagsException,
            {"resourceArn": arn, "tags": [{"key": f"k{i}", "value": ""} for i in range(50)]},
        ),
        (
            errors.ResourceNotFoundException,
            {"resourceArn": ARN.format("ghost"), "tags": [{"key": "a", "value": ""}]},
        ),
        # The model's pattern refuses a bare name; a CodePipeline ARN of another kind of
        # resource (a webhook's) passes it and is refused as not a pipeline's.
        (
            errors.ValidationException,
            {"resourceArn": "tagged", "tags": [{"key": "a", "value": ""}]},
        ),
        (
            errors.InvalidArnException,
            {
                "resourceArn": "arn:aws:codepipeline:us-east-1:000000000000:webhook:hook",
                "tags": [{"key": "a", "value": ""}],
            },
        ),
        (
            errors.ValidationException,
            {"resourceArn": arn, "tags": [{"key": "k" * 129, "value": ""}]},
        ),
    ]
    for exception, request in refusals:
        with pytest.raises(exception):
            client.tag_resource(**request)
    with pytest.raises(errors.InvalidTagsException):
        client.untag_resource(resourceArn=arn, tagKeys=["aws:x"])
    with pytest.raises(errors.ResourceNotFoundException):
        client.list_tags_for_resource(resourceArn=ARN.format("ghost"))
    with pytest.raises(errors.InvalidArnException):
        client.list_tags_for_resource(resourceArn=f"{arn}/Build/Check")
    with pytest.raises(errors.InvalidNextTokenException):
        client.list_tags_for_resource(resourceArn=arn, nextToken="forged")
    with pytest.raises(errors.TooManyTagsException):
        client.create_pipeline(
            pipeline=checked("crowded"),
            tags=[{"key": f"k{i}", "value": ""} for i in range(51)],
        )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "keep", "value": "me"}
    ]
    assert [p["name"] for p in client.list_pipelines()["pipelines"]] == ["tagged"]


def test_the_same_client_request_token_twice_starts_one_execution(server: ApiServer) -> None:
    client = server.client()
    client.create_pipeline(pipeline=checked("once"))
    first = client.start_pipeline_execution(name="once", clientRequestToken="deploy-2026-12-03")
    again = client.start_pipeline_execution(name="once", clientRequestToken="deploy-2026-12-03")
    assert again["pipelineExecutionId"] == first["pipelineExecutionId"]
    # boto3 sends a fresh token itself when none is given: every such call starts one.
    fresh = client.start_pipeline_execution(name="once")
    assert fresh["pipelineExecutionId"] != first["pipelineExecutionId"]
    started = executions_of(client, "once")
    assert len(started) == 3  # the create's, the token's, the fresh one
    assert started.count(first["pipelineExecutionId"]) == 1
    with pytest.raises(client.exceptions.ValidationException):
        client.start_pipeline_execution(name="once", clientRequestToken="no spaces allowed")


def test_a_commit_id_source_revision_runs_that_commit(ws: Workspace, server: ApiServer) -> None:
    client = server.client()
    client.create_pipeline(pipeline=checked("pinned", 'test "$(cat app.txt)" = one'))
    first = ws.git("app", "rev-list", "--max-parents=0", "HEAD")
    started = client.start_pipeline_execution(
        name="pinned",
        sourceRevisions=[
            {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": first}
        ],
    )["pipelineExecutionId"]
    ended(client, "pinned", started, "Succeeded")
    execution = client.get_pipeline_execution(pipelineName="pinned", pipelineExecutionId=started)
    revisions = execution["pipelineExecution"]["artifactRevisions"]
    assert [r["revisionId"] for r in revisions] == [first]
    before = len(executions_of(client, "pinned"))
    for wrong in (
        {"actionName": "Check", "revisionType": "COMMIT_ID", "revisionValue": first},
        {"actionName": "Checkout", "revisionType": "IMAGE_DIGEST", "revisionValue": "sha256:1"},
        {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": "main"},
    ):
        with pytest.raises(client.exceptions.ValidationException):
            client.start_pipeline_execution(name="pinned", sourceRevisions=[wrong])
    assert len(executions_of(client, "pinned")) == before


def test_list_action_types_gives_the_catalogue_with_its_owner_filter(server: ApiServer) -> None:
    client = server.client()
    pages = client.get_paginator("list_action_types").paginate()
    every = [t for p in pages for t in p["actionTypes"]]
    ids = [t["id"] for t in every]
    assert {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"} in ids
    assert {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"} in ids
    third = client.list_action_types(actionOwnerFilter="ThirdParty")["actionTypes"]
    assert {t["id"]["provider"] for t in third} == {"Git", "GitHub"}
    assert client.list_action_types(actionOwnerFilter="Custom")["actionTypes"] == []
