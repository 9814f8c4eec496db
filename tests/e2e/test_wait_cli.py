"""Commands return at once; --wait runs the execution here; Ctrl-C hands it back; logs --follow."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import CONVEYOR, Workspace
from tests.e2e.test_semantics_cli import GATE, SHIP, _shell, _status, pipeline
from tests.support.processes import (
    kill_groups_mentioning,
    process_group_of,
    processes_with_argv,
    wait_until_group_dead,
)

DEADLINE_SECONDS = 60


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path)
    ws.write("app/README", "v1\n")
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "v1")
    yield ws
    kill_groups_mentioning(str(tmp_path))


def _spawn(ws: Workspace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CONVEYOR, *args],
        cwd=ws.root,
        env=ws.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until_status(ws: Workspace, execution_id: str, wanted: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (status := _status(ws, execution_id)) != wanted:
        assert time.monotonic() < deadline, f"{execution_id} is {status}, never {wanted}"
        time.sleep(0.2)


def test_start_without_wait_returns_at_once_and_says_the_actions_wait_for_a_worker(
    ws: Workspace,
) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    started = ws.run("start", "flow")
    assert "InProgress" in started.stdout
    assert "1 action waits for a worker" in started.stderr
    assert "conveyor server" in started.stderr and "--wait" in started.stderr
    execution_id = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"][0][
        "pipelineExecutionId"
    ]
    assert _status(ws, execution_id) == "InProgress"
    as_json = ws.run("start", "flow", "--json")
    assert as_json.stdout.lstrip().startswith("{")


def test_start_with_wait_runs_the_execution_here_until_it_succeeds(ws: Workspace) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    started = ws.run("start", "flow", "--wait")
    assert "Succeeded" in started.stdout
    assert "Ship │ shipped" in started.stdout
    assert "waits for a worker" not in started.stderr
    execution_id = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"][0][
        "pipelineExecutionId"
    ]
    shown = ws.run("executions", "show", execution_id).stdout
    assert "attempt 1 succeeded" in shown


def test_ctrl_c_during_start_wait_kills_the_build_exits_130_and_a_worker_finishes_it(
    ws: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "interrupted-once"
    build = _shell("Sleep", f"if [ ! -f {marker} ]; then touch {marker}; sleep 23; fi; echo done")
    ws.write("p.json", pipeline({"name": "Build", "actions": [build]}))
    ws.run("pipeline", "create", "p.json", "--no-start")
    waiting = _spawn(ws, "start", "flow", "--wait")
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (sleepers := processes_with_argv("sleep", "23")):
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.1)
    pgid = process_group_of(sleepers[0])
    assert pgid is not None
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=DEADLINE_SECONDS)
    assert waiting.returncode == 130, err
    assert "Traceback" not in err
    assert "is InProgress, running Build" in err
    assert "conveyor worker" in err and "conveyor server" in err and "--abandon" in err
    wait_until_group_dead(pgid)
    execution_id = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"][0][
        "pipelineExecutionId"
    ]
    assert "released" in ws.run("executions", "show", execution_id).stdout

    worker = _spawn(ws, "worker")
    try:
        _until_status(ws, execution_id, "Succeeded")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=DEADLINE_SECONDS)
    assert "attempt 2 succeeded" in ws.run("executions", "show", execution_id).stdout


def test_logs_follow_streams_new_lines_and_returns_when_the_execution_ends(
    ws: Workspace, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    slow = _shell(
        "Slow", f"echo first line; while [ ! -f {go} ]; do sleep 0.1; done; echo second line"
    )
    ws.write("p.json", pipeline({"name": "Build", "actions": [slow]}))
    ws.run("pipeline", "create", "p.json", "--no-start")
    ws.run("start", "flow")
    execution_id = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"][0][
        "pipelineExecutionId"
    ]
    follower = _spawn(ws, "logs", execution_id, "--follow")
    runner = _spawn(ws, "worker")
    try:
        assert follower.stdout is not None
        deadline = time.monotonic() + DEADLINE_SECONDS
        seen = ""
        while "first line" not in seen:
            assert time.monotonic() < deadline, f"never streamed the first line: {seen}"
            seen += follower.stdout.readline()
        assert follower.poll() is None  # still following: the build waits for `go`
        go.touch()
        rest, _ = follower.communicate(timeout=DEADLINE_SECONDS)
        assert follower.returncode == 0
        assert "second line" in rest
        assert "Succeeded" in rest
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=DEADLINE_SECONDS)
        if follower.poll() is None:
            follower.kill()
            follower.communicate()


def _latest(ws: Workspace) -> str:
    summaries = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"]
    return str(summaries[0]["pipelineExecutionId"])


def test_stop_with_wait_runs_the_in_flight_action_to_its_end_and_returns_stopped(
    ws: Workspace,
) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    ws.run("start", "flow")  # no worker: the source action waits, in progress, for one
    execution_id = _latest(ws)

    stopped = ws.run("stop", execution_id, "--reason", "not today", "--wait")

    # A plain stop lets the running action finish: --wait ran it here, then nothing more.
    assert f"execution {execution_id}: Stopped" in stopped.stdout
    assert "Source/Checkout" in stopped.stdout
    assert "Ship/Ship" not in stopped.stdout
    assert _status(ws, execution_id) == "Stopped"


def test_reject_with_wait_returns_once_the_rejection_has_failed_the_execution(
    ws: Workspace,
) -> None:
    ws.write("p.json", pipeline(GATE, SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    # --wait returns when the execution waits on a person: the approval.
    ws.run("start", "flow", "--wait")
    execution_id = _latest(ws)
    assert _status(ws, execution_id) == "InProgress"

    rejected = ws.run("reject", "flow", "Gate", "Approve", "--comment", "no", "--wait", expect=None)

    assert "Traceback" not in rejected.stderr
    assert _status(ws, execution_id) == "Failed"
    assert "shipped" not in rejected.stdout


def test_pipeline_update_with_wait_cancels_what_was_in_flight_and_returns(ws: Workspace) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json")  # starts; no worker runs it
    execution_id = _latest(ws)
    ws.write("p.json", pipeline({"name": "Ship", "actions": [_shell("Ship", "echo v2")]}))

    updated = ws.run("pipeline", "update", "p.json", "--wait")

    assert "version 2" in updated.stdout
    assert _status(ws, execution_id) == "Cancelled"
