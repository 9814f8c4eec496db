"""Tags, start request tokens and source revisions: the aggregate's rules, each refusal silent."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import (
    InvalidArnException,
    InvalidTagsException,
    TooManyTagsException,
    ValidationException,
)
from domain.pipeline import ENDED_KEPT
from domain.starts import check_client_request_token, check_source_revisions
from domain.tags import MAX_TAGS, pipeline_name_of
from domain.validation import parse_definition
from engine.application.action_types import ActionTypeQueries
from tests.harness import definition, shell_action, source_action
from tests.support.aggregates import T0, World, at, eid, three_stages

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tags(**pairs: str) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in pairs.items()]


def quiet_world() -> World:
    world = World(three_stages())
    world.pipeline.collect_events()
    return world


def test_tagging_records_one_event_with_the_new_tags_and_who_tagged() -> None:
    world = quiet_world()
    assert world.pipeline.tag(tags(team="web", tier="1"), by="ops", now=T0)
    (event,) = world.pipeline.collect_events()
    assert type(event).__name__ == "PipelineTagged"
    assert event.tags == {"team": "web", "tier": "1"} and event.by == "ops"
    assert world.pipeline.resource_tags == {"team": "web", "tier": "1"}


def test_a_tag_given_again_with_a_new_value_records_only_that_change() -> None:
    world = quiet_world()
    world.pipeline.tag(tags(team="web", tier="1"), by="ops", now=T0)
    world.pipeline.collect_events()
    world.pipeline.tag(tags(team="web", tier="2"), by="ops", now=T0)
    (event,) = world.pipeline.collect_events()
    assert event.tags == {"tier": "2"}
    assert world.pipeline.resource_tags == {"team": "web", "tier": "2"}


def test_tags_that_change_nothing_record_nothing() -> None:
    world = quiet_world()
    world.pipeline.tag(tags(team="web"), by="ops", now=T0)
    world.pipeline.collect_events()
    assert world.pipeline.tag(tags(team="web"), by="ops", now=T0) is False
    assert world.pipeline.untag(["absent"], by="ops", now=T0) is False
    assert world.pipeline.collect_events() == []


@pytest.mark.parametrize(
    ("bad", "error", "names"),
    [
        ([{"key": "aws:owner", "value": "x"}], InvalidTagsException, "tags[0].key"),
        ([{"key": "AWS:owner", "value": "x"}], InvalidTagsException, "tags[0].key"),
        ([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}], InvalidTagsException, "tags[1]"),
        ([{"key": "", "value": "x"}], ValidationException, "tags[0].key"),
        ([{"key": "k" * 129, "value": "x"}], ValidationException, "tags[0].key"),
        ([{"key": "k", "value": "v" * 257}], ValidationException, "tags[0].value"),
        ([{"key": "k"}], ValidationException, "tags[0].value"),
    ],
)
def test_a_bad_tag_is_refused_naming_it_and_nothing_is_recorded(
    bad: list[dict[str, Any]], error: type[Exception], names: str
) -> None:
    world = quiet_world()
    with pytest.raises(error, match=names.replace("[", r"\[").replace("]", r"\]")):
        world.pipeline.tag(bad, by="ops", now=T0)
    assert world.pipeline.collect_events() == [] and world.pipeline.resource_tags == {}


def test_the_longest_key_and_value_and_an_empty_value_are_allowed() -> None:
    world = quiet_world()
    world.pipeline.tag(
        [{"key": "k" * 128, "value": "v" * 256}, {"key": "e", "value": ""}], by="ops", now=T0
    )
    assert world.pipeline.resource_tags["e"] == ""


def test_a_fifty_first_tag_is_too_many_and_nothing_is_recorded() -> None:
    world = quiet_world()
    world.pipeline.tag([{"key": f"k{i}", "value": ""} for i in range(MAX_TAGS)], by="o", now=T0)
    world.pipeline.collect_events()
    with pytest.raises(TooManyTagsException, match="51 tags"):
        world.pipeline.tag(tags(one_more="x"), by="ops", now=T0)
    assert world.pipeline.collect_events() == []
    # Overwriting one of the fifty is not a new tag.
    assert world.pipeline.tag(tags(k0="changed"), by="ops", now=T0)


def test_untagging_removes_the_keys_present_and_refuses_a_reserved_key() -> None:
    world = quiet_world()
    world.pipeline.tag(tags(team="web", tier="1"), by="ops", now=T0)
    world.pipeline.collect_events()
    with pytest.raises(InvalidTagsException, match="reserved"):
        world.pipeline.untag(["aws:cloudformation:stack-name"], by="ops", now=T0)
    with pytest.raises(InvalidTagsException, match="twice"):
        world.pipeline.untag(["team", "team"], by="ops", now=T0)
    assert world.pipeline.collect_events() == []
    assert world.pipeline.untag(["team", "absent"], by="ops", now=T0)
    (event,) = world.pipeline.collect_events()
    assert event.keys == ["team"] and world.pipeline.resource_tags == {"tier": "1"}


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:codepipeline:us-east-1:000000000000:demo",
        "arn:aws:codepipeline:eu-west-3:123456789012:demo",
        "arn:aws-us-gov:codepipeline:us-gov-west-1:123456789012:demo",
    ],
)
def test_a_pipeline_arn_names_its_pipeline_whatever_its_region_and_account(arn: str) -> None:
    assert pipeline_name_of(arn) == "demo"


@pytest.mark.parametrize(
    "arn",
    [
        "demo",
        "arn:aws:s3:::bucket",
        "arn:aws:codepipeline:us-east-1:000000000000:",
        "arn:aws:codepipeline:us-east-1:000000000000:demo/Stage/Action",
        "arn:conveyor:pipeline:demo",
    ],
)
def test_anything_but_a_pipeline_arn_is_an_invalid_arn(arn: str) -> None:
    with pytest.raises(InvalidArnException, match="resourceArn"):
        pipeline_name_of(arn)


@pytest.mark.parametrize("token", ["", "a" * 129, "has space", "under_score", "é"])
def test_a_client_request_token_outside_its_pattern_is_refused(token: str) -> None:
    with pytest.raises(ValidationException, match="clientRequestToken"):
        check_client_request_token(token)


def test_a_recorded_token_names_its_execution_until_the_pipeline_forgets_the_execution() -> None:
    world = quiet_world()
    first = world.start(1)
    world.pipeline.record_request_token("deploy-1", first.execution_id, at(1))
    assert world.pipeline.execution_for_token("deploy-1") == first.execution_id
    assert world.pipeline.execution_for_token("deploy-2") is None
    world.pipeline.deactivate(first.execution_id, at(2))
    assert world.pipeline.execution_for_token("deploy-1") == first.execution_id
    # ENDED_KEPT later executions end: the first leaves `recent`, and its token with it.
    for n in range(2, ENDED_KEPT + 3):
        later = world.start(n)
        world.pipeline.deactivate(later.execution_id, at(n))
    assert first.execution_id not in world.pipeline.recent
    assert world.pipeline.execution_for_token("deploy-1") is None
    world.pipeline.record_request_token("deploy-9", eid(ENDED_KEPT + 2), at(200))
    assert set(world.pipeline.request_tokens) == {"deploy-9"}


def two_sources() -> Any:
    s3 = {
        "name": "Object",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
        "outputArtifacts": [{"name": "Obj"}],
    }
    document = definition([("Source", [source_action(), s3]), ("Build", [shell_action("Compile")])])
    return parse_definition(document)


def test_a_commit_id_for_the_git_source_and_a_key_for_the_s3_source_are_accepted() -> None:
    asked = [
        {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": COMMIT},
        {"actionName": "Object", "revisionType": "S3_OBJECT_KEY", "revisionValue": "other.zip"},
    ]
    assert check_source_revisions(asked, two_sources()) == asked


@pytest.mark.parametrize(
    ("override", "names"),
    [
        (
            {"actionName": "Nope", "revisionType": "COMMIT_ID", "revisionValue": COMMIT},
            r"sourceRevisions\[0\].actionName 'Nope'",
        ),
        (
            {"actionName": "Compile", "revisionType": "COMMIT_ID", "revisionValue": COMMIT},
            r"sourceRevisions\[0\].actionName 'Compile'",
        ),
        (
            {"actionName": "Checkout", "revisionType": "IMAGE_DIGEST", "revisionValue": "sha256:1"},
            r"sourceRevisions\[0\].revisionType 'IMAGE_DIGEST'",
        ),
        (
            {"actionName": "Object", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": "v1"},
            r"sourceRevisions\[0\].revisionType 'S3_OBJECT_VERSION_ID'",
        ),
        (
            {"actionName": "Checkout", "revisionType": "BRANCH", "revisionValue": "main"},
            r"sourceRevisions\[0\].revisionType 'BRANCH'",
        ),
        (
            {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": "main"},
            r"sourceRevisions\[0\].revisionValue 'main'",
        ),
        (
            {
                "actionName": "Checkout",
                "revisionType": "COMMIT_ID",
                "revisionValue": "--upload-pack=x",
            },
            r"sourceRevisions\[0\].revisionValue",
        ),
        (
            {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": COMMIT[:7]},
            r"sourceRevisions\[0\].revisionValue",
        ),
        (
            {"actionName": "Object", "revisionType": "S3_OBJECT_KEY", "revisionValue": "../x.zip"},
            r"sourceRevisions\[0\].revisionValue",
        ),
        (
            {"actionName": "Checkout", "revisionType": "COMMIT_ID"},
            r"sourceRevisions\[0\].revisionValue: required",
        ),
    ],
)
def test_a_source_revision_the_pipeline_cannot_run_is_refused_naming_the_member(
    override: dict[str, str], names: str
) -> None:
    with pytest.raises(ValidationException, match=names):
        check_source_revisions([override], two_sources())


def test_one_source_action_named_twice_is_refused() -> None:
    one = {"actionName": "Checkout", "revisionType": "COMMIT_ID", "revisionValue": COMMIT}
    with pytest.raises(ValidationException, match=r"sourceRevisions\[1\].*twice"):
        check_source_revisions([one, one], two_sources())


def test_list_action_types_gives_every_built_in_type_in_codepipeline_shape() -> None:
    types = ActionTypeQueries().list_action_types()
    ids = {(t["id"]["category"], t["id"]["owner"], t["id"]["provider"]) for t in types}
    assert ("Source", "AWS", "CodeCommit") in ids and ("Approval", "AWS", "Manual") in ids
    for item in types:
        assert set(item) == {
            "id",
            "actionConfigurationProperties",
            "inputArtifactDetails",
            "outputArtifactDetails",
        }
        assert 0 <= item["inputArtifactDetails"]["minimumCount"] <= 5
        for prop in item["actionConfigurationProperties"]:
            assert {"name", "required", "key", "secret"} <= set(prop)
            assert 1 <= len(prop["description"]) <= 160
    third_party = ActionTypeQueries().list_action_types("ThirdParty")
    assert third_party and all(t["id"]["owner"] == "ThirdParty" for t in third_party)
    assert ActionTypeQueries().list_action_types("Custom") == []
    with pytest.raises(ValidationException, match="actionOwnerFilter"):
        ActionTypeQueries().list_action_types("Amazon")
