"""The composition root: builds the application, the runner and the views from settings.

It is the one engine module that imports `projections` (to open the views beside the events);
nothing else in the engine does, so the engine's commands never depend on a read model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.app import Conveyor
from engine.artifacts import ArtifactStore
from engine.clock import Clock, IdFactory, ManualClock, SystemClock, parse_instant
from engine.settings import Settings, load_settings

# The runner (providers, YAML), the service and the views (SQLAlchemy) load on first use: a
# read command needs none of them, and importing them costs more than the read itself.
if TYPE_CHECKING:
    from engine.runner import Listener, Runner
    from engine.service import Service
    from projections.runtime import Projections


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
        if self._views is None:
            from projections.views import open_projections

            self._views = open_projections(
                self.app,
                self.settings.sqlalchemy_url(),
                retention_months=self.settings.history_retention_months,
            )
        if catch_up:
            self._views.catch_up()
        return self._views

    def close(self) -> None:
        if self._views is not None:
            self._views.engine.dispose()
        self.app.close()


def clock_from_env(env: Mapping[str, str]) -> Clock:
    # CONVEYOR_NOW pins the clock (tests, demos of timeouts); otherwise the system clock.
    pinned = env.get("CONVEYOR_NOW")
    return ManualClock(parse_instant(pinned)) if pinned else SystemClock()


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    env: Mapping[str, str] | None = None,
    create_home: bool = True,
) -> System:
    import os

    environ = os.environ if env is None else env
    settings = settings or load_settings(environ)
    if create_home:
        Path(settings.home).mkdir(parents=True, exist_ok=True)
    app = Conveyor(settings, clock=clock or clock_from_env(environ), ids=ids)
    return System(settings=settings, app=app, artifacts=ArtifactStore(settings.artifacts_dir))
