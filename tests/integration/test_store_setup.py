"""Finding the store, and setting its schema up once: by init, or by the first command."""

from __future__ import annotations

import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from domain.errors import NotAWorkspaceException
from engine import schema
from engine.bootstrap import build, init_workspace
from engine.settings import Settings, find_home, load_settings
from tests.conftest import POSTGRES_ADMIN
from tests.e2e.cli import CONVEYOR, Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.json"


def test_the_store_is_conveyor_home_when_set_else_the_nearest_workspace_at_or_above(
    tmp_path: Path,
) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "a" / "inner"
    deepest = inner / "b" / "c"
    deepest.mkdir(parents=True)
    assert find_home(deepest, {}) is None
    (outer / ".conveyor").mkdir()
    assert find_home(deepest, {}) == outer / ".conveyor"
    (inner / ".conveyor").mkdir()
    assert find_home(deepest, {}) == inner / ".conveyor"
    assert find_home(outer, {}) == outer / ".conveyor"
    # CONVEYOR_HOME wins, existing or not, relative to the directory.
    assert find_home(deepest, {"CONVEYOR_HOME": "store"}) == deepest / "store"
    assert find_home(deepest, {"CONVEYOR_HOME": str(tmp_path)}) == tmp_path
    # A file named .conveyor is not a store.
    (deepest / ".conveyor").write_text("")
    assert find_home(deepest, {}) == inner / ".conveyor"


def test_opening_a_directory_that_is_no_store_refuses_and_creates_nothing(tmp_path: Path) -> None:
    settings = load_settings({}, cwd=tmp_path)
    assert settings.home == tmp_path / ".conveyor"
    with pytest.raises(NotAWorkspaceException, match=r"run conveyor init"):
        build(settings, env={})
    assert list(tmp_path.iterdir()) == []
    assert load_settings({}, cwd=tmp_path, for_init=True).home == tmp_path / ".conveyor"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(home=tmp_path / ".conveyor", database_url=url)


def _conninfo(settings: Settings) -> str:
    target = settings.postgres_target()
    assert target is not None
    return f"host={target.host} port={target.port} user={target.user} dbname={target.dbname}"


def _execute(settings: Settings, *statements: str) -> None:
    target = settings.postgres_target()
    if target is None:
        with sqlite3.connect(settings.database_path) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    with psycopg.connect(_conninfo(settings), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]


def _tables(settings: Settings) -> set[str]:
    target = settings.postgres_target()
    if target is None:
        with sqlite3.connect(settings.database_path) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {row[0] for row in rows}
    with psycopg.connect(_conninfo(settings), autocommit=True) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_a_set_up_interrupted_before_it_recorded_its_version_is_done_again_on_first_use(
    settings: Settings,
) -> None:
    init_workspace(settings, env={}).close()
    made = _tables(settings)
    assert {schema.SCHEMA_TABLE, "view_audit", "view_positions"} <= made
    # As a set-up that died after the event store's tables: no views, no version row.
    _execute(settings, f"DROP TABLE {schema.SCHEMA_TABLE}", "DROP TABLE view_audit")

    system = build(settings, env={})
    try:
        assert _tables(settings) == made
        system.app.create_pipeline(EXAMPLE.read_text(), by="tester", start=False)
        head = system.views().head()  # every view caught up: the audit view's table is back
        assert set(system.views().positions().values()) == {head}
    finally:
        system.close()
    assert schema.open_gate(settings).version() == schema.SCHEMA_VERSION


def test_setting_a_store_up_again_keeps_its_events_and_views(settings: Settings) -> None:
    system = init_workspace(settings, env={})
    system.app.create_pipeline(EXAMPLE.read_text(), by="tester", start=False)
    before = system.views().positions()
    system.close()
    again = init_workspace(settings, env={})
    try:
        assert again.app.pipeline_names() == ["hello-site"]
        assert again.views(catch_up=False).positions() == before
    finally:
        again.close()


@pytest.fixture
def row_only_role(postgres_url: str) -> Iterator[str]:
    """A login role that may read and write rows in the test's database, and create nothing."""
    role = f"conveyor_rows_{uuid.uuid4().hex[:10]}"
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')  # type: ignore[arg-type]
    try:
        yield role
    finally:
        with psycopg.connect(POSTGRES_ADMIN, dbname=database, autocommit=True) as inside:
            inside.execute(f'DROP OWNED BY "{role}"')  # type: ignore[arg-type]
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')  # type: ignore[arg-type]


def test_every_command_on_a_set_up_postgresql_store_runs_without_creating_anything(
    tmp_path: Path, postgres_url: str, row_only_role: str
) -> None:
    ws = Workspace(tmp_path, database_url=postgres_url)  # init, as the owner
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, dbname=database, autocommit=True) as owner:
        for privileges, kind in (
            ("SELECT, INSERT, UPDATE, DELETE", "TABLES"),
            ("USAGE, SELECT", "SEQUENCES"),
        ):
            grant = f'GRANT {privileges} ON ALL {kind} IN SCHEMA public TO "{row_only_role}"'
            owner.execute(grant)  # type: ignore[arg-type]
    # PostgreSQL 15 lets no one but the owner create in `public`: any CREATE (even "IF NOT
    # EXISTS" of a table that exists) by this role fails with "permission denied".
    as_role = ws.env(CONVEYOR_DATABASE_URL=postgres_url.replace("postgres@", f"{row_only_role}@"))
    ws.write("pipeline.json", EXAMPLE.read_text())
    for argv in (
        ["pipeline", "create", "pipeline.json", "--no-start"],
        ["pipeline", "list"],
        ["state", "hello-site"],
        ["executions", "list", "hello-site"],
        ["audit"],
        ["projections", "status"],
    ):
        done = subprocess.run(
            [CONVEYOR, *argv], cwd=tmp_path, env=as_role, text=True, capture_output=True
        )
        assert done.returncode == 0, (argv, done.stderr)
