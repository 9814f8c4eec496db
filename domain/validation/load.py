"""Loading a definition: JSON text or a mapping, bare or wrapped as `get-pipeline` prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import Problem
from domain.validation import jsontext
from domain.validation.raw import ROOT, kind

WRAPPER_KEYS = ("pipeline", "metadata", "tags")

_UNPARSED = object()  # not None: `null` is valid JSON, reported as "not a JSON object"


def load_document(
    source: str | bytes | Mapping[str, Any], problems: list[Problem]
) -> dict[str, Any] | None:
    """The pipeline object of a document, or None after adding why it has none to problems."""
    raw: Any
    if isinstance(source, str | bytes):
        raw = _parse_json(source, problems)
        if raw is _UNPARSED:
            return None
    else:
        raw = source
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(ROOT, "field.type", f"the document must be a JSON object, not {kind(raw)}")
        )
        return None
    if "pipeline" not in raw:
        return dict(raw)
    return _unwrap(raw, problems)


def _parse_json(text: str | bytes, problems: list[Problem]) -> Any:
    try:
        return jsontext.loads(text)
    except jsontext.JsonTextError as error:
        problems.extend(error.problems)
    return _UNPARSED


def _unwrap(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    # Wrapped as `get-pipeline` prints it (or as create-pipeline's --cli-input-json takes it).
    for name in raw:
        if name not in WRAPPER_KEYS:
            problems.append(
                Problem(
                    str(name),
                    "unknown-field",
                    f"unknown field '{name}' beside 'pipeline'; "
                    f"a wrapped document may hold only {', '.join(WRAPPER_KEYS)}",
                )
            )
    inner = raw["pipeline"]
    if not isinstance(inner, Mapping):
        problems.append(
            Problem(ROOT, "field.type", f"'pipeline' must be a JSON object, not {kind(inner)}")
        )
        return None
    return dict(inner)
