"""Process groups die with their attempt, and with the process that started them, on kill -9 too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.groups import WATCHDOG_NAME, AttemptGroups, attempt_groups
from engine.providers.process import (
    ActionLog,
    AttemptAbandoned,
    Completed,
    Deadline,
    base_environment,
    run,
    run_bash,
)
from tests.support.processes import (
    live_members,
    processes_with_argv,
    wait_until_group_dead,
    wait_until_group_gone,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

# A command whose group holds two processes: bash, and a grandchild it left in the background.
BACKGROUNDED = "sleep 30 & sleep 30"
_POLL = 0.01


def _until(condition: object, what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within}s")
        time.sleep(_POLL)


class _Attempt:
    """A command run for an attempt in a thread of its own, as a worker runs a provider."""

    def __init__(self, tmp_path: Path, script: str, env: dict[str, str] | None = None) -> None:
        self.groups = AttemptGroups()
        self.error: BaseException | None = None
        self.result: Completed | None = None
        log = ActionLog(tmp_path / "action.log", "Test")

        def body() -> None:
            with attempt_groups(self.groups):
                try:
                    self.result = run_bash(
                        script,
                        cwd=tmp_path,
                        env=base_environment(env or {}),
                        log=log,
                        deadline=Deadline(60),
                    )
                except BaseException as error:
                    self.error = error

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def running_group(self, members: int) -> int:
        """The group's id once `members` of its processes run."""
        _until(lambda: self.groups.live(), "the command registered its group")
        (pgid,) = self.groups.live()
        _until(lambda: len(live_members(pgid)) >= members, f"{members} processes in the group")
        return pgid

    def join(self) -> None:
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the command's runner did not return"


@pytest.fixture
def attempts(tmp_path: Path) -> Iterator[list[_Attempt]]:
    started: list[_Attempt] = []
    yield started
    for attempt in started:  # none may outlive the test, whatever it asserted
        attempt.groups.kill(grace=0)
        attempt.join()


def test_killing_an_attempt_leaves_no_process_of_its_group_alive_within_a_second(
    tmp_path: Path, attempts: list[_Attempt]
) -> None:
    attempt = _Attempt(tmp_path, BACKGROUNDED)
    attempts.append(attempt)
    pgid = attempt.running_group(members=2)

    began = time.monotonic()
    attempt.groups.kill()
    wait_until_group_dead(pgid, within=1.0 - (time.monotonic() - began))

    attempt.join()
    assert isinstance(attempt.error, AttemptAbandoned)
    assert attempt.groups.cancelled and not attempt.groups.live()
    wait_until_group_gone(pgid)


def test_a_group_that_ignores_sigterm_is_killed_once_the_grace_has_passed(
    tmp_path: Path, attempts: list[_Attempt]
) -> None:
    # Ignored signals stay ignored across fork and exec: neither sleep will answer SIGTERM.
    attempt = _Attempt(tmp_path, f"trap '' TERM; {BACKGROUNDED}")
    attempts.append(attempt)
    pgid = attempt.running_group(members=2)

    attempt.groups.kill(grace=0.2)

    wait_until_group_dead(pgid)
    attempt.join()
    assert isinstance(attempt.error, AttemptAbandoned)


def test_a_cancelled_attempt_starts_no_further_command(tmp_path: Path) -> None:
    groups = AttemptGroups()
    groups.kill()
    marker = tmp_path / "ran"
    log = ActionLog(tmp_path / "action.log", "Test")

    with attempt_groups(groups), pytest.raises(AttemptAbandoned):
        run(
            ["touch", "--", str(marker)],
            cwd=tmp_path,
            env=base_environment({}),
            log=log,
            deadline=Deadline(60),
        )

    assert not marker.exists()


def test_a_command_that_ends_normally_leaves_no_watchdog_behind(
    tmp_path: Path, attempts: list[_Attempt]
) -> None:
    go = tmp_path / "go"
    attempt = _Attempt(
        tmp_path, 'until [ -e "$GO" ]; do sleep 0.01; done; sleep 30 &', env={"GO": str(go)}
    )
    attempts.append(attempt)
    pgid = attempt.running_group(members=1)
    (watchdog,) = processes_with_argv(WATCHDOG_NAME, str(pgid))

    go.touch()
    attempt.join()

    assert attempt.error is None and attempt.result is not None
    assert attempt.result.returncode == 0 and not attempt.groups.live()
    # Gone entirely, not even a zombie: it exits on "done" and is reaped in the background.
    _until(lambda: not Path(f"/proc/{watchdog}").exists(), "the watchdog exits and is reaped")
    wait_until_group_gone(pgid)


def test_a_running_command_has_a_watchdog_outside_its_group_that_leaves_with_it(
    tmp_path: Path, attempts: list[_Attempt]
) -> None:
    attempt = _Attempt(tmp_path, BACKGROUNDED)
    attempts.append(attempt)
    pgid = attempt.running_group(members=2)

    (watchdog,) = processes_with_argv(WATCHDOG_NAME, str(pgid))
    assert os.getpgid(watchdog) != pgid and os.getsid(watchdog) != os.getsid(pgid)

    attempt.groups.kill()
    attempt.join()
    _until(lambda: not Path(f"/proc/{watchdog}").exists(), "the watchdog exits and is reaped")


# The worker stand-in: runs a backgrounding command for an attempt in a thread, and starts an
# unrelated child that inherits every inheritable descriptor (close_fds=False) — were the
# watchdog's pipe inheritable, that child would keep it open and the watchdog would never see
# its end. Prints the group's id and the bystander's pid, then waits to be killed.
WORKER = """
import subprocess, sys, threading, time
from pathlib import Path
from engine.groups import AttemptGroups, attempt_groups
from engine.providers.process import ActionLog, Deadline, base_environment, run_bash

groups = AttemptGroups()
workdir = Path(sys.argv[1])

def work():
    with attempt_groups(groups):
        run_bash(sys.argv[2], cwd=workdir, env=base_environment({}),
                 log=ActionLog(workdir / "action.log", "Test"), deadline=Deadline(120))

threading.Thread(target=work, daemon=True).start()
while not groups.live():
    time.sleep(0.01)
bystander = subprocess.Popen(["sleep", "120"], close_fds=False, start_new_session=True)
print(next(iter(groups.live())), bystander.pid, flush=True)
time.sleep(120)
"""


def test_a_worker_killed_with_sigkill_takes_the_process_groups_of_its_commands_with_it(
    tmp_path: Path,
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path), BACKGROUNDED],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert worker.stdout is not None
    line = worker.stdout.readline()
    assert line, "the worker stand-in printed nothing (did it fail to start?)"
    pgid, bystander = (int(field) for field in line.split())
    try:
        _until(lambda: len(live_members(pgid)) >= 2, "bash and its background sleep run")
        (watchdog,) = processes_with_argv(WATCHDOG_NAME, str(pgid))

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

        wait_until_group_dead(pgid)
        wait_until_group_gone(pgid)
        _until(lambda: not processes_with_argv(WATCHDOG_NAME, str(pgid)), "the watchdog exits")
        assert os.getpgid(bystander) == bystander  # it was not ours to kill, and still runs
        assert watchdog not in processes_with_argv(WATCHDOG_NAME, str(pgid))
    finally:
        worker.kill()
        worker.wait()
        for pid in (pgid, bystander):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
