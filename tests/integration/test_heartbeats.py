"""Heartbeats in a plain table beside the events: SQLite, PostgreSQL, and through SQLAlchemy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine.app import Conveyor
from engine.clock import ManualClock
from engine.heartbeats import Heartbeats
from engine.settings import Settings
from tests.harness import START


@pytest.fixture(params=["sqlite", "postgres", "sqlalchemy-sqlite", "sqlalchemy-postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    module, _, database = str(request.param).rpartition("-")
    persistence = module or "native"
    if database == "sqlite":
        return Settings(home=tmp_path, persistence=persistence)
    url = request.getfixturevalue("postgres_url")
    return Settings(home=tmp_path, database_url=url, persistence=persistence)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Iterator[Conveyor]:
    application = Conveyor(settings, clock=clock)
    yield application
    application.close()


def test_a_registered_process_is_alive_with_its_host_pid_and_info_until_it_stops(
    app: Conveyor, clock: ManualClock
) -> None:
    beats = Heartbeats.of(app)
    worker = beats.register("worker", {"threads": 4, "version": "0.1.0"})

    (seen,) = beats.alive(["worker"], within_seconds=30)
    assert (seen.id, seen.kind, seen.host, seen.pid) == (
        worker,
        "worker",
        socket.gethostname(),
        os.getpid(),
    )
    assert seen.started_at == seen.seen_at == START and seen.stopped_at is None
    assert seen.info == {"threads": 4, "version": "0.1.0"}

    clock.advance(timedelta(seconds=5))
    beats.stop(worker)
    assert beats.alive(["worker"], within_seconds=30) == []


def test_a_process_that_stops_beating_drops_out_of_the_living_once_the_window_passes(
    app: Conveyor, clock: ManualClock
) -> None:
    beats = Heartbeats.of(app)
    worker = beats.register("worker")

    clock.advance(timedelta(seconds=20))
    assert beats.beat(worker)
    clock.advance(timedelta(seconds=29))
    (seen,) = beats.alive(["worker"], within_seconds=30)
    assert seen.seen_at == START + timedelta(seconds=20)

    clock.advance(timedelta(seconds=2))
    assert beats.alive(["worker"], within_seconds=30) == []
    assert [p.id for p in beats.alive(["worker"], within_seconds=60)] == [worker]


def test_beating_a_stopped_or_unknown_process_says_so_and_changes_nothing(
    app: Conveyor, clock: ManualClock
) -> None:
    beats = Heartbeats.of(app)
    worker = beats.register("worker")
    beats.stop(worker)

    clock.advance(timedelta(seconds=1))
    assert beats.beat(worker) is False
    assert beats.beat("no-such-process") is False
    assert beats.alive(within_seconds=3600) == []


def test_alive_answers_for_the_kinds_asked_and_refuses_unknown_kinds(app: Conveyor) -> None:
    beats = Heartbeats.of(app)
    worker = beats.register("worker")
    server = beats.register("server")
    waiting = beats.register("cli-wait")

    assert [p.id for p in beats.alive(["worker"], 30)] == [worker]
    assert {p.id for p in beats.alive(["server", "cli-wait"], 30)} == {server, waiting}
    assert {p.id for p in beats.alive()} == {worker, server, waiting}
    assert beats.alive([], 30) == []
    with pytest.raises(ValueError, match="kind: 'robot'"):
        beats.register("robot")


def test_forget_deletes_the_rows_of_processes_silent_for_longer_than_asked(
    app: Conveyor, clock: ManualClock
) -> None:
    beats = Heartbeats.of(app)
    gone = beats.register("cli-wait")
    beats.stop(gone)
    clock.advance(timedelta(hours=2))
    kept = beats.register("worker")

    assert beats.forget(older_than_seconds=3600) == 1
    assert [p.id for p in beats.alive(within_seconds=10 * 3600)] == [kept]


def test_heartbeats_record_no_event(app: Conveyor) -> None:
    before = app.recorder.max_notification_id()
    beats = Heartbeats.of(app)
    worker = beats.register("worker")
    beats.beat(worker)
    beats.stop(worker)
    assert app.recorder.max_notification_id() == before


def test_processes_on_one_store_see_each_other_and_create_the_table_once_between_them(
    settings: Settings, clock: ManualClock
) -> None:
    apps = [Conveyor(settings, clock=clock) for _ in range(3)]
    try:
        registered: list[str] = []
        errors: list[BaseException] = []

        def register(app: Conveyor) -> None:
            try:
                registered.append(Heartbeats.of(app).register("worker"))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=register, args=(a,)) for a in apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        seen = Heartbeats.of(apps[0]).alive(["worker"], within_seconds=30)
        assert sorted(p.id for p in seen) == sorted(registered) and len(registered) == 3
    finally:
        for app in apps:
            app.close()


def test_asking_who_is_alive_on_sqlite_loads_no_sqlalchemy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from engine.app import Conveyor\n"
        "from engine.heartbeats import Heartbeats\n"
        "from engine.settings import Settings\n"
        "beats = Heartbeats.of(Conveyor(Settings(home=__import__('pathlib').Path(sys.argv[1]))))\n"
        "beats.beat(beats.register('cli-wait'))\n"
        "print(len(beats.alive()), 'sqlalchemy' in sys.modules, 'psycopg' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "False", "False"]


def test_a_server_deletes_the_rows_of_processes_silent_for_a_week(tmp_path: Path) -> None:
    from engine.bootstrap import init_workspace
    from engine.server import Server

    clock_file = tmp_path / "now"
    clock_file.write_text(START.isoformat())
    system = init_workspace(
        Settings(home=tmp_path / ".conveyor"), env={"CONVEYOR_CLOCK_FILE": str(clock_file)}
    )
    try:
        beats = Heartbeats.of(system.app)
        silent = beats.register("worker")  # killed with -9: never stopped, never beat again
        clock_file.write_text((START + timedelta(days=6)).isoformat())
        recent = beats.register("worker")
        clock_file.write_text((START + timedelta(days=8)).isoformat())
        month = 30 * 86400
        assert {p.id for p in beats.alive(["worker"], month)} == {silent, recent}

        stop = threading.Event()
        stop.set()  # no tick: what is checked happens as the server starts
        Server(system).run(stop)

        assert [p.id for p in beats.alive(["worker"], month)] == [recent]
    finally:
        system.close()
