"""What the rules share while they walk a document: its facts, field checks and the problems."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.errors import Problem
from domain.validation.constraints import EXECUTION_MODES, PIPELINE_TYPES, StringList, Text
from domain.validation.limits import Limits
from domain.validation.raw import short
from domain.vocabulary import ActionCategory, ExecutionMode, PipelineType


@dataclass
class ActionView:
    """A tolerant view of one action: what the flow rules need, whatever its shape."""

    path: str
    stage_index: int
    stage_name: str
    name: str
    category: ActionCategory | None
    run_order: int
    raw: Mapping[str, Any]
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (path, name)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    namespace: str | None = None

    def describe(self) -> str:
        return f"'{self.name}' in stage '{self.stage_name}'"


class Checker:
    """The raw document, the facts earlier rules learned about it, and every problem found.

    Rules are tolerant of bad shapes: pydantic reports those, a rule checks what it can read.
    """

    def __init__(self, document: Mapping[str, Any], limits: Limits) -> None:
        self.doc = document
        self.limits = limits
        self.problems: list[Problem] = []
        pipeline_type = document.get("pipelineType", PipelineType.V1)
        self.pipeline_type = (
            PipelineType(pipeline_type) if pipeline_type in PIPELINE_TYPES else None
        )
        mode = document.get("executionMode", ExecutionMode.SUPERSEDED)
        self.execution_mode = ExecutionMode(mode) if mode in EXECUTION_MODES else None
        self.actions: list[ActionView] = []  # filled by the stage rules
        self.variable_names: set[str] = set()  # filled by the variable rules

    def add(self, path: str, rule: str, message: str) -> None:
        self.problems.append(Problem(path, rule, message))

    def is_v1(self) -> bool:
        return self.pipeline_type == PipelineType.V1

    def v1_reason(self) -> str:
        if "pipelineType" in self.doc:
            return 'this pipeline is V1; set "pipelineType": "V2"'
        return 'this pipeline is V1 because pipelineType is omitted; set "pipelineType": "V2"'

    def text(self, path: str, value: Any, spec: Text) -> None:
        """Checks a string's length, then its pattern; anything else is left to pydantic."""
        if not isinstance(value, str):
            return
        if not spec.low <= len(value) <= spec.high:
            self.add(
                path,
                f"{spec.rule}.length",
                f"{spec.what} must be {spec.low} to {spec.high} characters long; "
                f"'{short(value)}' has {len(value)}",
            )
        elif spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            self.add(path, f"{spec.rule}.pattern", f"{spec.what} '{short(value)}' {spec.allowed}")

    def enum(self, path: str, value: Any, allowed: tuple[str, ...]) -> None:
        if isinstance(value, str) and value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.add(
                path, "field.enum", f"'{short(value)}' is not one of {', '.join(allowed)}{hint}"
            )

    def string_list(self, path: str, value: Any, spec: StringList) -> None:
        if not isinstance(value, list):
            return
        what = spec.what
        if not 1 <= len(value) <= spec.most:
            self.add(
                path, f"{what}.count", f"{what} holds 1 to {spec.most} entries; it has {len(value)}"
            )
        for index, item in enumerate(value):
            if isinstance(item, str) and not 1 <= len(item) <= spec.longest:
                self.add(
                    f"{path}[{index}]",
                    f"{what}.length",
                    f"each of {what} has 1 to {spec.longest} characters; this one has {len(item)}",
                )
