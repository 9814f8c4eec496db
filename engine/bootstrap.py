"""The composition root: builds the application, the runner and the views from settings.

It is the one engine module that imports `projections` (to open the views beside the events);
nothing else in the engine does, so the engine's commands never depend on a read model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import NotAWorkspaceException
from engine.app import Conveyor
from engine.artifacts import ArtifactStore
from engine.clock import (
    Clock,
    FileClock,
    IdFactory,
    ManualClock,
    SystemClock,
    parse_instant,
)
from engine.safepath import private_dir, private_file
from engine.settings import HOME_DIR, Settings, load_settings

# The runner (providers, YAML), the service and the views (SQLAlchemy) load on first use: a
# read command needs none of them, and importing them costs more than the read itself.
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from engine.runner import Listener, Runner
    from engine.service import Service
    from projections.checkpoints import Checkpointer
    from projections.runtime import Projections


# `conveyor server` catches the views up on its clock while its API (a System of its own, over
# the same store) reads them: one catch-up per process at a time, or two fold the same events
# and the second insert fails on the view's unique key.
_VIEWS_LOCK = threading.Lock()


@dataclass
class System:
    """Everything one process needs, wired once."""

    settings: Settings
    app: Conveyor
    artifacts: ArtifactStore
    _views: Projections | None = field(default=None, repr=False)

    def runner(self, listener: Listener | None = None) -> Runner:
        from engine.runner import Runner

        return Runner(self.app, self.artifacts, listener=listener)

    def service(self) -> Service:
        """What adapters call: a command, then the pipeline it moved driven by this process."""
        from engine.service import Service

        return Service(self.app, self.runner)

    def views(self, *, catch_up: bool = True) -> Projections:
        """The read models beside the events; caught up with every event first by default."""
        with _VIEWS_LOCK:
            return self._open_views(catch_up)

    def _open_views(self, catch_up: bool) -> Projections:
        if self._views is None:
            from projections.views import open_projections

            # The views' tables were made by the store's set-up (engine/schema.py) under its
            # lock; creating them here, in every process, is what raced on PostgreSQL.
            self._views = open_projections(
                self.app,
                self.settings.sqlalchemy_url(),
                retention_months=self.settings.history_retention_months,
                region=self.settings.region,
                create_tables=False,
            )
            self._views.before_catch_up.append(self.checkpointer(self._views.engine).advance)
        if catch_up:
            self._views.catch_up()
        return self._views

    def checkpointer(self, engine: Engine) -> Checkpointer:
        """Signed checkpoints of the log, written before the views catch up (docs/security.md)."""
        from engine.signing import load_or_create_signer
        from projections.checkpoints import Checkpointer

        return Checkpointer(self.app, engine, lambda: load_or_create_signer(self.settings.home))

    def close(self) -> None:
        if self._views is not None:
            self._views.engine.dispose()
        self.app.close()


def clock_from_env(env: Mapping[str, str]) -> Clock:
    # CONVEYOR_NOW pins the clock (tests, demos of timeouts); CONVEYOR_CLOCK_FILE names a file
    # read at every now(), so a test can move a long-running server's time; else the system's.
    pinned = env.get("CONVEYOR_NOW")
    if pinned:
        return ManualClock(parse_instant(pinned))
    clock_file = env.get("CONVEYOR_CLOCK_FILE")
    if clock_file:
        return FileClock(Path(clock_file))
    return SystemClock()


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    env: Mapping[str, str] | None = None,
    set_up: bool = False,
) -> System:
    """Open the store: it must exist (only `init_workspace` creates one). Its schema is set up
    on first use, or always with `set_up` (idempotent); nothing else creates tables."""
    import os

    environ = os.environ if env is None else env
    settings = settings or load_settings(environ)
    if not settings.home.is_dir():
        raise NotAWorkspaceException(_no_workspace(settings.home, environ))
    return _open(settings, clock or clock_from_env(environ), ids, set_up=set_up)


def init_workspace(
    settings: Settings | None = None, *, env: Mapping[str, str] | None = None
) -> System:
    """What `conveyor init` does: create the store's directory and set its schema up."""
    import os

    environ = os.environ if env is None else env
    settings = settings or load_settings(environ, for_init=True)
    _private_workspace(settings)
    return build(settings, env=environ, set_up=True)


def _private_workspace(settings: Settings) -> None:
    """The workspace folder, its store, logs, artifacts and work folders: the owner's alone.

    Modes are set explicitly (0700 folders, 0600 files), so the umask does not matter; running
    init again repairs a workspace made before this rule. SQLite makes its -wal, -shm and
    -journal files with the database file's own mode, so the database file is created 0600
    before SQLite opens it.
    """
    private_dir(settings.home)
    for folder in (settings.logs_dir, settings.artifacts_dir, settings.work_dir):
        private_dir(folder)
    if _uses_sqlite_file(settings):
        private_file(settings.database_path)
        for suffix in ("-wal", "-shm", "-journal"):
            beside = settings.database_path.with_name(settings.database_path.name + suffix)
            if beside.is_file() and not beside.is_symlink():
                beside.chmod(0o600)


def _uses_sqlite_file(settings: Settings) -> bool:
    return not settings.database_url


def _no_workspace(home: Path, env: Mapping[str, str]) -> str:
    if env.get("CONVEYOR_HOME"):
        problem = "is not a directory" if home.exists() else "does not exist"
        where = f"CONVEYOR_HOME is {home}, which {problem}"
    else:
        where = f"no {HOME_DIR}/ directory in {home.parent} or any directory above it"
    return f"not a Conveyor workspace (run conveyor init): {where}"


def _open(settings: Settings, clock: Clock, ids: IdFactory | None, *, set_up: bool) -> System:
    from engine import schema

    if _uses_sqlite_file(settings) and not settings.database_path.exists():
        # A store first made here (not by init) is owner-only too; see _private_workspace.
        private_file(settings.database_path)

    # For PostgreSQL this connects first: an unreachable store is reported at once, with the
    # server's reason, instead of after the application's pool has waited for it.
    gate = schema.open_gate(settings)
    try:
        # Tables are made once, under a lock, by the set-up; eventsourcing's own CREATE TABLE
        # at every start is what raced ("tuple concurrently updated") on a fresh PostgreSQL.
        app = schema.open_set_up(
            gate,
            lambda: Conveyor(settings, clock=clock, ids=ids, env={"CREATE_TABLE": "false"}),
            lambda opened: _create_view_tables(opened, settings),
            force=set_up,
        )
    finally:
        gate.close()
    return System(settings=settings, app=app, artifacts=ArtifactStore(settings.artifacts_dir))


def _create_view_tables(app: Conveyor, settings: Settings) -> None:
    from projections.checkpoints import create_checkpoint_table
    from projections.views import open_projections

    views = open_projections(
        app,
        settings.sqlalchemy_url(),
        retention_months=settings.history_retention_months,
        region=settings.region,
    )
    create_checkpoint_table(views.engine)
    views.engine.dispose()
