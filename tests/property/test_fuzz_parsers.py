"""Fuzzing the parsers: mutated definitions, scenarios, properties, billing rules and audit
exports never raise anything but the project's own errors (ConveyorError and its family).

`make test` runs a modest number of cases; `make fuzz` runs the long profile (2,000 cases for
each of the six parsers, 12,000 in all; the README records the last run)."""

from __future__ import annotations

import contextlib
import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.reports import read_rules_file
from domain.errors import ConveyorError
from domain.validation import parse_definition
from engine.explore.spec import parse_spec
from engine.simulation import Scenario
from projections.audit import chained_lines, verify_lines
from projections.billing import BillingRules
from tests.strategies import valid_definitions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "pipeline.json").read_text())
SCENARIOS = [
    json.loads(path.read_text()) for path in sorted((ROOT / "examples" / "scenarios").glob("*"))
]
RULES = BillingRules().to_dict()

# Any JSON value, kept shallow: depth is fuzzed on its own, by nesting text.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "1", "true", "#{variables.X}", "#{", "-x", "Source", "S3", "PLAINTEXT"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _slots(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, the places a mutation can hit."""
    found: list[tuple[Any, Any]] = []
    pending = [document]
    while pending:
        here = pending.pop()
        if isinstance(here, dict):
            found.extend((here, name) for name in here)
            pending.extend(here.values())
        elif isinstance(here, list):
            found.extend((here, index) for index in range(len(here)))
            pending.extend(here)
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """The base document with a few members replaced, removed or added."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        slots = _slots(document)
        if not slots:
            return draw(values)
        container, name = draw(st.sampled_from(slots))
        operation = draw(st.sampled_from(["replace", "remove", "add"]))
        if operation == "replace":
            container[name] = draw(values)
        elif operation == "remove":
            del container[name]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=10))] = draw(values)
        else:
            container.insert(name, draw(values))
    return document


@st.composite
def mangled_text(draw: st.DrawFn, document: Any) -> str:
    """The document's JSON text, cut, spliced with stray characters or a repeated key, or
    nested hundreds of levels deep."""
    text = json.dumps(document)
    choice = draw(st.sampled_from(["as-is", "cut", "splice", "duplicate", "deep", "digits"]))
    at = draw(st.integers(min_value=0, max_value=len(text)))
    if choice == "cut":
        return text[:at]
    if choice == "splice":
        return text[:at] + draw(st.text(max_size=6)) + text[at:]
    if choice == "duplicate" and text.startswith("{") and len(text) > 2:
        return '{"name": "a", ' + text[1:]
    if choice == "deep":
        depth = draw(st.integers(min_value=60, max_value=3000))
        return "[" * depth + text + "]" * depth
    if choice == "digits":
        return text[:at] + "7" * draw(st.integers(min_value=4000, max_value=5000)) + text[at:]
    return text


def only_our_errors(call: Callable[[], Any]) -> None:
    with contextlib.suppress(ConveyorError):
        call()


definitions = st.one_of(
    mutated(EXAMPLE),
    valid_definitions().flatmap(mutated),
)


@given(definitions.flatmap(lambda d: st.one_of(st.just(json.dumps(d)), mangled_text(d))))
def test_a_mutated_definition_never_raises_anything_but_our_errors(text: str) -> None:
    only_our_errors(lambda: parse_definition(text))


@given(st.sampled_from(SCENARIOS).flatmap(mutated))
def test_a_mutated_scenario_never_raises_anything_but_our_errors(document: Any) -> None:
    only_our_errors(lambda: Scenario.from_document(document))


@given(st.sampled_from(SCENARIOS).flatmap(lambda s: mangled_text(s)))
def test_a_mangled_scenario_file_never_raises_anything_but_our_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.json"
        path.write_text(text)
        only_our_errors(lambda: Scenario.load(path))


_SPEC_BASE = {
    "properties": ["every-revision-deploys"],
    "inputs": {"pushes": [1, 3], "failure_rate": 0.1},
}


@given(mutated(_SPEC_BASE))
def test_mutated_explore_properties_never_raise_anything_but_our_errors(document: Any) -> None:
    declaration = parse_definition(EXAMPLE)
    only_our_errors(lambda: parse_spec(document, declaration))


@given(mutated(RULES).flatmap(lambda r: st.one_of(st.just(json.dumps(r)), mangled_text(r))))
def test_a_mutated_billing_rules_file_never_raises_anything_but_our_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.json"
        path.write_text(text)
        only_our_errors(lambda: BillingRules.from_mapping(read_rules_file(path)))


_RECORDS = [
    {"actor": "tester", "event": "PipelineCreated", "position": 1, "detail": {"version": 1}},
    {"actor": "tester", "event": "PipelineExecutionStarted", "position": 2, "detail": {}},
    {"actor": "tester", "event": "ActionExecutionSucceeded", "position": 3, "detail": {"a": [1]}},
]


@st.composite
def audit_exports(draw: st.DrawFn) -> list[str]:
    """A valid hash-chained export with lines edited, dropped, repeated or replaced."""
    lines = [json.loads(line) for line in chained_lines(_RECORDS)]
    mutated_lines = draw(mutated(lines))
    out = [json.dumps(line) if not isinstance(line, str) else line for line in mutated_lines]
    if out and draw(st.booleans()):
        index = draw(st.integers(min_value=0, max_value=len(out) - 1))
        out[index] = draw(st.text(max_size=20))
    return out


@given(audit_exports())
def test_a_mutated_audit_export_never_raises_anything_but_our_errors(lines: list[str]) -> None:
    # A thin call of the verifier: its own error type may change; it stays a ConveyorError.
    result = only_our_errors_result(lambda: verify_lines(lines))
    assert result is None or result.records <= len(lines)


def test_an_export_line_holding_a_list_or_a_lone_surrogate_is_a_broken_line() -> None:
    good = list(chained_lines(_RECORDS))
    assert verify_lines([good[0], "[1, 2]"]).broken_line == 2
    surrogate = json.loads(good[1])
    surrogate["actor"] = "\ud800"
    assert verify_lines([good[0], json.dumps(surrogate)]).broken_line == 2


def only_our_errors_result(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ConveyorError:
        return None


@pytest.mark.parametrize("base", [EXAMPLE, *SCENARIOS, RULES])
def test_the_fuzzers_bases_are_accepted_as_they_are(base: Any, tmp_path: Path) -> None:
    # The mutations start from valid documents, so a refusal is caused by the mutation.
    if base is RULES:
        path = tmp_path / "rules.json"
        path.write_text(json.dumps(base))
        BillingRules.from_mapping(read_rules_file(path))
    elif "stages" in base or "pipeline" in base:
        parse_definition(base)
    else:
        Scenario.from_document(base)
