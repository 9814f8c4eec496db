"""The properties file: every problem reported with its path, good files read in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.definition import PipelineDeclaration
from domain.validation import parse_definition
from engine.explore.spec import InvalidProperties, Range, load_spec, parse_spec, seconds

EXAMPLES = Path(__file__).parents[2] / "examples" / "explore"


@pytest.fixture
def shop() -> PipelineDeclaration:
    return parse_definition((EXAMPLES / "shop.json").read_text())


def test_the_example_properties_file_declares_every_kind_and_its_inputs(
    shop: PipelineDeclaration,
) -> None:
    spec = load_spec(EXAMPLES / "properties.yaml", shop)

    assert [p.kind for p in spec.properties] == [
        "passes-before",
        "never-regresses",
        "max-wait",
        "lead-time",
        "at-most-in-flight",
    ]
    assert spec.properties[2].params == {"approval": "Prod/Approve", "within": 86400.0}
    assert spec.inputs.durations["Build/Compile"] == Range(600, 1200)
    assert spec.inputs.durations["Test/Suite"] == Range(300, 900)
    assert spec.inputs.failures["Test/Suite"] == 0.2
    assert spec.inputs.pushes_max == 5
    assert spec.inputs.pushes_per_month() == 1000
    assert spec.inputs.updates is False


def test_durations_read_as_seconds_minutes_hours_or_days() -> None:
    assert [seconds(v) for v in (90, "90", "90s", "10m", "2h", "1d", "1.5m")] == [
        90,
        90,
        90,
        600,
        7200,
        86400,
        90,
    ]
    for bad in ("soon", "-5m", -1, True, "10 minutes"):
        with pytest.raises(ValueError):
            seconds(bad)


def test_a_bad_properties_file_lists_every_problem_with_its_path(
    shop: PipelineDeclaration,
) -> None:
    document = {
        "properties": [
            {"kind": "never-regress", "stage": "Deploy"},
            {"kind": "passes-before", "first": "Tset"},
            {"kind": "max-wait", "within": "soon"},
            {"kind": "max-wait", "approval": "Build/Compile", "within": "1h"},
            {"kind": "at-most-in-flight", "max": 0, "colour": "red"},
            "lead-time",
        ],
        "inputs": {
            "pushes": {"min": 5, "max": 2, "perHour": -1},
            "durations": {"Build/Nope": [10, 5], "Compile": "20m..10m"},
            "failures": {"Compile": 1.5},
            "approvals": {"rejections": 0.8, "timeouts": 0.5},
            "events": {"stops": "yes"},
        },
        "billing": {"v3Price": 1},
        "extra": 1,
    }

    with pytest.raises(InvalidProperties) as caught:
        parse_spec(document, shop)

    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "extra",
        "properties[0].kind",
        "properties[1].then",
        "properties[1].first",
        "properties[2].within",
        "properties[2]",
        "properties[3].approval",
        "properties[4].colour",
        "properties[4].max",
        "properties[5]",
        "inputs.pushes.min",
        "inputs.pushes.perHour",
        "inputs.durations.Build/Nope",
        "inputs.durations.Compile",
        "inputs.failures.Compile",
        "inputs.approvals",
        "inputs.events.stops",
        "billing",
    ]
    assert "the properties file has 18 problems" in caught.value.message
    assert "no stage 'Tset'" in caught.value.message


def test_an_unreadable_or_malformed_file_is_one_problem_at_the_root(
    shop: PipelineDeclaration, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("properties: [kind: {")
    for path in (broken, tmp_path / "missing.yaml"):
        with pytest.raises(InvalidProperties) as caught:
            load_spec(path, shop)
        assert [p.path for p in caught.value.problems] == ["$"]


def test_a_json_properties_file_reads_like_yaml(shop: PipelineDeclaration, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps({"properties": [{"kind": "lead-time", "stage": "Prod", "within": "2h"}]})
    )

    spec = load_spec(path, shop)

    assert spec.properties[0].describe() == "lead-time stage=Prod within=2h"
