"""Request bodies checked against CodePipeline's input shapes, read from botocore's model."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from server.errors import ApiError

# Members whose content the domain checks itself, rule by rule, listing every problem at once
# (InvalidStructureException): only their being an object is checked here.
OPAQUE = frozenset({("CreatePipeline", "pipeline"), ("UpdatePipeline", "pipeline")})
# AWS stops listing after this many problems, as its messages show.
MAX_LISTED = 10


@functools.cache
def service_model() -> Any:
    """CodePipeline's service model as botocore ships it: the one source of the input shapes."""
    import botocore.session

    return botocore.session.get_session().get_service_model("codepipeline")


def operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def check(operation: str, body: Mapping[str, Any]) -> None:
    """Refuse a body that breaks its operation's input shape with AWS's ValidationException."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    for name, member in shape.members.items():
        value = body.get(name)
        if (operation, name) in OPAQUE:
            if name in body and not isinstance(value, dict):
                problems.append(_problem(value, name, "Member must be a structure"))
            elif name not in body and name in shape.required_members:
                problems.append(_problem(None, name, "Member must not be null"))
            continue
        _walk(member, value, name, name in shape.required_members, problems)
    if problems:
        raise validation_error(problems)


def validation_error(problems: list[str]) -> ApiError:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    listed = "; ".join(problems[:MAX_LISTED])
    return ApiError("ValidationException", f"{count} validation {noun} detected: {listed}")


def _problem(value: Any, path: str, constraint: str) -> str:
    shown = "null" if value is None else repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 100:
        shown = shown[:100] + "..."
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _walk(shape: Any, value: Any, path: str, required: bool, problems: list[str]) -> None:
    if value is None:
        if required:
            problems.append(_problem(None, path, "Member must not be null"))
        return
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, problems)


def _structure(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(_problem(value, path, "Member must be a structure"))
        return
    for name, member in shape.members.items():
        _walk(member, value.get(name), f"{path}.{name}", name in shape.required_members, problems)


def _list(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(_problem(value, path, "Member must be a list"))
        return
    _length(shape, value, len(value), path, "length", problems)
    for index, item in enumerate(value, start=1):
        _walk(shape.member, item, f"{path}.{index}.member", True, problems)


def _map(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(_problem(value, path, "Member must be a map"))
        return
    _length(shape, value, len(value), path, "length", problems)
    for key, item in value.items():
        _walk(shape.key, key, f"{path}.key", True, problems)
        _walk(shape.value, item, f"{path}.{key}", True, problems)


def _string(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(_problem(value, path, "Member must be a string"))
        return
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.append(_problem(value, path, f"Member must satisfy enum value set: {enum}"))
        return
    _length(shape, value, len(value), path, "length", problems)
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        problems.append(
            _problem(value, path, f"Member must satisfy regular expression pattern: {pattern}")
        )


def _integer(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(_problem(value, path, "Member must be an integer"))
        return
    _length(shape, value, value, path, "value", problems)


def _boolean(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(_problem(value, path, "Member must be a boolean"))


def _timestamp(shape: Any, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(_problem(value, path, "Member must be a timestamp"))


def _length(shape: Any, value: Any, size: int, path: str, what: str, problems: list[str]) -> None:
    """AWS's wording: "Member must have length less than or equal to 100" (or value)."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.append(
            _problem(value, path, f"Member must have {what} greater than or equal to {low}")
        )
    elif high is not None and size > high:
        problems.append(
            _problem(value, path, f"Member must have {what} less than or equal to {high}")
        )


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_CHECKERS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "timestamp": _timestamp,
}
