"""Shape problems pydantic reports (missing, unknown or mistyped fields), in our own words."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from pydantic import BaseModel, ValidationError

from domain.definition import (
    ActionDeclaration,
    ActionTypeId,
    ArtifactStore,
    BeforeEntryConditions,
    BlockerDeclaration,
    Condition,
    EncryptionKey,
    EnvironmentVariable,
    FailureConditions,
    InputArtifact,
    OutputArtifact,
    PipelineDeclaration,
    PipelineVariable,
    RetryConfiguration,
    StageDeclaration,
    SuccessConditions,
)
from domain.errors import Problem
from domain.validation.raw import ROOT, kind, path_of

# Which model an object at a given container key is, to suggest the field a typo meant.
_MODEL_BY_CONTAINER: dict[str, type[BaseModel]] = {
    "stages": StageDeclaration,
    "actions": ActionDeclaration,
    "actionTypeId": ActionTypeId,
    "inputArtifacts": InputArtifact,
    "outputArtifacts": OutputArtifact,
    "environmentVariables": EnvironmentVariable,
    "blockers": BlockerDeclaration,
    "onFailure": FailureConditions,
    "onSuccess": SuccessConditions,
    "beforeEntry": BeforeEntryConditions,
    "retryConfiguration": RetryConfiguration,
    "conditions": Condition,
    "artifactStore": ArtifactStore,
    "artifactStores": ArtifactStore,
    "encryptionKey": EncryptionKey,
    "variables": PipelineVariable,
}

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def shape_problems(error: ValidationError) -> Iterator[Problem]:
    """One problem per error pydantic found, at our path and with our rule ids."""
    for detail in error.errors():
        loc = tuple(part for part in detail["loc"] if part != "[key]")
        path = path_of(loc)
        error_type = detail["type"]
        name = str(loc[-1]) if loc else ROOT
        if error_type == "missing":
            yield Problem(path, "field.required", f"required field '{name}' is missing")
        elif error_type == "extra_forbidden":
            yield Problem(path, "unknown-field", _unknown_field_message(loc))
        elif error_type in _TYPE_NAMES:
            yield Problem(
                path,
                "field.type",
                f"'{name}' must be {_TYPE_NAMES[error_type]}, not {kind(detail['input'])}",
            )
        else:
            yield Problem(path, "field.type", f"'{name}': {detail['msg']}")


def _unknown_field_message(loc: tuple[str | int, ...]) -> str:
    name = str(loc[-1])
    model: type[BaseModel] = PipelineDeclaration
    for part in reversed(loc[:-1]):
        if isinstance(part, str) and part in _MODEL_BY_CONTAINER:
            model = _MODEL_BY_CONTAINER[part]
            break
    known = [info.alias or field_name for field_name, info in model.model_fields.items()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "known fields: " + ", ".join(known)
    return f"unknown field '{name}'; {hint}"
