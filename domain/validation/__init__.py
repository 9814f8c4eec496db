"""Parse and validate a pipeline definition, reporting every problem at once with path and rule.

Modules by concern: `load` (JSON text, wrapped documents), `shape` (pydantic's findings),
`pipeline`, `stages`, `actions` and `flow` (the rules), `schema` (JSON Schema); `constraints`
and `limits` hold the numbers and patterns they share.
"""

from __future__ import annotations

from domain.validation.limits import Limits
from domain.validation.parse import parse_definition
from domain.validation.schema import SCHEMA_ID, pipeline_json_schema

__all__ = ["SCHEMA_ID", "Limits", "parse_definition", "pipeline_json_schema"]
