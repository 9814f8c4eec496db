"""Aggregate state holds plain values: what was just recorded equals what the store gives back."""

from __future__ import annotations

from enum import Enum
from typing import Any

from domain.vocabulary import RetryMode
from tests.support.aggregates import World, at, three_stages


def _enums_in(value: Any, path: str = "") -> list[str]:
    if isinstance(value, Enum):
        return [f"{path}: {value!r}"]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _enums_in(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [found for i, v in enumerate(value) for found in _enums_in(v, f"{path}[{i}]")]
    return []


def test_an_execution_moved_through_failure_retry_and_stop_holds_no_enum_member_in_its_state() -> (
    None
):
    world = World(three_stages())
    execution = world.start(1)
    world.passed(execution, "Source", "Source")
    world.enter(execution, "Build")
    world.run(execution, "Build", "Compile", result="Failed")
    world.run(execution, "Build", "Lint", result="Succeeded")
    execution.retry_automatically(
        "Build", retry_mode=RetryMode.FAILED_ACTIONS, declared=["Compile", "Lint"], now=at(3)
    )
    execution.request_stop(abandon=True, reason="enough", by="tester", now=at(4))

    assert _enums_in(vars(execution)) == []
    assert _enums_in(vars(world.pipeline)) == []
