"""The composition root: builds the application, the runner and the views from settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.app import Conveyor
from engine.artifacts import ArtifactStore
from engine.clock import Clock, IdFactory, ManualClock, SystemClock, parse_instant
from engine.runner import Listener, Runner
from engine.settings import Settings, load_settings


@dataclass
class System:
    """Everything one process needs, wired once."""

    settings: Settings
    app: Conveyor
    artifacts: ArtifactStore

    def runner(self, listener: Listener | None = None) -> Runner:
        return Runner(self.app, self.artifacts, listener=listener)

    def close(self) -> None:
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
