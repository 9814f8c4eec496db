"""Pipeline definitions: parsing, defaults, every validation rule, the catalogue, the schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import catalogue
from domain.definition import PipelineDeclaration
from domain.errors import InvalidDefinition, Problem, ValidationException
from domain.validation import Limits, parse_definition, pipeline_json_schema
from tests.strategies import valid_definitions

# ----- builders -------------------------------------------------------------------------------


def source(name: str = "Checkout", output: str = "SourceOut", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeCommit",
            "version": "1",
        },
        "configuration": {"RepositoryName": "app", "BranchName": "main"},
        "outputArtifacts": [{"name": output}],
        **extra,
    }


def shell(
    name: str,
    inputs: tuple[str, ...] = ("SourceOut",),
    outputs: tuple[str, ...] = (),
    *,
    category: str = "Build",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": "Shell", "version": "1"},
        "configuration": {"Commands": "make"},
        "inputArtifacts": [{"name": artifact} for artifact in inputs],
        "outputArtifacts": [{"name": artifact} for artifact in outputs],
        **extra,
    }


def approval(name: str = "Approve", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {
            "category": "Approval",
            "owner": "AWS",
            "provider": "Manual",
            "version": "1",
        },
        **extra,
    }


def pipeline(*stages: tuple[str, list[dict[str, Any]]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "demo",
        "stages": [{"name": name, "actions": actions} for name, actions in stages],
        **extra,
    }


def simple(**extra: Any) -> dict[str, Any]:
    return pipeline(
        ("Source", [source()]),
        ("Build", [shell("Compile", outputs=("BuildOut",))]),
        **extra,
    )


def problems_of(source: Any, limits: Limits = Limits()) -> list[Problem]:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(source, limits)
    return list(caught.value.problems)


def rules_at(source: Any, limits: Limits = Limits()) -> set[tuple[str, str]]:
    return {(p.path, p.rule) for p in problems_of(source, limits)}


def only_problem(source: Any, limits: Limits = Limits()) -> Problem:
    problems = problems_of(source, limits)
    assert len(problems) == 1, problems
    return problems[0]


# ----- the acceptance cases ---------------------------------------------------------


def test_a_pipeline_without_a_source_stage_is_refused_at_the_first_stage() -> None:
    document = pipeline(
        ("Build", [shell("Compile", inputs=())]), ("Test", [shell("Check", inputs=())])
    )
    problem = only_problem(document)
    assert (problem.path, problem.rule) == ("pipeline.stages[0]", "stage.first-must-be-source")
    assert "source action" in problem.message


def test_a_pipeline_with_one_stage_is_refused_with_the_stage_count_rule() -> None:
    document = pipeline(("Source", [source()]))
    found = rules_at(document)
    assert ("pipeline.stages", "stages.count") in found
    message = next(p.message for p in problems_of(document) if p.rule == "stages.count")
    assert "1 stage" in message and "at least 2" in message


def test_a_pipeline_with_eleven_stages_is_refused_by_default_and_accepted_when_configured() -> None:
    stages = [("Source", [source()])] + [(f"S{i}", [shell(f"A{i}")]) for i in range(1, 11)]
    document = pipeline(*stages)
    problem = only_problem(document)
    assert (problem.path, problem.rule) == ("pipeline.stages", "stages.count")
    assert "11 stages" in problem.message and "at most 10" in problem.message
    assert len(parse_definition(document, Limits(max_stages=11)).stages) == 11


def test_a_duplicated_output_artifact_name_is_refused_at_the_second_producer() -> None:
    document = pipeline(
        ("Source", [source()]),
        ("Build", [shell("Compile", outputs=("Out",)), shell("Lint", outputs=("Out",))]),
    )
    problem = only_problem(document)
    assert problem.path == "pipeline.stages[1].actions[1].outputArtifacts[0]"
    assert problem.rule == "artifact.output-unique"
    assert "'Compile'" in problem.message


def test_an_input_produced_by_a_later_stage_is_refused_naming_the_producer() -> None:
    document = pipeline(
        ("Source", [source()]),
        ("Build", [shell("Compile", inputs=("BuildOut",))]),
        ("Deploy", [shell("Package", outputs=("BuildOut",))]),
    )
    problem = only_problem(document)
    assert problem.path == "pipeline.stages[1].actions[0].inputArtifacts[0]"
    assert problem.rule == "artifact.input-undefined"
    assert problem.message == (
        "input artifact 'BuildOut' is not produced by any earlier action; it is produced by "
        "'Package' in stage 'Deploy', which runs later"
    )


def test_an_unknown_provider_is_refused_listing_the_providers_of_its_category() -> None:
    action = shell("Compile")
    action["actionTypeId"]["provider"] = "Foo"
    problem = only_problem(pipeline(("Source", [source()]), ("Build", [action])))
    assert problem.path == "pipeline.stages[1].actions[0].actionTypeId.provider"
    assert problem.rule == "action.provider-unknown"
    assert "unknown provider 'Foo' for category Build; Conveyor knows: CodeBuild, Shell" in (
        problem.message
    )


def test_bad_json_is_one_problem_at_the_root_naming_line_and_column() -> None:
    problem = only_problem('{\n  "name": "demo",\n  "stages": [,]\n}')
    assert (problem.path, problem.rule) == ("$", "json")
    assert "line 3, column 14" in problem.message


def test_a_definition_with_several_problems_reports_all_of_them_at_once() -> None:
    bad_provider = shell("Deploy", inputs=("Missing",))
    bad_provider["actionTypeId"]["provider"] = "Foo"
    document = pipeline(
        ("Source", [source(), source("Again", output="SourceOut")]),
        ("Build", [shell("Compile", runOrder=0), shell("Compile")]),
        ("Build", [bad_provider, shell("Late", inputs=("Later",))]),
        ("Ship", [shell("Make", outputs=("Later",))]),
    )
    document["name"] = "bad name!"
    assert rules_at(document) == {
        ("pipeline.name", "name.pattern"),
        ("pipeline.stages[0].actions[1].outputArtifacts[0]", "artifact.output-unique"),
        ("pipeline.stages[1].actions[0].runOrder", "action.runOrder.range"),
        ("pipeline.stages[1].actions[1].name", "action.name-unique"),
        ("pipeline.stages[2].name", "stage.name-unique"),
        ("pipeline.stages[2].actions[0].actionTypeId.provider", "action.provider-unknown"),
        ("pipeline.stages[2].actions[0].inputArtifacts[0]", "artifact.input-undefined"),
        ("pipeline.stages[2].actions[1].inputArtifacts[0]", "artifact.input-undefined"),
    }


def test_problems_are_listed_in_path_order_with_list_indices_compared_as_numbers() -> None:
    stages = [("Source", [source()])] + [
        (f"S{i}", [shell(f"A{i}", runOrder=0)]) for i in range(1, 11)
    ]
    paths = [p.path for p in problems_of(pipeline(*stages), Limits(max_stages=11))]
    assert paths == [f"pipeline.stages[{i}].actions[0].runOrder" for i in range(1, 11)]


def test_invalid_definition_serialises_every_problem_for_the_cli_and_api() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(pipeline(("Source", [source()])))
    body = caught.value.to_dict()
    assert body["__type"] == "InvalidStructureException"
    assert body["problems"] == [p.to_dict() for p in caught.value.problems]
    assert all(str(p) in str(body["message"]) for p in caught.value.problems)


# ----- input forms, defaults and round trips ------------------------------------------------


def test_wrapped_and_bare_documents_parse_to_the_same_declaration() -> None:
    bare = simple()
    wrapped = {"pipeline": bare, "metadata": {"pipelineArn": "arn:aws:codepipeline:x", "x": 1}}
    assert parse_definition(json.dumps(wrapped)) == parse_definition(bare)
    assert parse_definition(json.dumps(bare).encode()) == parse_definition(bare)


def test_a_wrapped_document_with_an_unknown_sibling_of_pipeline_is_refused() -> None:
    problem = only_problem({"pipeline": simple(), "pipelines": {}})
    assert (problem.path, problem.rule) == ("pipelines", "unknown-field")


def test_a_document_that_is_not_an_object_is_refused_with_the_type_rule() -> None:
    assert rules_at("[1, 2]") == {("pipeline", "field.type")}
    assert rules_at({"pipeline": "demo"}) == {("pipeline", "field.type")}


def test_fields_conveyor_does_not_use_locally_are_accepted_and_kept() -> None:
    document = simple(
        roleArn="arn:aws:iam::123456789012:role/service-role/pipeline",
        artifactStore={
            "type": "S3",
            "location": "codepipeline-eu-west-1-123",
            "encryptionKey": {"id": "alias/aws/s3", "type": "KMS"},
        },
        version=3,
    )
    document["stages"][1]["blockers"] = [{"name": "nightly", "type": "Schedule"}]
    declaration = parse_definition({"pipeline": document, "tags": [{"key": "a", "value": "b"}]})
    out = declaration.to_document()
    assert out["roleArn"] == document["roleArn"]
    assert out["artifactStore"] == document["artifactStore"]
    assert out["version"] == 3
    assert out["stages"][1]["blockers"] == [{"name": "nightly", "type": "Schedule"}]


def test_to_document_applies_the_defaults_get_pipeline_shows_and_omits_absent_fields() -> None:
    document = pipeline(
        (
            "Source",
            [
                {
                    "name": "Checkout",
                    "actionTypeId": source()["actionTypeId"],
                    "configuration": source()["configuration"],
                    "outputArtifacts": [{"name": "SourceOut"}],
                }
            ],
        ),
        ("Approve", [approval()]),
    )
    out = parse_definition(document).to_document()
    assert out["executionMode"] == "SUPERSEDED"
    assert out["pipelineType"] == "V1"
    assert "variables" not in out and "triggers" not in out and "roleArn" not in out
    gate = out["stages"][1]["actions"][0]
    assert gate == {
        "name": "Approve",
        "actionTypeId": {
            "category": "Approval",
            "owner": "AWS",
            "provider": "Manual",
            "version": "1",
        },
        "runOrder": 1,
        "configuration": {},
        "inputArtifacts": [],
        "outputArtifacts": [],
    }
    json.dumps(out)  # JSON-ready


def test_from_document_of_to_document_is_equal_to_the_original_declaration() -> None:
    declaration = parse_definition(
        simple(
            pipelineType="V2",
            executionMode="QUEUED",
            variables=[{"name": "Env", "defaultValue": "dev", "description": "target"}],
        )
    )
    assert PipelineDeclaration.from_document(declaration.to_document()) == declaration


def test_declaration_helpers_group_actions_by_run_order_keeping_declaration_order() -> None:
    stage = [
        shell("Late", runOrder=3),
        shell("First", runOrder=1),
        shell("Second", runOrder=1, outputs=("Out",)),
        shell("Middle", runOrder=2, inputs=("SourceOut", "Out")),
    ]
    declaration = parse_definition(pipeline(("Source", [source()]), ("Build", stage)))
    build = declaration.stage("Build")
    assert build is not None
    assert [[a.name for a in group] for group in build.groups()] == [
        ["First", "Second"],
        ["Middle"],
        ["Late"],
    ]
    middle = build.action("Middle")
    assert middle is not None
    assert (middle.category, middle.owner, middle.provider) == ("Build", "AWS", "Shell")
    assert middle.input_names == ("SourceOut", "Out")
    assert build.action("Second") is not None and build.action("Second").output_names == ("Out",)
    assert build.action("Nope") is None and declaration.stage("Nope") is None
    assert declaration.stage_names() == ["Source", "Build"]


# ----- shape ----------------------------------------------------------------------------------


def test_a_missing_required_field_is_reported_with_the_required_rule() -> None:
    document = simple()
    del document["stages"][1]["actions"][0]["actionTypeId"]
    del document["name"]
    assert rules_at(document) == {
        ("pipeline.name", "field.required"),
        ("pipeline.stages[1].actions[0].actionTypeId", "field.required"),
    }


def test_a_value_of_the_wrong_json_type_is_refused_without_coercion() -> None:
    document = simple()
    document["stages"][1]["actions"][0]["runOrder"] = "2"
    document["stages"][1]["actions"][0]["configuration"] = {
        "Commands": "make",
        "PollForSourceChanges": False,
    }
    problems = problems_of(document)
    assert {(p.path, p.rule) for p in problems} == {
        ("pipeline.stages[1].actions[0].runOrder", "field.type"),
        ("pipeline.stages[1].actions[0].configuration.PollForSourceChanges", "field.type"),
    }
    assert "must be a whole number, not a string ('2')" in problems[1].message


def test_an_unknown_field_is_refused_with_a_suggestion_for_a_near_miss() -> None:
    document = simple()
    document["stages"][1]["actions"][0]["runorder"] = 2
    problem = only_problem(document)
    assert (problem.path, problem.rule) == (
        "pipeline.stages[1].actions[0].runorder",
        "unknown-field",
    )
    assert "did you mean 'runOrder'?" in problem.message


def test_an_unknown_enum_value_is_refused_with_the_enum_rule() -> None:
    document = simple(executionMode="superseded")
    document["stages"][1]["actions"][0]["actionTypeId"]["category"] = "Bulid"
    assert rules_at(document) == {
        ("pipeline.executionMode", "field.enum"),
        ("pipeline.stages[1].actions[0].actionTypeId.category", "field.enum"),
    }


# ----- stages and actions --------------------------------------------------------------------


def test_a_non_source_action_in_the_first_stage_is_refused_at_that_action() -> None:
    document = pipeline(("Source", [source(), approval()]), ("Build", [shell("Compile")]))
    problem = only_problem(document)
    assert (problem.path, problem.rule) == (
        "pipeline.stages[0].actions[1]",
        "stage.first-must-be-source",
    )


def test_a_source_action_outside_the_first_stage_is_refused() -> None:
    document = pipeline(
        ("Source", [source()]), ("Build", [shell("Compile"), source("More", output="Other")])
    )
    assert rules_at(document) == {("pipeline.stages[1].actions[1]", "stage.source-only-first")}


def test_a_pipeline_of_source_actions_only_needs_a_non_source_stage() -> None:
    document = pipeline(("Source", [source()]), ("More", [source("B", output="Other")]))
    assert ("pipeline.stages", "stages.non-source-required") in rules_at(document)


def test_stage_names_must_be_unique() -> None:
    document = pipeline(("Source", [source()]), ("Build", [shell("A")]), ("Build", [shell("B")]))
    assert rules_at(document) == {("pipeline.stages[2].name", "stage.name-unique")}


def test_action_names_must_be_unique_within_a_stage_but_not_across_stages() -> None:
    parse_definition(pipeline(("Source", [source()]), ("A", [shell("X")]), ("B", [shell("X")])))
    document = pipeline(("Source", [source()]), ("A", [shell("X"), shell("X")]))
    assert rules_at(document) == {("pipeline.stages[1].actions[1].name", "action.name-unique")}


def test_a_stage_without_actions_is_refused_with_the_action_count_rule() -> None:
    document = pipeline(("Source", [source()]), ("Empty", []), ("Build", [shell("A")]))
    assert rules_at(document) == {("pipeline.stages[1].actions", "stage.actions-count")}


@pytest.mark.parametrize("run_order", [0, -1, 1000])
def test_a_run_order_outside_1_to_999_is_refused(run_order: int) -> None:
    document = pipeline(("Source", [source()]), ("Build", [shell("A", runOrder=run_order)]))
    assert rules_at(document) == {
        ("pipeline.stages[1].actions[0].runOrder", "action.runOrder.range")
    }


def test_run_order_gaps_are_allowed() -> None:
    stage = [shell("A", runOrder=1, outputs=("Out",)), shell("B", runOrder=999, inputs=("Out",))]
    parse_definition(pipeline(("Source", [source()]), ("Build", stage)))


def test_parallel_sequential_and_pipeline_action_counts_follow_the_limits() -> None:
    stage = [shell(f"P{i}") for i in range(3)] + [shell(f"Q{i}", runOrder=i + 2) for i in range(3)]
    document = pipeline(("Source", [source()]), ("Build", stage))
    limits = Limits(
        max_parallel_actions=2,
        max_sequential_actions=3,
        max_actions_per_pipeline=5,
        max_actions_per_stage=5,
    )
    assert rules_at(document, limits) == {
        ("pipeline.stages[1].actions", "stage.parallel-count"),
        ("pipeline.stages[1].actions", "stage.sequential-count"),
        ("pipeline.stages[1].actions", "stage.actions-count"),
        ("pipeline.stages", "pipeline.actions-count"),
    }


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "name.length"),
        ("x" * 101, "name.length"),
        ("has space", "name.pattern"),
        ("slash/no", "name.pattern"),
    ],
)
def test_pipeline_stage_and_action_names_follow_length_and_pattern(name: str, rule: str) -> None:
    document = simple()
    document["name"] = name
    document["stages"][1]["name"] = name
    document["stages"][1]["actions"][0]["name"] = name
    assert rules_at(document) == {
        ("pipeline.name", rule),
        ("pipeline.stages[1].name", rule),
        ("pipeline.stages[1].actions[0].name", rule),
    }


def test_names_may_use_dots_at_signs_dashes_and_underscores() -> None:
    document = simple()
    document["name"] = "my.pipe@line-1_x"
    parse_definition(document)


# ----- artifacts ------------------------------------------------------------------------------


def test_an_input_from_a_higher_run_order_in_the_same_stage_is_refused() -> None:
    stage = [shell("Use", inputs=("Made",)), shell("Make", runOrder=2, outputs=("Made",))]
    problem = only_problem(pipeline(("Source", [source()]), ("Build", stage)))
    assert problem.rule == "artifact.input-undefined"
    assert "'Make' in this stage at runOrder 2, which runs later" in problem.message


def test_an_input_from_a_parallel_action_is_refused() -> None:
    stage = [shell("Use", inputs=("Made",)), shell("Make", outputs=("Made",))]
    problem = only_problem(pipeline(("Source", [source()]), ("Build", stage)))
    assert problem.rule == "artifact.input-undefined"
    assert "runs in parallel" in problem.message


def test_an_input_nobody_produces_is_refused_listing_what_is_available() -> None:
    problem = only_problem(pipeline(("Source", [source()]), ("Build", [shell("A", ("Nope",))])))
    assert problem.path == "pipeline.stages[1].actions[0].inputArtifacts[0]"
    assert "no action produces it (artifacts available here: SourceOut)" in problem.message


def test_an_input_from_an_earlier_stage_that_is_not_adjacent_is_accepted() -> None:
    parse_definition(
        pipeline(
            ("Source", [source()]),
            ("Build", [shell("A", outputs=("Out",))]),
            ("Test", [shell("B")]),
            ("Deploy", [shell("C", inputs=("Out", "SourceOut"))]),
        )
    )


def test_artifact_counts_follow_the_provider_catalogue() -> None:
    codebuild = shell("Compile", inputs=())
    codebuild["actionTypeId"]["provider"] = "CodeBuild"
    document = pipeline(
        ("Source", [source(outputArtifacts=[])]),
        ("Build", [codebuild, approval(inputArtifacts=[{"name": "SourceOut"}])]),
    )
    problems = problems_of(document)
    assert {(p.path, p.rule) for p in problems} == {
        ("pipeline.stages[0].actions[0].outputArtifacts", "artifact.count"),
        ("pipeline.stages[1].actions[0].inputArtifacts", "artifact.count"),
        ("pipeline.stages[1].actions[1].inputArtifacts", "artifact.count"),
        ("pipeline.stages[1].actions[1].inputArtifacts[0]", "artifact.input-undefined"),
    }
    assert any("takes 1 to 5 input artifacts; it declares 0" in p.message for p in problems)


def test_artifact_names_follow_their_own_pattern_without_dots() -> None:
    document = pipeline(("Source", [source(output="Source.Out")]), ("Build", [shell("A", ())]))
    assert rules_at(document) == {
        ("pipeline.stages[0].actions[0].outputArtifacts[0].name", "name.pattern")
    }


# ----- providers ------------------------------------------------------------------------------


def test_a_known_provider_with_the_wrong_owner_is_refused_naming_the_right_owner() -> None:
    action = shell("Compile")
    action["actionTypeId"]["owner"] = "ThirdParty"
    problem = only_problem(pipeline(("Source", [source()]), ("Build", [action])))
    assert problem.rule == "action.provider-unknown"
    assert "needs owner AWS, not ThirdParty" in problem.message


def test_custom_actions_git_and_github_sources_and_compute_commands_are_accepted() -> None:
    custom = shell("Jenkins", outputs=("Built",))
    custom["actionTypeId"] = {
        "category": "Build",
        "owner": "Custom",
        "provider": "Jenkins",
        "version": "2",
    }
    git = source("Git", output="GitOut")
    git["actionTypeId"].update(provider="Git", owner="ThirdParty")
    github = source("GitHub", output="HubOut")
    github["actionTypeId"].update(provider="GitHub", owner="ThirdParty")
    commands = shell("Run", inputs=("GitOut",), commands=["make test"])
    commands["actionTypeId"].update(category="Compute", provider="Commands")
    s3_deploy = shell("Ship", inputs=("Built",), configuration={"BucketName": "site"})
    s3_deploy["actionTypeId"].update(category="Deploy", provider="S3")
    parse_definition(
        pipeline(
            ("Source", [source(), git, github]),
            ("Build", [custom, commands]),
            ("Ship", [s3_deploy]),
        )
    )


def test_the_catalogue_describes_each_builtin_provider() -> None:
    manual = catalogue.lookup("Approval", "AWS", "Manual")
    assert manual is not None
    assert (manual.kind, manual.inputs, manual.outputs) == ("manual-approval", (0, 0), (0, 0))
    assert (manual.default_timeout_minutes, manual.billable) == (10080, False)
    codebuild = catalogue.lookup("Test", "AWS", "CodeBuild")
    assert codebuild is not None and codebuild.default_timeout_minutes == 480
    assert codebuild.inputs == (1, 5)
    deploy = catalogue.lookup("Deploy", "AWS", "S3")
    assert deploy is not None and (deploy.kind, deploy.default_timeout_minutes) == ("s3-deploy", 90)
    s3 = catalogue.lookup("Source", "AWS", "S3")
    assert s3 is not None and s3.kind == "s3-source"
    for owner, provider in [
        ("AWS", "Git"),
        ("ThirdParty", "Git"),
        ("AWS", "CodeCommit"),
        ("AWS", "CodeStarSourceConnection"),
        ("ThirdParty", "GitHub"),
    ]:
        spec = catalogue.lookup("Source", owner, provider)
        assert spec is not None and spec.kind == "git-source"
    for category in ("Build", "Test", "Deploy", "Invoke"):
        spec = catalogue.lookup(category, "AWS", "Shell")
        assert spec is not None and spec.kind == "shell"
    compute = catalogue.lookup("Compute", "AWS", "Commands")
    assert compute is not None and compute.kind == "shell"
    custom = catalogue.lookup("Deploy", "Custom", "Anything")
    assert custom is not None and custom.kind == "custom" and not custom.billable
    assert custom.default_timeout_minutes == 1440
    assert catalogue.lookup("Build", "AWS", "Jenkins") is None
    assert catalogue.lookup("Nope", "Custom", "X") is None
    assert catalogue.known_providers("Build") == ["CodeBuild", "Shell"]
    assert "Manual" in catalogue.known_providers()
    assert all(spec.kind in catalogue.KINDS for spec in catalogue.specs())


# ----- namespaces and variable references ---------------------------------------------------


def test_namespaces_must_be_unique_unreserved_and_distinct_from_artifact_names() -> None:
    document = pipeline(
        ("Source", [source(namespace="SourceOut")]),
        (
            "Build",
            [
                shell("A", namespace="Vars"),
                shell("B", namespace="Vars"),
                shell("C", namespace="variables"),
                shell("D", namespace="codepipeline"),
                shell("E", namespace="bad.ns"),
            ],
        ),
    )
    assert rules_at(document) == {
        ("pipeline.stages[0].actions[0].namespace", "namespace.conflicts-artifact"),
        ("pipeline.stages[1].actions[1].namespace", "namespace.unique"),
        ("pipeline.stages[1].actions[2].namespace", "namespace.reserved"),
        ("pipeline.stages[1].actions[3].namespace", "namespace.reserved"),
        ("pipeline.stages[1].actions[4].namespace", "namespace.pattern"),
    }


def test_references_to_earlier_namespaces_codepipeline_and_declared_variables_are_accepted() -> (
    None
):
    build = shell(
        "A",
        configuration={
            "Commands": "echo #{SourceVariables.CommitId} #{codepipeline.PipelineExecutionId} "
            "#{variables.Env}"
        },
    )
    parse_definition(
        pipeline(
            ("Source", [source(namespace="SourceVariables")]),
            ("Build", [build]),
            pipelineType="V2",
            variables=[{"name": "Env", "defaultValue": "dev"}],
        )
    )


def test_references_that_do_not_resolve_before_the_action_runs_are_refused() -> None:
    stage = [
        shell("Same", namespace="Mine", configuration={"Commands": "#{Mine.X}"}),
        shell("Parallel", namespace="Par", configuration={"Commands": "#{Par2.X}"}),
        shell("Parallel2", namespace="Par2"),
        shell("Early", configuration={"Commands": "#{Later.X}", "Other": "#{Ghost.X}"}),
        shell("Late", runOrder=2, namespace="Later"),
        shell("Ids", configuration={"Commands": "#{codepipeline.PipelineName} #{variables.Nope}"}),
    ]
    problems = problems_of(pipeline(("Source", [source()]), ("Build", stage)))
    assert {(p.path, p.rule) for p in problems} == {
        ("pipeline.stages[1].actions[0].configuration.Commands", "variable.reference"),
        ("pipeline.stages[1].actions[1].configuration.Commands", "variable.reference"),
        ("pipeline.stages[1].actions[3].configuration.Commands", "variable.reference"),
        ("pipeline.stages[1].actions[3].configuration.Other", "variable.reference"),
        ("pipeline.stages[1].actions[5].configuration.Commands", "variable.reference"),
    }
    messages = " | ".join(p.message for p in problems)
    assert "its own namespace" in messages
    assert "belongs to action 'Late' in stage 'Build', which does not run before" in messages
    assert "no action declares namespace 'Ghost'" in messages
    assert "codepipeline defines only PipelineExecutionId" in messages
    assert "pipeline variable 'Nope' is not declared" in messages


# ----- configuration, timeouts and other fields ------------------------------------------------


def test_configuration_keys_and_values_have_length_limits() -> None:
    action = shell(
        "A",
        configuration={
            "Commands": "make",
            "K" * 51: "v",
            "Long": "x" * 1001,
            "Empty": "",
            "Max": "y" * 1000,
        },
    )
    assert rules_at(pipeline(("Source", [source()]), ("Build", [action]))) == {
        (f"pipeline.stages[1].actions[0].configuration.{'K' * 51}", "configuration.key-length"),
        ("pipeline.stages[1].actions[0].configuration.Long", "configuration.value-length"),
        ("pipeline.stages[1].actions[0].configuration.Empty", "configuration.value-length"),
    }


def test_configuration_keys_that_are_not_identifiers_are_quoted_in_the_path() -> None:
    action = shell("A", configuration={"Commands": "make", "my key": ""})
    problem = only_problem(pipeline(("Source", [source()]), ("Build", [action])))
    assert problem.path == 'pipeline.stages[1].actions[0].configuration["my key"]'


@pytest.mark.parametrize(
    ("minutes", "accepted"), [(4, False), (5, True), (86400, True), (86401, False)]
)
def test_timeout_in_minutes_is_5_to_86400_on_every_action_type(
    minutes: int, accepted: bool
) -> None:
    document = pipeline(
        ("Source", [source()]),
        ("Build", [shell("A", timeoutInMinutes=minutes), approval(timeoutInMinutes=minutes)]),
    )
    if accepted:
        parse_definition(document)
    else:
        assert rules_at(document) == {
            ("pipeline.stages[1].actions[0].timeoutInMinutes", "timeoutInMinutes.range"),
            ("pipeline.stages[1].actions[1].timeoutInMinutes", "timeoutInMinutes.range"),
        }


def test_role_arn_region_commands_and_environment_variables_are_checked() -> None:
    action = shell(
        "A",
        roleArn="not-an-arn",
        region="eu",
        commands=[],
        outputVariables=["x" * 129],
        environmentVariables=[{"name": "BAD-NAME", "value": "v", "type": "SECRET"}],
    )
    assert rules_at(pipeline(("Source", [source(region="eu-west-1")]), ("Build", [action]))) == {
        ("pipeline.stages[0].actions[0].region", "region.other"),
        ("pipeline.stages[1].actions[0].roleArn", "roleArn.pattern"),
        ("pipeline.stages[1].actions[0].region", "region.length"),
        ("pipeline.stages[1].actions[0].commands", "commands.count"),
        ("pipeline.stages[1].actions[0].outputVariables[0]", "outputVariables.length"),
        ("pipeline.stages[1].actions[0].environmentVariables[0].name", "name.pattern"),
        ("pipeline.stages[1].actions[0].environmentVariables[0].type", "field.enum"),
    }


def _as_get_pipeline_writes_it(region: str) -> dict[str, Any]:
    """`aws codepipeline get-pipeline`'s output as it is: the region on every action, empty
    artifact lists, the version, and the metadata beside the pipeline."""
    stages = [
        ("Source", [source(region=region, inputArtifacts=[])]),
        ("Build", [shell("A", region=region, runOrder=1)]),
        ("Gate", [approval(region=region, inputArtifacts=[], outputArtifacts=[])]),
    ]
    document = pipeline(
        *stages,
        roleArn="arn:aws:iam::123456789012:role/service-role/demo",
        artifactStore={"type": "S3", "location": "codepipeline-us-east-1-123456789012"},
        version=3,
    )
    return {
        "pipeline": document,
        "metadata": {
            "pipelineArn": f"arn:aws:codepipeline:{region}:123456789012:demo",
            "created": 1700000000.123,
            "updated": 1700000500.456,
        },
    }


def test_an_action_may_name_the_pipelines_own_region_whatever_its_category() -> None:
    default = parse_definition(_as_get_pipeline_writes_it("us-east-1"))
    assert [a.region for s in default.stages for a in s.actions] == ["us-east-1"] * 3
    parse_definition(_as_get_pipeline_writes_it("eu-west-3"), Limits(region="eu-west-3"))


def test_an_action_naming_another_region_is_refused_naming_the_field_and_the_rule() -> None:
    problems = problems_of(_as_get_pipeline_writes_it("eu-west-1"))
    assert {(p.path, p.rule) for p in problems} == {
        (f"pipeline.stages[{stage}].actions[0].region", "region.other") for stage in range(3)
    }
    assert "pipeline's own region us-east-1, not eu-west-1" in problems[0].message


def test_artifact_store_and_artifact_stores_are_mutually_exclusive() -> None:
    store = {"type": "S3", "location": "bucket"}
    document = simple(artifactStore=store, artifactStores={"eu-west-1": store})
    assert rules_at(document) == {("pipeline.artifactStores", "artifactStore.exclusive")}


# ----- V1 / V2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["QUEUED", "PARALLEL"])
def test_queued_and_parallel_need_a_v2_pipeline_explicit_or_by_default(mode: str) -> None:
    for extra in ({}, {"pipelineType": "V1"}):
        problem = only_problem(simple(executionMode=mode, **extra))
        assert (problem.path, problem.rule) == ("pipeline.executionMode", "executionMode.v2-only")
        assert '"pipelineType": "V2"' in problem.message
    parse_definition(simple(executionMode=mode, pipelineType="V2"))


def test_variables_and_triggers_need_a_v2_pipeline() -> None:
    trigger = {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {"sourceActionName": "Checkout"},
    }
    document = simple(variables=[{"name": "Env"}], triggers=[trigger])
    assert rules_at(document) == {
        ("pipeline.variables", "variables.v2-only"),
        ("pipeline.triggers", "triggers.v2-only"),
    }
    parse_definition(simple(pipelineType="V2", variables=[{"name": "Env"}], triggers=[trigger]))


def test_pipeline_variables_have_a_count_unique_names_and_length_limits() -> None:
    variables = [{"name": f"V{i}"} for i in range(3)] + [
        {"name": "V0"},
        {"name": "bad name"},
        {"name": "Ok", "defaultValue": ""},
        {"name": "Ok2", "description": "d" * 201},
    ]
    document = simple(pipelineType="V2", variables=variables)
    assert rules_at(document, Limits(max_variables=5)) == {
        ("pipeline.variables", "variables.count"),
        ("pipeline.variables[3].name", "variable.name-unique"),
        ("pipeline.variables[4].name", "name.pattern"),
        ("pipeline.variables[5].defaultValue", "defaultValue.length"),
        ("pipeline.variables[6].description", "description.length"),
    }


def test_triggers_must_name_a_source_action_once() -> None:
    def trigger(name: str) -> dict[str, Any]:
        return {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": name},
        }

    document = simple(
        pipelineType="V2", triggers=[trigger("Checkout"), trigger("Checkout"), trigger("Compile")]
    )
    assert rules_at(document) == {
        ("pipeline.triggers[1].gitConfiguration.sourceActionName", "trigger.unique"),
        ("pipeline.triggers[2].gitConfiguration.sourceActionName", "trigger.source-action"),
    }


def test_stage_conditions_need_v2_and_parallel_pipelines_cannot_roll_back() -> None:
    document = simple()
    document["stages"][1]["onFailure"] = {"result": "ROLLBACK"}
    assert rules_at(document) == {("pipeline.stages[1].onFailure", "conditions.v2-only")}
    document.update(pipelineType="V2", executionMode="PARALLEL")
    assert rules_at(document) == {("pipeline.stages[1].onFailure.result", "rollback.parallel-mode")}
    document["executionMode"] = "QUEUED"
    parse_definition(document)


def test_on_failure_retry_takes_a_retry_mode_which_defaults_to_failed_actions() -> None:
    document = simple(pipelineType="V2")
    document["stages"][1]["onFailure"] = {"result": "RETRY"}
    stage = parse_definition(document).stages[1]
    assert stage.on_failure is not None and stage.on_failure.retry_configuration is None
    document["stages"][1]["onFailure"] = {
        "result": "RETRY",
        "retryConfiguration": {"retryMode": "SOME"},
    }
    assert rules_at(document) == {
        ("pipeline.stages[1].onFailure.retryConfiguration.retryMode", "field.enum")
    }
    document["stages"][1]["onFailure"] = {"result": "SKIP"}
    assert rules_at(document) == {("pipeline.stages[1].onFailure.result", "condition.result")}


def test_conditions_hold_exactly_one_condition_with_one_to_five_rules() -> None:
    rule = {"name": "Alarm", "ruleTypeId": {"category": "Rule", "provider": "CloudWatchAlarm"}}
    document = simple(pipelineType="V2")
    document["stages"][1]["beforeEntry"] = {"conditions": [{"result": "SKIP", "rules": [rule]}]}
    document["stages"][1]["onSuccess"] = {
        "conditions": [
            {"result": "SKIP", "rules": []},
            {"result": "FAIL", "rules": [rule]},
        ]
    }
    assert rules_at(document) == {
        ("pipeline.stages[1].onSuccess.conditions", "conditions.count"),
        ("pipeline.stages[1].onSuccess.conditions[0].result", "condition.result"),
        ("pipeline.stages[1].onSuccess.conditions[0].rules", "condition.rules-count"),
    }


# ----- limits and schema ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_stages": 51},
        {"max_stages": 1},
        {"min_stages": 5, "max_stages": 4},
        {"max_actions_per_stage": 51},
        {"max_actions_per_pipeline": 0},
    ],
)
def test_limits_refuse_values_beyond_codepipeline_quotas(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValidationException):
        Limits(**kwargs)


def test_limits_allow_up_to_fifty_stages() -> None:
    stages = [("Source", [source()])] + [(f"S{i}", [shell(f"A{i}")]) for i in range(1, 50)]
    assert len(parse_definition(pipeline(*stages), Limits(max_stages=50)).stages) == 50


def test_the_json_schema_is_draft_2020_12_for_bare_or_wrapped_documents_with_constraints() -> None:
    schema = pipeline_json_schema()
    json.dumps(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    definitions = schema["$defs"]
    assert {"$ref": "#/$defs/PipelineDocument"} in schema["anyOf"]
    assert definitions["PipelineDocument"]["required"] == ["pipeline"]
    top = definitions["PipelineDeclaration"]["properties"]
    assert (top["stages"]["minItems"], top["stages"]["maxItems"]) == (2, 10)
    assert top["executionMode"]["enum"] == ["QUEUED", "SUPERSEDED", "PARALLEL"]
    assert top["name"]["pattern"] == r"^(?:[A-Za-z0-9.@\-_]+)$"
    action = definitions["ActionDeclaration"]["properties"]
    assert (action["runOrder"]["minimum"], action["runOrder"]["maximum"]) == (1, 999)
    assert action["runOrder"]["default"] == 1
    timeout = next(b for b in action["timeoutInMinutes"]["anyOf"] if b.get("type") != "null")
    assert (timeout["minimum"], timeout["maximum"]) == (5, 86400)
    assert action["configuration"]["additionalProperties"]["maxLength"] == 1000
    assert definitions["ActionDeclaration"]["additionalProperties"] is False
    assert (
        pipeline_json_schema(Limits(max_stages=20))["$defs"]["PipelineDeclaration"]["properties"][
            "stages"
        ]["maxItems"]
        == 20
    )


# ----- properties -------------------------------------------------------------------------------


@given(valid_definitions())
def test_every_generated_valid_definition_is_accepted_and_round_trips(
    document: dict[str, Any],
) -> None:
    declaration = parse_definition(document)
    assert PipelineDeclaration.from_document(declaration.to_document()) == declaration
    assert parse_definition(declaration.to_document()) == declaration
    assert parse_definition({"pipeline": document, "metadata": {}}) == declaration


@given(valid_definitions())
def test_dropping_the_source_stage_breaks_the_first_stage_rule(document: dict[str, Any]) -> None:
    document = copy.deepcopy(document)
    del document["stages"][0]
    assert ("pipeline.stages[0]", "stage.first-must-be-source") in rules_at(document)


@given(valid_definitions(), st.data())
def test_reusing_an_output_name_breaks_the_unique_output_rule(
    document: dict[str, Any], data: st.DataObject
) -> None:
    document = copy.deepcopy(document)
    stage_index = data.draw(st.integers(1, len(document["stages"]) - 1))
    taken = document["stages"][0]["actions"][0]["outputArtifacts"][0]["name"]
    document["stages"][stage_index]["actions"].append(
        shell("Copycat", inputs=(), outputs=(taken,), runOrder=999)
    )
    index = len(document["stages"][stage_index]["actions"]) - 1
    path = f"pipeline.stages[{stage_index}].actions[{index}].outputArtifacts[0]"
    assert rules_at(document) == {(path, "artifact.output-unique")}


@given(valid_definitions(), st.data())
def test_consuming_a_later_output_breaks_the_input_rule(
    document: dict[str, Any], data: st.DataObject
) -> None:
    document = copy.deepcopy(document)
    last = len(document["stages"]) - 1
    consumer_stage = data.draw(st.integers(1, last))
    document["stages"][last]["actions"].append(
        shell("Producer", inputs=(), outputs=("FromTheFuture",), runOrder=999)
    )
    document["stages"][consumer_stage]["actions"].insert(
        0, shell("Consumer", inputs=("FromTheFuture",), runOrder=1)
    )
    path = f"pipeline.stages[{consumer_stage}].actions[0].inputArtifacts[0]"
    assert rules_at(document) == {(path, "artifact.input-undefined")}


@given(valid_definitions(), st.data())
def test_a_run_order_of_zero_breaks_the_range_rule(
    document: dict[str, Any], data: st.DataObject
) -> None:
    document = copy.deepcopy(document)
    stage_index = data.draw(st.integers(0, len(document["stages"]) - 1))
    actions = document["stages"][stage_index]["actions"]
    action_index = data.draw(st.integers(0, len(actions) - 1))
    actions[action_index]["runOrder"] = 0
    path = f"pipeline.stages[{stage_index}].actions[{action_index}].runOrder"
    assert (path, "action.runOrder.range") in rules_at(document)
