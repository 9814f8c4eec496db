"""Parse and validate a pipeline definition, reporting every problem at once with path and rule."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from domain.validation.limits import Limits

if TYPE_CHECKING:
    from domain.validation.parse import parse_definition
    from domain.validation.schema import SCHEMA_ID, pipeline_json_schema

__all__ = ["SCHEMA_ID", "Limits", "parse_definition", "pipeline_json_schema"]

# Imported on first use: they load pydantic and the models, which settings (Limits) do not need.
_LAZY = {
    "parse_definition": "domain.validation.parse",
    "pipeline_json_schema": "domain.validation.schema",
    "SCHEMA_ID": "domain.validation.schema",
}


def __getattr__(name: str) -> Any:
    """The package's public names, imported on first use.

    Modules by concern: `load` (JSON text, wrapped documents), `shape` (pydantic's findings),
    `pipeline`, `stages`, `actions` and `flow` (the rules), `schema` (JSON Schema);
    `constraints` and `limits` hold the numbers and patterns they share.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
