"""The JSON Schema of a definition: the models' shape annotated with the local constraints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain import catalogue
from domain.definition import PipelineDeclaration
from domain.validation.constraints import (
    ARTIFACT_NAME_PATTERN,
    CONFIGURATION_KEY_MAX,
    CONFIGURATION_VALUE_MAX,
    ENTRY_RESULTS,
    ENVIRONMENT_NAME_PATTERN,
    ENVIRONMENT_TYPES,
    EXECUTION_MODES,
    FAILURE_RESULTS,
    NAME_PATTERN,
    NAMESPACE_PATTERN,
    PIPELINE_TYPES,
    PROVIDER_PATTERN,
    RETRY_MODES,
    ROLE_ARN_PATTERN,
    RUN_ORDER_RANGE,
    STORE_LOCATION_PATTERN,
    SUCCESS_RESULTS,
    TIMEOUT_RANGE,
    VARIABLE_NAME_PATTERN,
)
from domain.validation.limits import Limits

SCHEMA_ID = "https://conveyor.dev/schemas/pipeline.json"


def _strings(values: tuple[str, ...]) -> list[str]:
    # Plain strings, not enum members, so the schema is the same for any JSON encoder.
    return [str(value) for value in values]


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _name_schema(pattern: str = NAME_PATTERN, longest: int = 100) -> dict[str, Any]:
    return {"minLength": 1, "maxLength": longest, "pattern": _anchored(pattern)}


def _annotations(limits: Limits) -> dict[str, dict[str, dict[str, Any]]]:
    """Per model and property, the constraints the rules enforce, in JSON Schema terms."""
    role = {"maxLength": 1024, "pattern": _anchored(ROLE_ARN_PATTERN)}
    strings = {"type": "string", "minLength": 1}
    conditions = {"minItems": 1, "maxItems": 1}
    return {
        "PipelineDeclaration": {
            "name": _name_schema(),
            "roleArn": role,
            "stages": {"minItems": limits.min_stages, "maxItems": limits.max_stages},
            "version": {"minimum": 1},
            "executionMode": {"enum": _strings(EXECUTION_MODES)},
            "pipelineType": {"enum": _strings(PIPELINE_TYPES)},
            "variables": {"maxItems": limits.max_variables},
            "triggers": {"maxItems": limits.max_triggers},
        },
        "StageDeclaration": {
            "name": _name_schema(),
            "actions": {"minItems": 1, "maxItems": limits.max_actions_per_stage},
        },
        "ActionDeclaration": {
            "name": _name_schema(),
            "runOrder": {"minimum": RUN_ORDER_RANGE[0], "maximum": RUN_ORDER_RANGE[1]},
            "configuration": {
                "propertyNames": {"minLength": 1, "maxLength": CONFIGURATION_KEY_MAX},
                "additionalProperties": {**strings, "maxLength": CONFIGURATION_VALUE_MAX},
            },
            "commands": {"minItems": 1, "maxItems": 50, "items": {**strings, "maxLength": 1000}},
            "outputVariables": {
                "minItems": 1,
                "maxItems": 15,
                "items": {**strings, "maxLength": 128},
            },
            "roleArn": role,
            "region": {"minLength": 4, "maxLength": 30},
            "namespace": _name_schema(NAMESPACE_PATTERN),
            "timeoutInMinutes": {"minimum": TIMEOUT_RANGE[0], "maximum": TIMEOUT_RANGE[1]},
            "environmentVariables": {"minItems": 1, "maxItems": 10},
        },
        "ActionTypeId": {
            "category": {"enum": _strings(catalogue.CATEGORIES)},
            "owner": {"enum": _strings(catalogue.OWNERS)},
            "provider": _name_schema(PROVIDER_PATTERN, 35),
            "version": _name_schema(PROVIDER_PATTERN, 9),
        },
        "InputArtifact": {"name": _name_schema(ARTIFACT_NAME_PATTERN)},
        "OutputArtifact": {
            "name": _name_schema(ARTIFACT_NAME_PATTERN),
            "files": {"minItems": 1, "maxItems": 10, "items": {**strings, "maxLength": 128}},
        },
        "EnvironmentVariable": {
            "name": _name_schema(ENVIRONMENT_NAME_PATTERN, 128),
            "value": {"minLength": 1, "maxLength": 2000},
            "type": {"enum": _strings(ENVIRONMENT_TYPES)},
        },
        "BlockerDeclaration": {
            "name": {"minLength": 1, "maxLength": 100},
            "type": {"enum": ["Schedule"]},
        },
        "RetryConfiguration": {"retryMode": {"enum": _strings(RETRY_MODES)}},
        "FailureConditions": {
            "result": {"enum": _strings(FAILURE_RESULTS)},
            "conditions": conditions,
        },
        "SuccessConditions": {"conditions": conditions},
        "BeforeEntryConditions": {"conditions": conditions},
        "Condition": {
            "result": {"enum": sorted({*FAILURE_RESULTS, *SUCCESS_RESULTS, *ENTRY_RESULTS})},
            "rules": {"minItems": 1, "maxItems": 5},
        },
        "PipelineVariable": {
            "name": _name_schema(VARIABLE_NAME_PATTERN, 128),
            "defaultValue": {"minLength": 1, "maxLength": 1000},
            "description": {"maxLength": 200},
        },
        "ArtifactStore": {
            "type": {"enum": ["S3"]},
            "location": {
                "minLength": 3,
                "maxLength": 63,
                "pattern": _anchored(STORE_LOCATION_PATTERN),
            },
        },
        "EncryptionKey": {"id": {"minLength": 1, "maxLength": 400}, "type": {"enum": ["KMS"]}},
    }


def _constrain(schema: dict[str, Any], extra: Mapping[str, Any]) -> None:
    # Optional fields are anyOf [T, null]: the constraint belongs on the non-null branch.
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if branch.get("type") != "null":
                _constrain(branch, extra)
        return
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(schema.get(key), dict):
            schema[key].update(value)
        else:
            schema[key] = value


def pipeline_json_schema(limits: Limits = Limits()) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a definition, bare or wrapped as get-pipeline prints it.

    Built from the models and annotated with the local constraints; cross-references (artifact
    flow, namespaces, source placement) are beyond JSON Schema and only parse_definition checks
    them.
    """
    top = PipelineDeclaration.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    definitions: dict[str, Any] = top.pop("$defs", {})
    definitions["PipelineDeclaration"] = top
    for model, properties in _annotations(limits).items():
        for name, extra in properties.items():
            # A KeyError here means a model and the annotations drifted apart.
            _constrain(definitions[model]["properties"][name], extra)
    definitions["PipelineDocument"] = {
        "title": "PipelineDocument",
        "description": "The output of `aws codepipeline get-pipeline`; metadata is ignored.",
        "type": "object",
        "properties": {
            "pipeline": {"$ref": "#/$defs/PipelineDeclaration"},
            "metadata": {"type": "object"},
            "tags": {"type": "array"},
        },
        "required": ["pipeline"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Conveyor pipeline definition",
        "anyOf": [{"$ref": "#/$defs/PipelineDeclaration"}, {"$ref": "#/$defs/PipelineDocument"}],
        "$defs": definitions,
    }
