"""Execution ids as people give them, found in the history view of a real SQLite store."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.lookup import find_execution
from domain.errors import PipelineExecutionNotFoundException, ValidationException
from engine.bootstrap import System, build, init_workspace
from engine.clock import ManualClock
from engine.settings import Settings
from tests.harness import START, linear


class SharedPrefixIds:
    """Ids that all start with 'abcd' and then differ: abcd0001-..., abcd0002-..."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def new(self) -> uuid.UUID:
        with self._lock:
            self._count += 1
            return uuid.UUID(f"abcd{self._count:04x}-0000-4000-8000-000000000000")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    settings = Settings(home=tmp_path / ".conveyor")
    init_workspace(settings).close()
    built = build(settings, clock=ManualClock(START), ids=SharedPrefixIds())
    try:
        yield built
    finally:
        built.close()


def two_executions(system: System) -> tuple[str, str]:
    _, first = system.app.create_pipeline(linear(2), by="tester", start=True)
    assert first is not None
    second = system.app.start_pipeline_execution("demo", by="tester")
    return first, second


def test_an_execution_is_found_by_a_unique_prefix_of_its_id_without_catching_up_first(
    system: System,
) -> None:
    first, second = two_executions(system)
    assert find_execution(system, second[:8]).execution_id == second
    assert find_execution(system, first[:8].upper()).execution_id == first
    assert find_execution(system, first).execution_id == first


def test_a_prefix_of_several_executions_is_refused_asking_for_more_of_the_id(
    system: System,
) -> None:
    two_executions(system)
    with pytest.raises(PipelineExecutionNotFoundException, match="more than one execution"):
        find_execution(system, "abcd")


def test_a_prefix_shorter_than_four_characters_is_refused_naming_the_rule(system: System) -> None:
    two_executions(system)
    with pytest.raises(ValidationException, match="too short; give at least 4 characters"):
        find_execution(system, "abc")


def test_like_wildcards_in_a_prefix_match_only_themselves(system: System) -> None:
    two_executions(system)
    for given in ("abc%", "abcd____", "abcd%"):
        with pytest.raises(PipelineExecutionNotFoundException, match="matches no execution"):
            find_execution(system, given)
