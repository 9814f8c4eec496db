"""The sqlite3-only read of the state view: the same answer as the view, and only when current."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.bootstrap import System, init_workspace
from engine.settings import Settings
from projections import fastread
from projections.state import current_state
from tests.harness import definition, shell_action, source_action


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    built = init_workspace(Settings(home=tmp_path / ".conveyor"), env={})
    try:
        yield built
    finally:
        built.close()


def create(sys_: System, name: str) -> None:
    stages = [("Source", [source_action()]), ("Build", [shell_action("Compile")])]
    sys_.app.create_pipeline(definition(stages, name=name), by="tester", start=False)


def test_a_current_view_is_read_with_sqlite3_alone_and_answers_as_the_view_does(
    system: System,
) -> None:
    create(system, "alpha")
    system.app.disable_stage_transition("alpha", "Build", reason="frozen", by="tester")
    with system.views().engine.connect() as conn:
        expected = current_state(conn, "alpha")
    assert fastread.current_state(system.settings.database_path, "alpha") == expected


def test_a_view_behind_the_log_is_not_read(system: System) -> None:
    create(system, "alpha")
    system.views()
    system.app.disable_stage_transition("alpha", "Build", reason="frozen", by="tester")
    assert fastread.current_state(system.settings.database_path, "alpha") is None


def test_a_store_without_views_or_without_a_file_is_not_read(
    system: System, tmp_path: Path
) -> None:
    create(system, "alpha")
    assert fastread.current_state(system.settings.database_path, "alpha") is None
    assert fastread.current_state(tmp_path / "missing.db", "alpha") is None


def test_a_name_with_no_live_pipeline_is_left_to_the_normal_path(system: System) -> None:
    create(system, "alpha")
    system.app.delete_pipeline("alpha", by="tester")
    system.views()
    assert fastread.current_state(system.settings.database_path, "alpha") is None
    assert fastread.current_state(system.settings.database_path, "nobody") is None
