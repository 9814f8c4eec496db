"""Each built-in provider's required configuration is checked when a definition is validated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain import catalogue
from domain.errors import InvalidDefinition, Problem, ValidationException
from domain.validation import parse_definition
from domain.validation.jsontext import MAX_DEPTH, JsonTextError, loads
from domain.variables import OVERRIDE_MAX, execution_variables


def action(
    name: str,
    category: str,
    provider: str,
    configuration: dict[str, Any] | None = None,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": category,
            "owner": "AWS",
            "provider": provider,
            "version": "1",
        },
        "inputArtifacts": [{"name": artifact} for artifact in inputs],
        "outputArtifacts": [{"name": artifact} for artifact in outputs],
        **extra,
    }
    if configuration is not None:
        found["configuration"] = configuration
    return found


GIT = {"RepositoryName": "app", "BranchName": "main"}


def definition(source: dict[str, Any], *second: dict[str, Any]) -> dict[str, Any]:
    build = second or (action("Build", "Build", "Shell", {"Commands": "make"}, inputs=("Src",)),)
    return {
        "name": "demo",
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Next", "actions": list(build)},
        ],
    }


def problems(document: dict[str, Any] | str) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(document)
    return list(caught.value.problems)


def git_source(configuration: dict[str, Any]) -> dict[str, Any]:
    return action(
        "Checkout",
        "Source",
        "CodeCommit",
        configuration,
        outputs=("Src",),
        namespace="SourceVariables",
    )


def test_a_shell_action_without_commands_is_refused_at_validate_naming_the_key() -> None:
    shell = action("Build", "Build", "Shell", {}, inputs=("Src",))
    [problem] = problems(definition(git_source(GIT), shell))
    assert problem.path == "pipeline.stages[1].actions[0].configuration.Commands"
    assert problem.rule == "configuration.required"
    assert "'Build' (Build Shell) needs the commands to run" in problem.message


def test_a_shell_action_with_only_the_commands_field_is_accepted() -> None:
    shell = action("Build", "Build", "Shell", None, inputs=("Src",), commands=["make"])
    parse_definition(definition(git_source(GIT), shell))


def test_blank_commands_count_as_missing() -> None:
    shell = action("Build", "Build", "Shell", {"Commands": "  \n "}, inputs=("Src",))
    [problem] = problems(definition(git_source(GIT), shell))
    assert problem.rule == "configuration.required"


def test_a_git_source_without_a_branch_is_refused_at_validate() -> None:
    [problem] = problems(definition(git_source({"RepositoryName": "app"})))
    assert problem.path == "pipeline.stages[0].actions[0].configuration.BranchName"
    assert "needs the branch: set BranchName or Branch" in problem.message


def test_a_git_source_without_a_repository_is_refused_at_validate() -> None:
    [problem] = problems(definition(git_source({"BranchName": "main"})))
    assert problem.path == "pipeline.stages[0].actions[0].configuration.RepositoryUrl"
    assert "needs the repository" in problem.message


def test_github_owner_and_repo_with_branch_name_the_repository() -> None:
    github = git_source({"Owner": "me", "Repo": "app", "Branch": "main"})
    github["actionTypeId"].update(owner="ThirdParty", provider="GitHub")
    parse_definition(definition(github))


def test_an_s3_source_without_bucket_or_key_is_refused_at_validate() -> None:
    s3 = action("Object", "Source", "S3", {}, outputs=("Src",))
    found = {(p.path, p.rule) for p in problems(definition(s3))}
    assert found == {
        ("pipeline.stages[0].actions[0].configuration.S3Bucket", "configuration.required"),
        ("pipeline.stages[0].actions[0].configuration.S3ObjectKey", "configuration.required"),
    }


def test_an_s3_deploy_without_a_bucket_is_refused_at_validate() -> None:
    deploy = action("Ship", "Deploy", "S3", {"Extract": "true"}, inputs=("Src",))
    [problem] = problems(definition(git_source(GIT), deploy))
    assert problem.path == "pipeline.stages[1].actions[0].configuration.BucketName"
    assert "needs the bucket" in problem.message


def codebuild(environment: str) -> dict[str, Any]:
    return action(
        "Compile", "Build", "CodeBuild", {"EnvironmentVariables": environment}, inputs=("Src",)
    )


@pytest.mark.parametrize(
    ("environment", "said"),
    [
        ("not json", "not valid JSON"),
        ('{"name": "A", "value": "1"}', "not an object"),
        ("[1]", "entry 0 is a number"),
        ('[{"value": "1"}]', "entry 0 needs a 'name'"),
        ('[{"name": "A"}]', "entry 0 needs a 'value'"),
        ('[{"name": "A", "value": "1", "type": "SECRET"}]', "entry 0 has type SECRET"),
        ('[{"name": "A", "value": "1", "extra": 1}]', "unknown field 'extra'"),
        ('[{"name": "A", "name": "B", "value": "1"}]', "appears more than once"),
    ],
)
def test_environment_variables_that_are_not_a_list_of_name_value_type_objects_are_refused(
    environment: str, said: str
) -> None:
    [problem] = problems(definition(git_source(GIT), codebuild(environment)))
    assert problem.path == "pipeline.stages[1].actions[0].configuration.EnvironmentVariables"
    assert problem.rule == "configuration.environment-variables"
    assert said in problem.message


def test_environment_variables_with_references_and_secret_types_are_accepted() -> None:
    entries = [
        {"name": "COMMIT", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"},
        {"name": "TOKEN", "value": "deploy-token", "type": "SECRETS_MANAGER"},
        {"name": "PLAIN", "value": "x"},
    ]
    parse_definition(definition(git_source(GIT), codebuild(json.dumps(entries))))


def test_every_builtin_kind_that_needs_configuration_declares_it_in_the_catalogue() -> None:
    needs = {spec.kind for spec in catalogue.specs() if spec.required}
    assert needs == {"git-source", "s3-source", "s3-deploy", "shell"}
    assert {spec.kind for spec in catalogue.specs() if spec.environment_keys} == {"codebuild"}


def test_a_duplicate_key_in_a_definition_is_refused_naming_the_key_and_its_path() -> None:
    text = json.dumps(definition(git_source(GIT)))
    doubled = text.replace('"BranchName": "main"', '"BranchName": "main", "BranchName": "dev"')
    [problem] = problems(doubled)
    assert problem.path == "$.stages[0].actions[0].configuration.BranchName"
    assert problem.rule == "json.duplicate-key"
    assert "'BranchName' appears more than once" in problem.message


def test_json_nested_past_the_limit_is_one_problem_not_a_recursion_error() -> None:
    loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(JsonTextError) as caught:
            loads("[" * depth + "]" * depth)
        assert [p.rule for p in caught.value.problems] == ["json.depth"]


def test_an_integer_longer_than_python_converts_is_one_problem() -> None:
    [problem] = problems('{"name": ' + "7" * 5000 + "}")
    assert problem.rule == "json.number"
    assert "more than 4300 digits" in problem.message


def test_a_variable_override_over_1000_characters_is_refused_naming_the_variable() -> None:
    assert execution_variables({"Tag": None}, {"Tag": "x" * OVERRIDE_MAX}) == {
        "Tag": "x" * OVERRIDE_MAX
    }
    with pytest.raises(ValidationException) as caught:
        execution_variables({"Tag": None}, {"Tag": "x" * (OVERRIDE_MAX + 1)})
    assert "variables.Tag: the value has 1001 characters; at most 1000" in caught.value.message
