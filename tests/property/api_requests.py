"""Bad API requests drawn from botocore's CodePipeline model: a near-valid body, one fault in it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape
from hypothesis import find, settings
from hypothesis import strategies as st

TARGET_PREFIX = "CodePipeline_20150709"
CONTENT_TYPE = "application/x-amz-json-1.1"

# Members botocore's model requires that Conveyor reads as optional, by design: a local
# pipeline has no IAM role (docs/api.md). Removing them is not a fault.
OPTIONAL_HERE = frozenset({"roleArn"})


@cache
def model() -> Any:
    return botocore.session.get_session().get_service_model("codepipeline")


def operation_model(operation: str) -> OperationModel:
    return model().operation_model(operation)


@dataclass(frozen=True)
class Case:
    """One request the API must refuse: its body, its headers and what was done to them."""

    operation: str
    body: bytes
    headers: Mapping[str, str]
    fault: str

    def __repr__(self) -> str:
        shown = self.body[:300].decode("utf-8", "replace")
        more = f" (+{len(self.body) - 300} bytes)" if len(self.body) > 300 else ""
        return (
            f"Case({self.operation}, {self.fault}, headers={dict(self.headers)}, "
            f"body={shown!r}{more})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints a falsifying example with this hook; a 1 MB body stays short.
        printer.text(repr(self))


def headers_for(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": CONTENT_TYPE}


# ----- valid values, where the store gives none ---------------------------------------------

# Strings that match the model's patterns for members the store does not name.
PLAIN_STRINGS = {
    "DisabledReason": "fuzzing (case 1)",
    "ClientRequestToken": "fuzz-token-1",
    "NextToken": "1",
    "ApprovalSummary": "looks right",
    "StopPipelineExecutionReason": "fuzz",
    "TagKey": "team",
    "TagValue": "delivery",
    "PipelineVariableName": "Greeting",
    "PipelineVariableValue": "hello",
    "AWSRegionName": "us-east-1",
    "Revision": "0123456789abcdef",
    "ActionName": "Object",
}


@dataclass(frozen=True)
class Known:
    """What the store holds for one operation: its top-level members by name (pipeline,
    stage, execution, token), and values for shapes wherever they appear (an execution id in
    a filter), so the request would succeed but for the fault put in it."""

    members: Mapping[str, Any]
    shapes: Mapping[str, Any]


def valid_value(draw: st.DrawFn, shape: Shape, known: Known, name: str = "") -> Any:
    """A value the model accepts, the store's own where it names one."""
    if name in known.members:
        return copy.deepcopy(known.members[name])
    if shape.name in known.shapes:
        return copy.deepcopy(known.shapes[shape.name])
    kind = shape.type_name
    if kind == "structure":
        return valid_structure(draw, shape, inner(known))
    if kind == "list":
        count = draw(st.integers(min_value=max(1, shape.metadata.get("min", 0)), max_value=2))
        return [valid_value(draw, shape.member, inner(known)) for _ in range(count)]
    if kind == "string":
        if shape.enum:
            return draw(st.sampled_from(shape.enum))
        return PLAIN_STRINGS.get(shape.name, "a" * max(1, shape.metadata.get("min", 1)))
    if kind in ("integer", "long"):
        low = shape.metadata.get("min", 1)
        return draw(
            st.integers(min_value=low, max_value=min(low + 5, shape.metadata.get("max", 99)))
        )
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "map":
        return {"key": "value"}
    return 1


def valid_structure(draw: st.DrawFn, shape: Shape, known: Known) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, member in shape.members.items():
        if name in shape.required_members or name in known.members or draw(st.booleans()):
            body[name] = valid_value(draw, member, known, name)
    return body


def plain_body(operation: str, known: Known) -> dict[str, Any]:
    """The smallest fault-free body the strategies start from: what each fault is put into."""
    shape = operation_model(operation).input_shape
    bodies = st.composite(lambda draw: valid_structure(draw, shape, known))()
    return find(bodies, lambda _: True, settings=settings(database=None))


def inner(known: Known) -> Known:
    """Below the top level, members are named by their shape only."""
    return Known({}, known.shapes)


# ----- the places in a body a fault can go ---------------------------------------------------


@dataclass
class Slot:
    """One member or list element of a body, with the model's shape for it."""

    container: Any
    key: Any
    shape: Shape
    required: bool


def slots(body: Any, shape: Shape) -> list[Slot]:
    """Every member and list element present in the body, its shape beside it."""
    found: list[Slot] = []
    if shape.type_name == "structure" and isinstance(body, dict):
        for name, value in body.items():
            member = shape.members.get(name)
            if member is None:
                continue
            found.append(Slot(body, name, member, name in shape.required_members))
            found.extend(slots(value, member))
    elif shape.type_name == "list" and isinstance(body, list):
        for index, value in enumerate(body):
            found.append(Slot(body, index, shape.member, True))
            found.extend(slots(value, shape.member))
    elif shape.type_name == "map" and isinstance(body, dict):
        for name, value in body.items():
            found.append(Slot(body, name, shape.value, True))
            found.extend(slots(value, shape.value))
    return found


JSON_KIND = {
    "string": "string",
    "integer": "number",
    "long": "number",
    "float": "number",
    "double": "number",
    "timestamp": "number",
    "boolean": "boolean",
    "list": "list",
    "structure": "object",
    "map": "object",
}

# One value of each JSON kind that no member of another kind should accept.
OF_KIND: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=8) | st.sampled_from(["1", "true", "[]", "{}", ""]),
    "number": st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    "boolean": st.booleans(),
    "list": st.lists(st.integers(0, 3) | st.text(max_size=3), max_size=3),
    "object": st.dictionaries(st.text(max_size=5), st.integers(0, 3), max_size=3),
}


def wrong_type(draw: st.DrawFn, slot: Slot) -> Any:
    expected = JSON_KIND.get(slot.shape.type_name, "string")
    kinds = [kind for kind in OF_KIND if kind != expected]
    if slot.required:  # null where a value must be; an optional null may mean "left out"
        kinds.append("null")
    kind = draw(st.sampled_from(kinds))
    if kind == "null":
        return None
    value = draw(OF_KIND[kind])
    if expected == "number" and kind == "boolean":
        return value  # true is not 1 in JSON, though Python's bool is an int
    return value


def over_long(draw: st.DrawFn, slot: Slot) -> str:
    limit = slot.shape.metadata.get("max")
    if limit is None:  # no length limit: break the pattern with a long run of spaces
        return " " * draw(st.integers(min_value=200, max_value=5000))
    return "a" * draw(st.integers(min_value=limit + 1, max_value=limit + 400))


def bad_enum(draw: st.DrawFn, slot: Slot) -> str:
    values = list(slot.shape.enum)
    variants = [v.lower() for v in values] + [v.upper() for v in values] + ["", " ", "Nope"]
    choice = draw(st.sampled_from(variants) | st.text(max_size=12))
    return choice if choice not in values else choice + "x"


def out_of_range(draw: st.DrawFn, slot: Slot) -> int:
    low = slot.shape.metadata.get("min")
    high = slot.shape.metadata.get("max")
    choices = [
        st.integers(min_value=10**12, max_value=10**40),
        st.integers(min_value=10**40, max_value=10**40 + 5).map(lambda n: n**10),
        st.integers(max_value=-1),
    ]
    if low is not None:
        choices.append(st.integers(min_value=low - 1000, max_value=low - 1))
    if high is not None:
        choices.append(st.integers(min_value=high + 1, max_value=high + 1000))
    return draw(st.one_of(choices))


def too_many(slot: Slot, value: list[Any]) -> list[Any] | None:
    """A list past the model's max (or under its min), or None when it has no such limit."""
    high = slot.shape.metadata.get("max")
    if high is not None and value:
        return [copy.deepcopy(value[0]) for _ in range(high + 1)]
    if slot.shape.metadata.get("min", 0) >= 1:
        return []
    return None


# ----- whole requests -------------------------------------------------------------------------

FAULTS = ("wrong-type", "missing", "over-long", "bad-enum", "out-of-range", "list-size")


def _put_fault(draw: st.DrawFn, body: dict[str, Any], shape: Shape) -> str | None:
    """Put one fault of a kind the body has room for; return its name, or None if none fits."""
    places = slots(body, shape)
    fits: dict[str, list[Slot]] = {
        "wrong-type": places,
        "missing": [s for s in places if s.required and not isinstance(s.key, int)],
        "over-long": [
            s
            for s in places
            if s.shape.type_name == "string"
            and not s.shape.enum
            and ("max" in s.shape.metadata or "pattern" in s.shape.metadata)
            and s.shape.metadata.get("pattern") != ".*"
        ],
        "bad-enum": [s for s in places if s.shape.type_name == "string" and s.shape.enum],
        "out-of-range": [s for s in places if s.shape.type_name in ("integer", "long")],
        "list-size": [
            s
            for s in places
            if s.shape.type_name == "list"
            and isinstance(s.container[s.key], list)
            and too_many(s, s.container[s.key]) is not None
        ],
    }
    fits["missing"] = [s for s in fits["missing"] if s.key not in OPTIONAL_HERE]
    kinds = [kind for kind in FAULTS if fits[kind]]
    if not kinds:
        return None
    kind = draw(st.sampled_from(kinds))
    slot = draw(st.sampled_from(fits[kind]))
    where = f"{kind} at {slot.key!r}"
    if kind == "missing":
        del slot.container[slot.key]
        return where
    makers: dict[str, Callable[[st.DrawFn, Slot], Any]] = {
        "wrong-type": wrong_type,
        "over-long": over_long,
        "bad-enum": bad_enum,
        "out-of-range": out_of_range,
        "list-size": lambda _draw, s: too_many(s, s.container[s.key]),
    }
    slot.container[slot.key] = makers[kind](draw, slot)
    return where


@st.composite
def faulty_members(draw: st.DrawFn, operation: str, known: Known) -> Case:
    """A body the model describes, with one member wrong; now and then an unknown member too,
    which must not make a refused request pass nor a crash."""
    shape = operation_model(operation).input_shape
    body = valid_structure(draw, shape, known)
    fault = _put_fault(draw, body, shape)
    if fault is None:  # nothing to break (no members at all): make it not an object
        return Case(operation, b"[]", headers_for(operation), "non-object")
    if draw(st.integers(0, 3)) == 0:
        body[draw(st.text(min_size=1, max_size=10))] = draw(OF_KIND["string"])
        fault += " + unknown member"
    return Case(operation, _dump(body), headers_for(operation), fault)


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def bad_documents(draw: st.DrawFn, operation: str, known: Known) -> Case:
    """Bodies that are not a JSON object: cut, spliced, nested too deep, not UTF-8, a number
    with thousands of digits, or another JSON value."""
    shape = operation_model(operation).input_shape
    text = json.dumps(valid_structure(draw, shape, known))
    at = draw(st.integers(min_value=0, max_value=len(text)))
    choice = draw(
        st.sampled_from(["cut", "splice", "deep", "digits", "not-utf8", "scalar", "bytes"])
    )
    if choice == "cut":
        body = text[: max(1, min(at, len(text) - 1))].encode()
    elif choice == "splice":
        junk = draw(st.sampled_from(["{", "}", "[", ",", ":", '"', "\\", "nul", "\x00", "'"]))
        body = (text[:at] + junk + text[at:]).encode()
    elif choice == "deep":
        # Inside a list: whether a few hundred levels parse depends on the parser's stack,
        # and an object that parses is a body with an unknown member, which may succeed.
        depth = draw(st.integers(min_value=500, max_value=100_000))
        body = ("[" + '{"a":' * depth + "1" + "}" * depth + "]").encode()
    elif choice == "digits":
        # Past the 4,300 digits Python's int() takes: its ValueError must be a refusal too.
        body = ('{"maxResults": ' + "9" * draw(st.integers(4_301, 20_000)) + "}").encode()
    elif choice == "not-utf8":
        body = text[:at].encode() + b"\xff\xfe\xc3" + text[at:].encode()
    elif choice == "scalar":
        body = _dump(draw(st.none() | st.booleans() | st.integers() | st.text() | OF_KIND["list"]))
    else:
        body = draw(st.binary(max_size=64))
    # An empty body is `{}` (AWS reads it so), and a document that happens to be an object is
    # not this strategy's business: both become a list.
    if not body.strip() or (_is_object(body) and choice != "digits"):
        body = b"[" + body + b"]"
    return Case(operation, body, headers_for(operation), choice)


def _is_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


TARGETS = st.sampled_from(
    [
        None,
        "",
        f"{TARGET_PREFIX}.",
        f"{TARGET_PREFIX}.NoSuchOperation",
        f"{TARGET_PREFIX}.listPipelines",
        "CodePipeline_20150710.ListPipelines",
        "ListPipelines",
        f"{TARGET_PREFIX}.ListPipelines.Extra",
        f"{TARGET_PREFIX}..ListPipelines",
        "Logs_20140328.DescribeLogGroups",
    ]
) | st.text(max_size=40).map(lambda text: f"{TARGET_PREFIX}.{text}X")


@st.composite
def bad_targets(draw: st.DrawFn) -> Case:
    """A valid ListPipelines body under a missing or wrong X-Amz-Target."""
    target = draw(TARGETS)
    headers = {"Content-Type": CONTENT_TYPE}
    if target is not None:
        headers["X-Amz-Target"] = target
    return Case("(none)", b"{}", headers, f"target {target!r}")


CONTENT_TYPES = st.sampled_from(
    [None, "", "text/plain", "application/xml", "multipart/form-data", "application/x-amz-json"]
) | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30)


@st.composite
def bad_content_types(draw: st.DrawFn, operation: str, known: Known) -> Case:
    """A faulty body under a content type that is not JSON: refused either way."""
    case = draw(faulty_members(operation, known))
    content_type = draw(CONTENT_TYPES)
    headers = {"X-Amz-Target": case.headers["X-Amz-Target"]}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return Case(operation, case.body, headers, f"{case.fault}, content type {content_type!r}")


def requests_for(operation: str, known: Known) -> st.SearchStrategy[Case]:
    return st.one_of(
        faulty_members(operation, known),
        faulty_members(operation, known),  # twice: the richest kind gets half the cases
        bad_documents(operation, known),
        bad_content_types(operation, known),
    )
