"""Wake-ups: a waiting worker returns early when events are recorded, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from engine.app import Conveyor
from engine.settings import Settings
from engine.wakeup import CHANNEL, TRIGGER, ListenWaker, PollingWaker, Waker, open_waker
from tests.harness import linear

# Long enough that returning before half of it can only be a wake-up, not a time-out.
TIMEOUT = 20.0


@pytest.fixture(params=["postgres", "sqlite", "sqlalchemy-postgres", "sqlalchemy-sqlite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    module, _, database = str(request.param).rpartition("-")
    persistence = module or "native"
    if database == "sqlite":
        return Settings(home=tmp_path, persistence=persistence)
    url = request.getfixturevalue("postgres_url")
    return Settings(home=tmp_path, database_url=url, persistence=persistence)


@pytest.fixture
def apps(settings: Settings) -> Iterator[Callable[[], Conveyor]]:
    """Applications on one store, as separate processes would have them: each its own pool."""
    opened: list[Conveyor] = []

    def open_app() -> Conveyor:
        opened.append(Conveyor(settings))
        return opened[-1]

    yield open_app
    for app in opened:
        app.close()


def _record_an_event(app: Conveyor, name: str) -> None:
    app.create_pipeline(linear(2, name=name), by="test", start=False)


def _wait_in_thread(waker: Waker) -> tuple[threading.Thread, dict[str, float | bool]]:
    outcome: dict[str, float | bool] = {}

    def wait() -> None:
        began = time.monotonic()
        outcome["woken"] = waker.wait(TIMEOUT)
        outcome["seconds"] = time.monotonic() - began

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, outcome


def test_a_waiting_worker_wakes_well_before_its_timeout_when_another_process_records_an_event(
    apps: Callable[[], Conveyor],
) -> None:
    worker, writer = apps(), apps()
    waker = open_waker(worker)
    try:
        thread, outcome = _wait_in_thread(waker)
        _record_an_event(writer, "first")
        thread.join(timeout=TIMEOUT + 10)

        assert outcome["woken"] is True
        assert outcome["seconds"] < TIMEOUT / 2
    finally:
        waker.close()


def test_an_event_recorded_between_a_look_and_the_wait_is_not_lost(
    apps: Callable[[], Conveyor],
) -> None:
    worker, writer = apps(), apps()
    waker = open_waker(worker)  # made before the worker's first look at its work
    try:
        _record_an_event(writer, "meanwhile")  # after the look, before the wait

        began = time.monotonic()
        assert waker.wait(TIMEOUT) is True
        assert time.monotonic() - began < TIMEOUT / 2
    finally:
        waker.close()


def test_a_burst_of_events_wakes_a_wait_at_most_once_per_event_then_a_quiet_store_times_out(
    apps: Callable[[], Conveyor],
) -> None:
    worker, writer = apps(), apps()
    waker = open_waker(worker)
    try:
        for index in range(3):
            _record_an_event(writer, f"burst{index}")
        assert waker.wait(TIMEOUT) is True
        # Each commit notifies on its own, and a busy server may deliver the later ones after
        # the first wake was drained: a burst wakes at least once, never more than per event.
        extra = 0
        while extra <= 3 and waker.wait(0.5):
            extra += 1
        assert extra <= 2

        began = time.monotonic()
        assert waker.wait(0.3) is False
        assert time.monotonic() - began >= 0.3
    finally:
        waker.close()


def test_the_store_picks_the_waker_listen_on_postgresql_and_polling_on_sqlite(
    settings: Settings, apps: Callable[[], Conveyor]
) -> None:
    waker = open_waker(apps())
    try:
        expected = ListenWaker if settings.database_url else PollingWaker
        assert isinstance(waker, expected)
    finally:
        waker.close()


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_wakers_starting_together_install_the_trigger_once(
    settings: Settings, apps: Callable[[], Conveyor]
) -> None:
    app = apps()
    wakers: list[Waker] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            wakers.append(open_waker(app))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == [] and len(wakers) == 4
        assert settings.database_url is not None
        with psycopg.connect(settings.database_url) as conn:
            triggers = conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = %s", (TRIGGER,)
            ).fetchone()
        assert triggers == (1,)
    finally:
        for waker in wakers:
            waker.close()


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_any_insert_into_the_events_table_notifies_the_work_channel(
    settings: Settings, apps: Callable[[], Conveyor]
) -> None:
    waker = open_waker(apps())
    waker.close()  # the trigger stays; listen the way any client would
    assert settings.database_url is not None
    with psycopg.connect(settings.database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        _record_an_event(apps(), "observed")
        received = list(listener.notifies(timeout=TIMEOUT, stop_after=1))
    assert [n.channel for n in received] == [CHANNEL]
