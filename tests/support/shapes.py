"""Checks a raw JSON document against botocore's CodePipeline output shape for an operation.

botocore's service model is the reference for what CodePipeline's responses look like: member
names, types, enums, required members, lengths, patterns and numeric ranges. The checker walks
the JSON as Conveyor emits it (not boto3's parsed output, which would hide a `null` or a string
where a timestamp belongs) and returns every problem with its JSON path, so one run shows them
all. AWS leaves an absent member out, so `null` is a problem wherever it appears.

    shape_problems("GetPipelineState", document) -> ["$.stageStates[0].updated: ..."]
    assert_shape("GetPipelineState", document)   # raises AssertionError listing them
"""

from __future__ import annotations

import functools
import re
from typing import Any

SERVICE = "codepipeline"


@functools.cache
def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICE)


def output_shape(operation: str) -> Any:
    """The botocore output shape of one CodePipeline operation (None if it returns nothing)."""
    return _service_model().operation_model(operation).output_shape


def operations() -> list[str]:
    """Every operation CodePipeline's model names."""
    return list(_service_model().operation_names)


def shape_problems(operation: str, document: Any) -> list[str]:
    """Every way `document` differs from `operation`'s output shape, each with its JSON path."""
    shape = output_shape(operation)
    if shape is None:
        return [] if document in ({}, None) else [f"$: {operation} returns no members"]
    problems: list[str] = []
    _check(shape, document, "$", problems)
    return problems


def assert_shape(operation: str, document: Any) -> None:
    """Raise AssertionError naming every problem `shape_problems` finds."""
    problems = shape_problems(operation, document)
    assert not problems, f"{operation} does not match botocore's model:\n  " + "\n  ".join(problems)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if value is None:
        problems.append(f"{path}: null ({shape.name}); AWS leaves an absent member out")
        return
    checker = _CHECKERS.get(shape.type_name)
    if checker is None:
        problems.append(f"{path}: the checker does not know type {shape.type_name!r}")
        return
    checker(shape, value, path, problems)


def _check_structure(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({shape.name}), got {_kind(value)}")
        return
    members = shape.members
    for name in value:
        if name not in members:
            problems.append(f"{path}.{name}: {shape.name} has no member {name!r}")
    for name in shape.required_members:
        if name not in value:
            problems.append(f"{path}.{name}: required by {shape.name}, missing")
    for name, member in value.items():
        if name in members:
            _check(members[name], member, f"{path}.{name}", problems)


def _check_list(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{path}: expected a list ({shape.name}), got {_kind(value)}")
        return
    _check_size(shape, len(value), "items", path, problems)
    for index, item in enumerate(value):
        _check(shape.member, item, f"{path}[{index}]", problems)


def _check_map(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({shape.name}), got {_kind(value)}")
        return
    _check_size(shape, len(value), "entries", path, problems)
    for key, item in value.items():
        _check(shape.key, key, f"{path}<key {key!r}>", problems)
        _check(shape.value, item, f"{path}[{key!r}]", problems)


def _check_string(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: expected a string ({shape.name}), got {_kind(value)}")
        return
    if shape.enum and value not in shape.enum:
        problems.append(f"{path}: {value!r} is not one of {shape.name}'s {sorted(shape.enum)}")
    _check_size(shape, len(value), "characters", path, problems)
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not _matches(pattern, value):
        problems.append(f"{path}: {value!r} does not match {shape.name}'s pattern {pattern}")


def _check_integer(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{path}: expected an integer ({shape.name}), got {_kind(value)}")
        return
    _check_size(shape, value, "", path, problems)


def _check_float(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not _is_number(value):
        problems.append(f"{path}: expected a number ({shape.name}), got {_kind(value)}")
        return
    _check_size(shape, value, "", path, problems)


def _check_boolean(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"{path}: expected a boolean ({shape.name}), got {_kind(value)}")


def _check_timestamp(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    # JSON 1.1 protocols send timestamps as epoch seconds, a number.
    if not _is_number(value):
        problems.append(f"{path}: expected epoch seconds ({shape.name}), got {_kind(value)}")


def _check_blob(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: expected base64 text ({shape.name}), got {_kind(value)}")


def _check_size(shape: Any, size: int | float, unit: str, path: str, problems: list[str]) -> None:
    """The model's `min`/`max`: a length for strings, lists and maps; a value for numbers."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    what = f"{size} {unit}".strip()
    if low is not None and size < low:
        problems.append(f"{path}: {what}, below {shape.name}'s minimum {low}")
    if high is not None and size > high:
        problems.append(f"{path}: {what}, above {shape.name}'s maximum {high}")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the pattern cannot be checked here
        return None


def _matches(pattern: str, value: str) -> bool:
    # AWS matches the whole value (Java's String.matches); many patterns carry no anchors.
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_float,
    "double": _check_float,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
