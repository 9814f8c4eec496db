"""Parsing a definition: load it, check its shape and every rule, report all problems at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from domain.definition import PipelineDeclaration
from domain.errors import InvalidDefinition, Problem
from domain.validation import flow, pipeline, stages
from domain.validation.checker import Checker
from domain.validation.limits import Limits
from domain.validation.load import load_document
from domain.validation.raw import ordered
from domain.validation.shape import shape_problems


def parse_definition(
    source: str | bytes | Mapping[str, Any], limits: Limits = Limits()
) -> PipelineDeclaration:
    """A validated declaration from JSON text or a mapping, bare or wrapped as get-pipeline prints.

    Raises InvalidDefinition listing every problem found, each rooted at `pipeline`.
    """
    problems: list[Problem] = []
    document = load_document(source, problems)
    if document is None:
        raise InvalidDefinition(problems)
    declaration: PipelineDeclaration | None = None
    try:
        declaration = PipelineDeclaration.model_validate(document)
    except ValidationError as error:
        problems.extend(shape_problems(error))
    problems.extend(check_rules(document, limits))
    if problems:
        raise InvalidDefinition(ordered(problems))
    assert declaration is not None  # no shape problem means pydantic accepted it
    return declaration


def check_rules(document: Mapping[str, Any], limits: Limits) -> list[Problem]:
    """Every rule the document breaks beyond its shape, in the order the rules learn facts:
    variables before references, stages (which collect the actions) before flow and triggers."""
    check = Checker(document, limits)
    pipeline.check_fields(check)
    pipeline.check_variables(check)
    pipeline.check_trigger_count(check)
    stages.check_stages(check)
    flow.check_flow(check)
    pipeline.check_trigger_targets(check)
    return check.problems
