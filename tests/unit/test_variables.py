"""Variable references and their resolution against execution scopes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ConveyorError
from domain.variables import (
    REFERENCE,
    UnresolvedVariable,
    references,
    resolve,
    resolve_configuration,
)

SCOPES = {
    "codepipeline": {"PipelineExecutionId": "e-1"},
    "variables": {"Env": "prod"},
    "SourceVariables": {"CommitId": "abc123", "BranchName": "main"},
}


def test_references_lists_every_namespace_and_name_in_order_with_repeats() -> None:
    text = "#{SourceVariables.CommitId}-#{variables.Env}/#{SourceVariables.CommitId}"
    assert references(text) == [
        ("SourceVariables", "CommitId"),
        ("variables", "Env"),
        ("SourceVariables", "CommitId"),
    ]


def test_text_that_only_looks_like_a_reference_is_not_one() -> None:
    assert references("#{NoDot} #{a.b.c} {x.y} #{with space.x} ${a.b}") == []


def test_names_may_use_at_signs_dashes_and_underscores() -> None:
    assert REFERENCE.fullmatch("#{my-ns@1.var_2}") is not None


def test_resolve_replaces_every_reference_with_its_value() -> None:
    text = "deploy #{SourceVariables.CommitId} to #{variables.Env} "
    text += "(#{codepipeline.PipelineExecutionId})"
    assert resolve(text, SCOPES) == "deploy abc123 to prod (e-1)"


def test_resolve_does_not_expand_references_inside_resolved_values() -> None:
    scopes = {"a": {"x": "#{b.y}"}, "b": {"y": "never"}}
    assert resolve("#{a.x}", scopes) == "#{b.y}"


def test_a_missing_namespace_or_name_raises_unresolved_variable_with_both_parts() -> None:
    with pytest.raises(UnresolvedVariable) as missing_name:
        resolve("#{SourceVariables.AuthorDate}", SCOPES)
    assert (missing_name.value.namespace, missing_name.value.name) == (
        "SourceVariables",
        "AuthorDate",
    )
    with pytest.raises(UnresolvedVariable) as missing_namespace:
        resolve("#{Build.Version}", SCOPES)
    assert missing_namespace.value.namespace == "Build"
    assert "#{Build.Version}" in missing_namespace.value.message


def test_unresolved_variable_is_a_client_validation_error() -> None:
    error = UnresolvedVariable("ns", "x")
    assert isinstance(error, ConveyorError)
    assert error.code == "ValidationException"
    assert error.to_dict()["__type"] == "ValidationException"


def test_resolve_configuration_resolves_values_and_leaves_keys_alone() -> None:
    config = {"Commands": "echo #{variables.Env}", "#{variables.Env}": "plain"}
    assert resolve_configuration(config, SCOPES) == {
        "Commands": "echo prod",
        "#{variables.Env}": "plain",
    }


@given(st.text().filter(lambda text: "#{" not in text))
def test_text_without_references_resolves_to_itself(text: str) -> None:
    assert resolve(text, {}) == text


@given(
    st.from_regex(r"[A-Za-z0-9@_-]{1,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9@_-]{1,10}", fullmatch=True),
    st.text(),
)
def test_a_single_reference_resolves_to_its_value_exactly(
    namespace: str, name: str, value: str
) -> None:
    text = f"<#{{{namespace}.{name}}}>"
    assert references(text) == [(namespace, name)]
    assert resolve(text, {namespace: {name: value}}) == f"<{value}>"
