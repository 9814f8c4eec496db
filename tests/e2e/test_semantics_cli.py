"""Stage semantics as a user meets them: several executions, people and the clock, via the CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import CONVEYOR, Workspace
from tests.support.processes import kill_groups_mentioning


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def _shell(name: str, commands: str, inputs: tuple[str, ...] = ("Src",)) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": _type("Build", "Shell"),
        "configuration": {"Commands": commands},
        "inputArtifacts": [{"name": n} for n in inputs],
    }


def pipeline(*stages: dict[str, Any], mode: str = "SUPERSEDED") -> dict[str, Any]:
    source = {
        "name": "Source",
        "actions": [
            {
                "name": "Checkout",
                "actionTypeId": _type("Source", "Git"),
                "configuration": {"Repository": "app", "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}],
            }
        ],
    }
    return {
        "name": "flow",
        "pipelineType": "V2",
        "executionMode": mode,
        "stages": [source, *stages],
    }


GATE = {
    "name": "Gate",
    "actions": [{"name": "Approve", "actionTypeId": _type("Approval", "Manual")}],
}
SHIP = {"name": "Ship", "actions": [_shell("Ship", "echo shipped")]}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write("app/README", "v1\n")
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "v1")
    return ws


def _commit(ws: Workspace, text: str) -> str:
    ws.write("app/README", text)
    ws.git("app", "commit", "-q", "-am", text)
    return ws.git("app", "rev-parse", "HEAD")


def _start(ws: Workspace) -> str:
    return ws.json("start", "flow", "--wait")["pipelineExecution"]["pipelineExecutionId"]


def _status(ws: Workspace, execution_id: str) -> str:
    return ws.json("executions", "show", execution_id)["pipelineExecution"]["status"]


def test_a_newer_revision_supersedes_the_one_waiting_at_a_busy_stage(ws: Workspace) -> None:
    ws.write("p.json", pipeline(GATE, SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    e1 = _start(ws)  # holds Gate, waiting for approval
    _commit(ws, "v2")
    e2 = _start(ws)  # waits in front of Gate
    c3 = _commit(ws, "v3")
    e3 = _start(ws)  # supersedes e2
    assert _status(ws, e2) == "Superseded"
    explained = ws.run("explain", e2[:8]).stdout
    assert f"superseded at Gate by {e3[:8]}" in explained
    assert f"commit {c3[:10]}" in explained
    ws.run("approve", "flow", "Gate", "Approve", "--comment", "first", "--wait")
    assert _status(ws, e1) == "Succeeded"
    state = ws.json("state", "flow")
    gate = next(s for s in state["stageStates"] if s["stageName"] == "Gate")
    assert gate["latestExecution"]["pipelineExecutionId"] == e3


def test_queued_executions_enter_a_stage_one_by_one_in_arrival_order(ws: Workspace) -> None:
    ws.write("p.json", pipeline(GATE, SHIP, mode="QUEUED"))
    ws.run("pipeline", "create", "p.json", "--no-start")
    e1, e2, e3 = _start(ws), _start(ws), _start(ws)
    gate = next(s for s in ws.json("state", "flow")["stageStates"] if s["stageName"] == "Gate")
    assert [w["pipelineExecutionId"] for w in gate["inboundExecutions"]] == [e2, e3]
    for current, following in ((e1, e2), (e2, e3)):
        ws.run("approve", "flow", "Gate", "Approve", "--comment", "next", "--wait")
        assert _status(ws, current) == "Succeeded"
        gate = next(s for s in ws.json("state", "flow")["stageStates"] if s["stageName"] == "Gate")
        assert gate["latestExecution"]["pipelineExecutionId"] == following


def test_a_disabled_transition_holds_executions_until_it_is_enabled(ws: Workspace) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    ws.run("transition", "disable", "flow", "Ship", "--reason", "release freeze")
    e1 = _start(ws)
    assert _status(ws, e1) == "InProgress"
    explained = ws.run("explain", e1).stdout
    assert "waiting: inbound transition to Ship disabled by tester" in explained
    assert "'release freeze'" in explained
    ship = next(s for s in ws.json("state", "flow")["stageStates"] if s["stageName"] == "Ship")
    assert ship["inboundTransitionState"]["enabled"] is False
    assert ship["inboundTransitionState"]["disabledReason"] == "release freeze"
    assert ship["inboundExecution"]["pipelineExecutionId"] == e1
    ws.run("transition", "enable", "flow", "Ship", "--wait")
    assert _status(ws, e1) == "Succeeded"


def test_an_approval_nobody_answers_times_out_and_fails_the_execution(ws: Workspace) -> None:
    gate = {
        "name": "Gate",
        "actions": [
            {"name": "Approve", "actionTypeId": _type("Approval", "Manual"), "timeoutInMinutes": 60}
        ],
    }
    ws.write("p.json", pipeline(gate, SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start", CONVEYOR_NOW="2026-11-02T09:00:00Z")
    started = ws.run("start", "flow", "--wait", "--json", CONVEYOR_NOW="2026-11-02T09:00:00Z")
    e1 = json.loads(started.stdout)["pipelineExecution"]["pipelineExecutionId"]
    ws.run("tick", CONVEYOR_NOW="2026-11-02T09:59:00Z")
    assert _status(ws, e1) == "InProgress"
    ws.run("tick", CONVEYOR_NOW="2026-11-02T10:01:00Z")
    shown = ws.json("executions", "show", e1)
    assert shown["pipelineExecution"]["status"] == "Failed"
    approval = next(d for d in shown["actionExecutionDetails"] if d["actionName"] == "Approve")
    assert approval["output"]["executionResult"]["errorDetails"]["code"] == "TimedOut"
    assert "Ship" not in {d["stageName"] for d in shown["actionExecutionDetails"]}


def test_stop_and_abandon_ends_an_execution_whose_action_is_still_running(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.write("p.json", pipeline({"name": "Slow", "actions": [_shell("Sleep", "sleep 20")]}, SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    runner = subprocess.Popen(
        [CONVEYOR, "start", "flow", "--wait"],
        cwd=tmp_path,
        env=ws.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        execution_id = None
        deadline = time.monotonic() + 30
        while True:
            listing = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"]
            if listing:
                execution_id = listing[0]["pipelineExecutionId"]
                details = ws.json("executions", "show", execution_id)["actionExecutionDetails"]
                if any(d["actionName"] == "Sleep" for d in details):
                    break
            assert time.monotonic() < deadline, "the Sleep action never started"
            time.sleep(0.1)
        assert execution_id
        stopped = ws.json("stop", execution_id, "--abandon", "--reason", "wrong commit")
        assert stopped == {"pipelineExecutionId": execution_id}
        shown = ws.json("executions", "show", execution_id)
        assert shown["pipelineExecution"]["status"] == "Stopped"
        sleep = next(d for d in shown["actionExecutionDetails"] if d["actionName"] == "Sleep")
        assert sleep["status"] == "Abandoned"
        listed = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"]
        assert listed[0]["stopTrigger"] == {"reason": "wrong commit"}
        again = ws.run("stop", execution_id, expect=2)
        assert "PipelineExecutionNotStoppableException" in again.stderr
    finally:
        runner.kill()
        runner.wait()
        # The abandoned `sleep 20` runs in its own process group (stop does not kill it yet).
        kill_groups_mentioning(str(tmp_path))


def test_retrying_the_failed_action_lets_the_execution_finish(
    ws: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "second-attempt"
    flaky = _shell("Flaky", f"if [ ! -f {marker} ]; then touch {marker}; echo flaky; exit 1; fi")
    steady = _shell("Steady", "echo steady")
    ws.write("p.json", pipeline({"name": "Build", "actions": [flaky, steady]}, SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    started = ws.run("start", "flow", "--wait", "--json", expect=1)
    assert '"Failed"' in started.stdout
    e1 = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"][0][
        "pipelineExecutionId"
    ]
    ws.run("retry", e1, "Build", "--wait")
    shown = ws.json("executions", "show", e1)
    assert shown["pipelineExecution"]["status"] == "Succeeded"
    attempts = [d for d in shown["actionExecutionDetails"] if d["actionName"] == "Flaky"]
    assert sorted(d["status"] for d in attempts) == ["Failed", "Succeeded"]
    assert len([d for d in shown["actionExecutionDetails"] if d["actionName"] == "Steady"]) == 1
    not_again = ws.run("retry", e1, "Build", expect=2)
    assert "StageNotRetryableException" in not_again.stderr


def test_every_execution_is_listed_and_each_is_found_by_a_short_prefix_of_its_id(
    ws: Workspace,
) -> None:
    ws.write("p.json", pipeline(SHIP))
    ws.run("pipeline", "create", "p.json", "--no-start")
    started = [_start(ws) for _ in range(3)]
    listed = ws.json("executions", "list", "flow")["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in listed] == list(reversed(started))
    for execution_id in started:
        shown = ws.json("executions", "show", execution_id[:6])["pipelineExecution"]
        assert shown["pipelineExecutionId"] == execution_id
    assert "shipped" in ws.run("logs", started[0][:6], "Ship", "Ship").stdout
    short = ws.run("executions", "show", started[0][:3], expect=2)
    assert "too short; give at least 4 characters" in short.stderr
    unknown = ws.run("executions", "show", "zzzz", expect=2)
    assert "'zzzz' matches no execution" in unknown.stderr
