"""The botocore shape checker (tests/support/shapes.py) catches each kind of problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.shapes import assert_shape, operations, shape_problems

ARN = "arn:aws:codepipeline:us-east-1:000000000000:demo"
EXECUTION = "0b5d3a5e-1c2f-4d6a-9e8b-7f0a1b2c3d4e"


def state() -> dict[str, Any]:
    """A GetPipelineState response as CodePipeline writes it."""
    return {
        "pipelineName": "demo",
        "pipelineVersion": 1,
        "stageStates": [
            {
                "stageName": "Source",
                "inboundTransitionState": {"enabled": True},
                "latestExecution": {"pipelineExecutionId": EXECUTION, "status": "Succeeded"},
                "actionStates": [
                    {
                        "actionName": "Checkout",
                        "latestExecution": {
                            "actionExecutionId": "a1",
                            "status": "Succeeded",
                            "lastStatusChange": 1700000000.5,
                        },
                    }
                ],
            }
        ],
        "created": 1700000000,
        "updated": 1700000000.25,
    }


def metadata() -> dict[str, Any]:
    return {"metadata": {"pipelineArn": ARN, "created": 1700000000, "updated": 1700000001}}


def test_a_faithful_document_has_no_problems() -> None:
    assert shape_problems("GetPipelineState", state()) == []
    assert_shape("GetPipelineState", state())


def test_an_unknown_member_is_named_with_its_path() -> None:
    document = state()
    document["stageStates"][0]["stages"] = []
    assert shape_problems("GetPipelineState", document) == [
        "$.stageStates[0].stages: StageState has no member 'stages'"
    ]


def test_a_null_anywhere_is_a_problem() -> None:
    document = state()
    document["stageStates"][0]["actionStates"][0]["latestExecution"]["summary"] = None
    (problem,) = shape_problems("GetPipelineState", document)
    assert problem.startswith("$.stageStates[0].actionStates[0].latestExecution.summary: null")


def test_a_missing_required_member_is_a_problem() -> None:
    document = state()
    del document["stageStates"][0]["latestExecution"]["status"]
    (problem,) = shape_problems("GetPipelineState", document)
    assert "latestExecution.status: required" in problem


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("pipelineVersion",), "1", "expected an integer"),
        (("pipelineVersion",), True, "expected an integer"),
        (("pipelineName",), 7, "expected a string"),
        (("created",), "2024-01-01T00:00:00Z", "expected epoch seconds"),
        (("stageStates",), {}, "expected a list"),
        (("stageStates", 0, "inboundTransitionState"), [], "expected an object"),
        (("stageStates", 0, "inboundTransitionState", "enabled"), "yes", "expected a boolean"),
    ],
)
def test_a_wrong_type_is_a_problem(path: tuple[Any, ...], value: Any, expected: str) -> None:
    document = state()
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    (problem,) = shape_problems("GetPipelineState", document)
    assert expected in problem


def test_a_value_outside_the_enum_is_a_problem() -> None:
    document = state()
    document["stageStates"][0]["latestExecution"]["status"] = "Running"
    (problem,) = shape_problems("GetPipelineState", document)
    assert "'Running' is not one of StageExecutionStatus's" in problem


def test_a_string_breaking_the_pattern_is_a_problem() -> None:
    document = metadata()
    document["metadata"]["pipelineArn"] = "arn:conveyor:codepipeline:local:000000000000:demo"
    (problem,) = shape_problems("GetPipeline", {"pipeline": _declaration(), **document})
    assert problem.startswith("$.metadata.pipelineArn:") and "pattern" in problem


def test_a_string_too_short_or_too_long_is_a_problem() -> None:
    short, long_ = state(), state()
    short["stageStates"][0]["stageName"] = ""
    long_["stageStates"][0]["stageName"] = "S" * 101
    assert "below StageName's minimum 1" in shape_problems("GetPipelineState", short)[0]
    assert "above StageName's maximum 100" in shape_problems("GetPipelineState", long_)[0]


def test_a_number_below_the_minimum_is_a_problem() -> None:
    document = state()
    document["stageStates"][0]["retryStageMetadata"] = {
        "autoStageRetryAttempt": 0,
        "manualStageRetryAttempt": 1,
        "latestRetryTrigger": "ManualStageRetry",
    }
    (problem,) = shape_problems("GetPipelineState", document)
    assert "autoStageRetryAttempt: 0, below RetryAttempt's minimum 1" in problem


def test_a_map_checks_its_keys_and_values() -> None:
    document = {
        "pipeline": _declaration(configuration={"RepositoryName": 5, "": "x"}),
        **metadata(),
    }
    problems = shape_problems("GetPipeline", document)
    assert any("configuration['RepositoryName']: expected a string" in p for p in problems)
    assert any("configuration<key ''>" in p and "minimum 1" in p for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    document = state()
    document["pipelineVersion"] = 0
    document["extra"] = 1
    del document["stageStates"][0]["latestExecution"]["status"]
    assert len(shape_problems("GetPipelineState", document)) == 3


def test_assert_shape_names_the_operation_and_every_problem() -> None:
    document = copy.deepcopy(state())
    document["updated"] = None
    with pytest.raises(AssertionError, match=r"GetPipelineState .*\n  \$\.updated: null"):
        assert_shape("GetPipelineState", document)


def test_an_operation_without_output_accepts_only_an_empty_document() -> None:
    assert shape_problems("DeletePipeline", {}) == []
    assert shape_problems("DeletePipeline", {"deleted": True}) != []


def test_the_model_names_the_operations_the_issue_lists() -> None:
    assert {"GetPipeline", "ListActionExecutions", "PutApprovalResult"} <= set(operations())


def _declaration(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    action = {
        "name": "Checkout",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeCommit",
            "version": "1",
        },
        "configuration": configuration or {"RepositoryName": "demo"},
        "outputArtifacts": [{"name": "Src"}],
    }
    return {
        "name": "demo",
        "roleArn": "arn:aws:iam::000000000000:role/demo",
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [{"name": "Source", "actions": [action]}],
        "version": 1,
    }
