"""The properties file: which properties to check and the ranges histories are drawn from."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from domain.definition import PipelineDeclaration
from domain.errors import ConveyorError, InvalidDefinition, Problem
from domain.vocabulary import ActionCategory
from engine.inputs import UnreadableInput, read_text
from projections.billing import BillingRules

KINDS = ("passes-before", "never-regresses", "max-wait", "lead-time", "at-most-in-flight")
# The parameters each kind takes: required, then optional.
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "passes-before": (("first", "then"), ()),
    "never-regresses": (("stage",), ()),
    "max-wait": (("within",), ("stage", "approval")),
    "lead-time": (("stage", "within"), ()),
    "at-most-in-flight": (("max",), ("stage",)),
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


class InvalidProperties(InvalidDefinition):
    """A properties file that breaks one or more rules; carries every problem at once."""

    code = "InvalidPropertiesException"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"the properties file has {count} problem{'s' if count != 1 else ''}"
        ConveyorError.__init__(self, head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


def seconds(value: object) -> float:
    """90, "90s", "10m", "2h", "1d" as seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _duration(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


@dataclass(frozen=True)
class Range:
    """A closed interval of seconds a value is drawn from."""

    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Inputs:
    """What histories are made of, and how likely each thing is."""

    pushes_min: int = 1
    pushes_max: int = 4
    per_hour: float = 6.0
    per_month: float | None = None
    # Keys: "Stage/Action", "Action", a category ("Build"), or "default".
    durations: Mapping[str, Range] = field(default_factory=dict)
    failures: Mapping[str, float] = field(default_factory=dict)
    approval_delay: Range = Range(60.0, 3600.0)
    rejections: float = 0.1
    timeouts: float = 0.05
    retries: int = 1
    retry_delay: Range = Range(60.0, 1800.0)
    transitions: bool = True
    stops: bool = True
    updates: bool = True
    max_operations: int = 2

    def pushes_per_month(self) -> float:
        return self.per_month if self.per_month is not None else self.per_hour * 24 * 30


DEFAULT_DURATIONS = {
    ActionCategory.SOURCE.value: Range(5.0, 30.0),
    "default": Range(30.0, 900.0),
}
DEFAULT_FAILURE = 0.1


@dataclass(frozen=True)
class PropertySpec:
    """One property to check: its kind, its parameters, where it was declared."""

    kind: str
    params: Mapping[str, Any]
    path: str = ""

    def describe(self) -> str:
        shown = " ".join(
            f"{k}={_duration(v) if k == 'within' else v}" for k, v in self.params.items()
        )
        return f"{self.kind} {shown}".strip()


@dataclass(frozen=True)
class Spec:
    properties: tuple[PropertySpec, ...] = ()
    inputs: Inputs = Inputs()
    billing: BillingRules = field(default_factory=BillingRules)


def load_spec(path: Path | None, declaration: PipelineDeclaration) -> Spec:
    """The validated properties file (YAML or JSON), or the defaults without one."""
    if path is None:
        return Spec()
    try:
        text = read_text(path, "yaml")
    except UnreadableInput as error:
        raise InvalidProperties([error.problem]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = Problem("$", "yaml", f"{path} is not YAML or JSON: {error}")
        raise InvalidProperties([problem]) from None
    except RecursionError:
        problem = Problem("$", "yaml", f"{path} nests lists and mappings too deeply")
        raise InvalidProperties([problem]) from None
    return parse_spec(document if document is not None else {}, declaration)


def parse_spec(document: object, declaration: PipelineDeclaration) -> Spec:
    """Check everything, then raise InvalidProperties with every problem found."""
    checker = _Checker(declaration)
    spec = checker.spec(document)
    if checker.problems:
        raise InvalidProperties(checker.problems)
    return spec


def check_property(kind: str, params: Mapping[str, Any]) -> PropertySpec:
    """One property as a properties file would declare it, checked without a pipeline at hand.

    Every rule of the file applies except that the names it gives (stages, approval actions)
    are not looked up; InvalidProperties lists every problem.
    """
    checker = _Checker(None)
    if kind not in KINDS:
        checker.problem("kind", "kind", f"'{kind}' is not one of {', '.join(KINDS)}")
        raise InvalidProperties(checker.problems)
    checked = checker.parameters(kind, {"kind": kind, **params}, kind)
    if checked is None:
        raise InvalidProperties(checker.problems)
    return PropertySpec(kind, checked, kind)


class _Checker:
    def __init__(self, declaration: PipelineDeclaration | None) -> None:
        """Without a declaration, stage and approval names are taken as given."""
        self.declaration = declaration
        self.problems: list[Problem] = []
        self.stages = declaration.stage_names() if declaration else None
        self.actions = {
            f"{stage.name}/{action.name}": action.category
            for stage in (declaration.stages if declaration else ())
            for action in stage.actions
        }

    def problem(self, path: str, rule: str, message: str) -> None:
        self.problems.append(Problem(path, rule, message))

    def spec(self, document: object) -> Spec:
        if not isinstance(document, Mapping):
            self.problem("$", "type", "must be a mapping with 'properties' and 'inputs'")
            return Spec()
        self.unknown(document, "$", ("properties", "inputs", "billing"))
        properties = self.properties(document.get("properties") or [])
        inputs = self.inputs(document.get("inputs") or {})
        billing = BillingRules()
        try:
            billing = BillingRules.from_mapping(document.get("billing") or {})
        except (ConveyorError, TypeError, ValueError, ArithmeticError) as error:
            self.problem("billing", "billing", str(error))
        return Spec(properties, inputs, billing)

    def unknown(self, document: Mapping[str, Any], path: str, known: Sequence[str]) -> None:
        for key in document:
            if key not in known:
                self.problem(
                    f"{path}.{key}" if path != "$" else str(key),
                    "unknown",
                    f"unknown key; known: {', '.join(known)}",
                )

    # ----- properties ---------------------------------------------------------------------

    def properties(self, items: object) -> tuple[PropertySpec, ...]:
        if not isinstance(items, list):
            self.problem("properties", "type", "must be a list of properties")
            return ()
        found = []
        for index, item in enumerate(items):
            path = f"properties[{index}]"
            if not isinstance(item, Mapping):
                self.problem(path, "type", "must be a mapping with a 'kind'")
                continue
            kind = item.get("kind")
            if kind not in KINDS:
                self.problem(f"{path}.kind", "kind", f"'{kind}' is not one of {', '.join(KINDS)}")
                continue
            params = self.parameters(str(kind), item, path)
            if params is not None:
                found.append(PropertySpec(str(kind), params, path))
        return tuple(found)

    def parameters(self, kind: str, item: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        required, optional = PARAMETERS[kind]
        self.unknown(item, path, ("kind", *required, *optional))
        before = len(self.problems)
        params: dict[str, Any] = {}
        for name in required:
            if name not in item:
                self.problem(f"{path}.{name}", "required", f"required for {kind}")
        for name in (*required, *optional):
            if name in item:
                params[name] = self.parameter(name, item[name], f"{path}.{name}")
        if kind == "max-wait" and ("stage" in item) == ("approval" in item):
            self.problem(path, "one-of", "max-wait needs exactly one of 'stage' or 'approval'")
        if kind == "passes-before" and {"first", "then"} <= set(params):
            first, then = params["first"], params["then"]
            if (self.stages is None or first in self.stages) and first == then:
                self.problem(f"{path}.then", "order", "must name another stage than 'first'")
        return params if len(self.problems) == before else None

    def parameter(self, name: str, value: Any, path: str) -> Any:
        if self.stages is None:
            if name in ("stage", "first", "then", "approval"):
                return self.name(value, path)
        elif name in ("stage", "first", "then"):
            if value not in self.stages:
                self.problem(path, "stage", f"no stage '{value}'; stages: {', '.join(self.stages)}")
            return value
        elif name == "approval":
            category = self.actions.get(str(value))
            if category != ActionCategory.APPROVAL:
                approvals = [k for k, c in self.actions.items() if c == ActionCategory.APPROVAL]
                self.problem(
                    path,
                    "approval",
                    f"'{value}' is not an approval action (Stage/Action); approvals: "
                    + (", ".join(approvals) or "none"),
                )
            return value
        if name == "within":
            return self.duration(value, path)
        # max
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(path, "range", f"must be a whole number of at least 1, not {value!r}")
        return value

    def name(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not value:
            self.problem(path, "type", f"must be a name, not {value!r}")
        return value

    def duration(self, value: object, path: str) -> float:
        try:
            return seconds(value)
        except ValueError:
            self.problem(path, "duration", f"'{value}' is not a duration (90, 90s, 10m, 2h, 1d)")
            return 0.0

    # ----- inputs -------------------------------------------------------------------------

    def inputs(self, document: object) -> Inputs:
        if not isinstance(document, Mapping):
            self.problem("inputs", "type", "must be a mapping")
            return Inputs()
        self.unknown(
            document,
            "inputs",
            ("pushes", "durations", "failures", "approvals", "retries", "events"),
        )
        values: dict[str, Any] = {}
        values.update(self.pushes(document.get("pushes") or {}))
        values["durations"] = self.keyed(document.get("durations") or {}, "inputs.durations")
        values["failures"] = self.keyed(
            document.get("failures") or {}, "inputs.failures", probability=True
        )
        values.update(self.approvals(document.get("approvals") or {}))
        values.update(self.retries(document.get("retries") or {}))
        values.update(self.events(document.get("events") or {}))
        return Inputs(**values)

    def whole(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, "range", f"must be a whole number from {low} to {high}")
            return low
        return value

    def positive(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.problem(path, "range", f"must be a number above 0, not {value!r}")
            return 1.0
        return float(value)

    def probability(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            self.problem(path, "probability", f"must be a probability from 0 to 1, not {value!r}")
            return 0.0
        return float(value)

    def range(self, value: Any, path: str) -> Range:
        """[low, high], "low..high", or one duration (a fixed value)."""
        parts: list[Any]
        if isinstance(value, list):
            parts = value
        elif isinstance(value, str) and ".." in value:
            parts = value.split("..")
        else:
            parts = [value, value]
        if len(parts) != 2:
            self.problem(path, "range", "must be [low, high], 'low..high' or one duration")
            return Range(0.0, 0.0)
        low, high = (self.duration(part, path) for part in parts)
        if low > high:
            self.problem(path, "range", f"low {parts[0]} is above high {parts[1]}")
        return Range(low, high)

    def pushes(self, document: Any) -> dict[str, Any]:
        if not isinstance(document, Mapping):
            self.problem("inputs.pushes", "type", "must be a mapping")
            return {}
        path = "inputs.pushes"
        self.unknown(document, path, ("min", "max", "perHour", "perMonth"))
        found: dict[str, Any] = {}
        if "min" in document:
            found["pushes_min"] = self.whole(document["min"], f"{path}.min", 1, 20)
        if "max" in document:
            found["pushes_max"] = self.whole(document["max"], f"{path}.max", 1, 20)
        low = found.get("pushes_min", Inputs.pushes_min)
        high = found.setdefault("pushes_max", max(low, Inputs.pushes_max))
        if low > high:
            self.problem(f"{path}.min", "range", f"{low} is above max {high}")
        if "perHour" in document:
            found["per_hour"] = self.positive(document["perHour"], f"{path}.perHour")
        if "perMonth" in document:
            found["per_month"] = self.positive(document["perMonth"], f"{path}.perMonth")
        return found

    def keyed(self, document: Any, path: str, *, probability: bool = False) -> dict[str, Any]:
        """Per-action values keyed by "Stage/Action", "Action", a category or "default"."""
        if not isinstance(document, Mapping):
            self.problem(path, "type", "must be a mapping of action to value")
            return {}
        names = {key.split("/")[1] for key in self.actions}
        categories = {str(c) for c in ActionCategory}
        found: dict[str, Any] = {}
        for key, value in document.items():
            where = f"{path}.{key}"
            known = key in self.actions or key in names or key in categories or key == "default"
            if not known:
                self.problem(
                    where,
                    "action",
                    "no such action: use Stage/Action, an action name, a category or default",
                )
                continue
            found[key] = self.probability(value, where) if probability else self.range(value, where)
        return found

    def approvals(self, document: Any) -> dict[str, Any]:
        path = "inputs.approvals"
        if not isinstance(document, Mapping):
            self.problem(path, "type", "must be a mapping")
            return {}
        self.unknown(document, path, ("delay", "rejections", "timeouts"))
        found: dict[str, Any] = {}
        if "delay" in document:
            found["approval_delay"] = self.range(document["delay"], f"{path}.delay")
        for key, name in (("rejections", "rejections"), ("timeouts", "timeouts")):
            if key in document:
                found[name] = self.probability(document[key], f"{path}.{key}")
        if found.get("rejections", 0.0) + found.get("timeouts", 0.0) > 1:
            self.problem(path, "probability", "rejections and timeouts add up to more than 1")
        return found

    def retries(self, document: Any) -> dict[str, Any]:
        path = "inputs.retries"
        if not isinstance(document, Mapping):
            self.problem(path, "type", "must be a mapping")
            return {}
        self.unknown(document, path, ("max", "delay"))
        found: dict[str, Any] = {}
        if "max" in document:
            found["retries"] = self.whole(document["max"], f"{path}.max", 0, 5)
        if "delay" in document:
            found["retry_delay"] = self.range(document["delay"], f"{path}.delay")
        return found

    def events(self, document: Any) -> dict[str, Any]:
        path = "inputs.events"
        if not isinstance(document, Mapping):
            self.problem(path, "type", "must be a mapping")
            return {}
        self.unknown(document, path, ("transitions", "stops", "updates", "max"))
        found: dict[str, Any] = {}
        for key in ("transitions", "stops", "updates"):
            if key in document:
                if not isinstance(document[key], bool):
                    self.problem(f"{path}.{key}", "type", "must be true or false")
                else:
                    found[key] = document[key]
        if "max" in document:
            found["max_operations"] = self.whole(document["max"], f"{path}.max", 0, 10)
        return found
