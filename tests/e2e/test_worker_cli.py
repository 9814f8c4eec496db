"""Workers and the server as real processes: crashes, signals, abandoned builds and the clock."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import System, build
from engine.clock import FileClock, parse_instant
from tests.e2e.cli import CONVEYOR, Workspace
from tests.e2e.test_semantics_cli import _type
from tests.e2e.test_semantics_cli import pipeline as _pipeline
from tests.support.processes import kill_groups_mentioning, wait_until_group_dead

LEASE_SECONDS = 2
START = "2026-11-02T09:00:00+00:00"


def _build_stage(pids: Path, *, timeout_minutes: int | None = None) -> dict[str, Any]:
    # Each attempt records its process group (bash's $$: it leads a session of its own); the
    # first sleeps long, a later one ends at once, so a re-run can succeed quickly.
    commands = f'echo $$ >> "{pids}"; n=$(wc -l < "{pids}"); [ "$n" -ge 2 ] || sleep 60; echo done'
    action: dict[str, Any] = {
        "name": "Make",
        "actionTypeId": _type("Build", "Shell"),
        "configuration": {"Commands": commands},
        "inputArtifacts": [{"name": "Src"}],
    }
    if timeout_minutes:
        action["timeoutInMinutes"] = timeout_minutes
    return {"name": "Build", "actions": [action]}


def _until(condition: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.05)


class Rig:
    """A workspace, the engine opened on it in this process, and the processes it started."""

    def __init__(self, root: Path, **env: str) -> None:
        self.ws = Workspace(root)
        self.ws.write("app/README", "v1\n")
        self.ws.git("app", "init", "-q", "-b", "main")
        self.ws.git("app", "add", ".")
        self.ws.git("app", "commit", "-q", "-m", "v1")
        self.extra = {"CONVEYOR_LEASE_SECONDS": str(LEASE_SECONDS), **env}
        self.system: System = build(env=self.ws.env(**self.extra))
        self.processes: list[subprocess.Popen[str]] = []
        self.pids = root / "pids"

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [CONVEYOR, *args],
            cwd=self.ws.root,
            env=self.ws.env(**self.extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def create(self, document: dict[str, Any]) -> None:
        self.system.app.create_pipeline(document, by="tester", start=False)

    def start(self) -> str:
        # Recorded, not run: the jobs are queued for whichever worker claims them.
        execution_id = self.system.app.start_pipeline_execution("flow", by="tester")
        self.system.app.advance("flow")
        return execution_id

    def status(self, execution_id: str) -> str:
        return self.system.app.execution(execution_id).status

    def attempt_groups(self, count: int, within: float = 30.0) -> list[int]:
        def read() -> list[int]:
            if not self.pids.exists():
                return []
            lines = [int(x) for x in self.pids.read_text().split()]
            return lines if len(lines) >= count else []

        return list(_until(read, within, f"{count} build attempt(s) started"))

    def build_job(self, execution_id: str) -> Any:
        execution = self.system.app.execution(execution_id)
        jobs = self.system.app.jobs_of(execution)
        [job] = [j for j in jobs.values() if j.stage == "Build"]
        return job

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)
        kill_groups_mentioning(str(self.ws.root))
        self.system.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.close()


def test_a_worker_killed_mid_build_hands_its_attempt_to_the_next_worker(rig: Rig) -> None:
    rig.create(_pipeline(_build_stage(rig.pids)))
    first = rig.spawn("worker", "--concurrency", "2")
    execution_id = rig.start()
    [first_group] = rig.attempt_groups(1)
    second = rig.spawn("worker")
    assert second.stdout is not None and "running" in second.stdout.readline()

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    # The bound the issue sets is lease + 2 s; 3 s more keep a loaded CI machine from
    # failing this. bench/scale_out.py measures the figure itself (5.2 s with a 5 s lease).
    rig.attempt_groups(2, within=LEASE_SECONDS + 2 + 3)
    assert time.monotonic() - killed_at < LEASE_SECONDS + 5

    # The watchdog of the dead worker's build killed its group: nothing of it runs on.
    wait_until_group_dead(first_group)
    _until(lambda: rig.status(execution_id) == "Succeeded", 30, "the execution succeeded")
    job = rig.build_job(execution_id)
    assert [a["outcome"] for a in job.attempts] == ["worker lost", "succeeded"]
    log = rig.ws.run("logs", execution_id).stdout
    assert "attempt 1 claimed by" in log and "attempt 2 claimed by" in log
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0


def test_stop_abandon_kills_the_running_build_at_once_and_frees_the_stage(rig: Rig) -> None:
    rig.create(_pipeline(_build_stage(rig.pids)))
    worker = rig.spawn("worker")
    execution_id = rig.start()
    [group] = rig.attempt_groups(1)

    rig.ws.run("stop", execution_id, "--abandon", "--reason", "wrong branch")
    wait_until_group_dead(group, within=2.0)
    assert rig.status(execution_id) == "Stopped"
    assert [a["outcome"] for a in rig.build_job(execution_id).attempts] == ["abandoned"]

    following = rig.start()
    rig.attempt_groups(2)
    _until(lambda: rig.status(following) == "Succeeded", 30, "the next execution succeeded")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_sigterm_hands_a_running_build_back_and_a_new_worker_finishes_it(rig: Rig) -> None:
    rig.create(_pipeline(_build_stage(rig.pids)))
    worker = rig.spawn("worker", "--grace", "0.5")
    execution_id = rig.start()
    [group] = rig.attempt_groups(1)

    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert "1 handed back" in out
    wait_until_group_dead(group, within=2.0)
    job = rig.build_job(execution_id)
    assert job.status == "Queued"
    assert [a["outcome"] for a in job.attempts] == ["released"]

    rig.spawn("worker")
    rig.attempt_groups(2)
    _until(lambda: rig.status(execution_id) == "Succeeded", 30, "the execution succeeded")


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Rig, FileClock]]:
    clock = FileClock(tmp_path / "now")
    clock.set(parse_instant(START))
    (tmp_path / "ws").mkdir()
    made = Rig(tmp_path / "ws", CONVEYOR_CLOCK_FILE=str(clock.path))
    yield made, clock
    made.close()


def test_the_server_fails_an_approval_on_its_own_once_its_clock_passes_the_timeout(
    clocked: tuple[Rig, FileClock],
) -> None:
    rig, clock = clocked
    gate = {
        "name": "Gate",
        "actions": [
            {"name": "Approve", "actionTypeId": _type("Approval", "Manual"), "timeoutInMinutes": 5}
        ],
    }
    rig.create(_pipeline(gate))
    # One embedded worker runs the source; the approval waits for a person, or the clock.
    rig.spawn("server", "--no-api", "--workers", "1", "--interval", "0.2")
    execution_id = rig.start()

    def approval_waiting() -> bool:
        runs = rig.system.app.execution(execution_id).actions.values()
        return any(r["action"] == "Approve" and r["status"] == "InProgress" for r in runs)

    _until(approval_waiting, 30, "the approval is waiting")
    assert rig.status(execution_id) == "InProgress"
    clock.set(parse_instant(START) + timedelta(minutes=6))
    _until(lambda: rig.status(execution_id) == "Failed", 15, "the approval timed out")


def test_the_server_times_out_an_overdue_build_and_its_worker_kills_it(
    clocked: tuple[Rig, FileClock],
) -> None:
    rig, clock = clocked
    rig.create(_pipeline(_build_stage(rig.pids, timeout_minutes=5)))
    rig.spawn("server", "--no-api", "--workers", "0", "--interval", "0.2")
    rig.spawn("worker")
    execution_id = rig.start()
    [group] = rig.attempt_groups(1)

    clock.set(parse_instant(START) + timedelta(minutes=6))
    _until(lambda: rig.status(execution_id) == "Failed", 15, "the build timed out")
    wait_until_group_dead(group, within=5.0)
    assert [a["outcome"] for a in rig.build_job(execution_id).attempts] == ["abandoned"]


def test_the_server_records_a_lost_worker_and_one_loss_too_many_fails_the_action(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, CONVEYOR_MAX_WORKER_LOSSES="1")
    try:
        rig.create(_pipeline(_build_stage(rig.pids)))
        rig.spawn("server", "--no-api", "--workers", "0", "--interval", "0.2")
        worker = rig.spawn("worker")
        execution_id = rig.start()
        [group] = rig.attempt_groups(1)

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        # No other worker runs: the server's clock alone records the loss.
        _until(lambda: rig.status(execution_id) == "Failed", LEASE_SECONDS + 15, "worker lost")
        wait_until_group_dead(group)
        job = rig.build_job(execution_id)
        assert job.status == "Failed"
        assert [a["outcome"] for a in job.attempts] == ["worker lost"]
        error = rig.system.app.execution(execution_id).actions[job.job_id]["error"]
        assert "worker lost" in str(error).lower()
    finally:
        rig.close()
