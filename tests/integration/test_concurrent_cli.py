"""Many `conveyor` processes at once on one store: no errors but the proper refusals.

On SQLite and on a PostgreSQL database each test creates: two dozen `pipeline create` on a
store never set up (they race to set up its tables), forty `pipeline list`, eight processes
starting executions while two approvers race for the same twenty-five approvals.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import build
from engine.settings import Settings
from tests.e2e.cli import CONVEYOR, Workspace
from tests.harness import START, Harness, approval_action, definition
from tests.support.cli_driver import Driver

# The instant every CLI process of these tests lives at: the approvals were requested at START
# and are far from their timeout.
NOW = (START + timedelta(minutes=1)).isoformat()
STARTERS, STARTS_EACH = 8, 25
APPROVALS = 25
PROCESS_DEADLINE_SECONDS = 240


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


def gated(name: str, bucket: Path) -> dict[str, Any]:
    """An S3 source from a local bucket directory, then a manual approval."""
    source = {
        "name": "Object",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
        "outputArtifacts": [{"name": "Src"}],
    }
    return definition([("Source", [source]), ("Approval", [approval_action()])], name=name)


def env(ws: Workspace, user: str) -> dict[str, str]:
    return ws.env(CONVEYOR_NOW=NOW, CONVEYOR_USER=user)


def bucket_in(root: Path) -> Path:
    bucket = root / "bucket"
    bucket.mkdir()
    (bucket / "source.txt").write_text("hello\n")
    return bucket


def run_together(ws: Workspace, argvs: list[list[str]]) -> list[tuple[list[str], int, str]]:
    """Start every command at once; (argv, exit code, stderr + stdout) of each."""
    processes = [
        subprocess.Popen(
            [CONVEYOR, *argv],
            cwd=ws.root,
            env=ws.env(CONVEYOR_NOW=NOW),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    done = []
    for argv, process in zip(argvs, processes, strict=True):
        out, err = process.communicate(timeout=PROCESS_DEADLINE_SECONDS)
        done.append((argv, process.returncode, err + out))
    return done


@pytest.fixture
def drivers() -> Iterator[list[Driver]]:
    started: list[Driver] = []
    yield started
    for driver in started:
        driver.kill()


def test_two_dozen_creates_on_a_store_never_set_up_then_forty_lists_all_succeed(
    tmp_path: Path, database_url: str | None
) -> None:
    ws = Workspace(tmp_path, database_url=database_url, init=False)
    # A workspace whose store was never set up: the directory alone, and for PostgreSQL an
    # empty database. Every process finds the tables missing at once.
    (tmp_path / ".conveyor").mkdir()
    bucket = bucket_in(tmp_path)
    names = [f"p{index:02d}" for index in range(24)]
    for name in names:
        ws.write(f"{name}.json", gated(name, bucket))

    created = run_together(ws, [["pipeline", "create", f"{n}.json", "--no-start"] for n in names])
    assert [(argv, code, text) for argv, code, text in created if code != 0] == []

    listed = run_together(ws, [["pipeline", "list", "--json"]] * 40)
    assert [(argv, code, text) for argv, code, text in listed if code != 0] == []
    for _, _, text in listed:
        assert sorted(p["name"] for p in json.loads(text)["pipelines"]) == names


def _start_refusals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Starts that went wrong: any error, crash or output on stderr other than the note that
    actions wait for a worker (none runs here). Exit 1 is the status of an execution that a
    newer one superseded before `start` returned, not an error."""
    wrong = []
    for result in results:
        superseded = result["code"] == 1 and "Superseded" in result["stdout"]
        noted = "wait for a worker" in result["stderr"] or "waits for a worker" in result["stderr"]
        if (result["stderr"] and not noted) or not (result["code"] == 0 or superseded):
            wrong.append(result)
    return wrong


def test_eight_starters_and_two_racing_approvers_see_only_refusals_and_one_winner_each(
    tmp_path: Path, database_url: str | None, drivers: list[Driver]
) -> None:
    ws = Workspace(tmp_path, database_url=database_url)
    bucket = bucket_in(tmp_path)
    settings = Settings(home=tmp_path / ".conveyor", database_url=database_url)
    # Twenty-five pipelines waiting at their approval, set up through the application.
    harness = Harness(settings.home, persistence=settings.event_store_env())
    waiting = {}
    for index in range(APPROVALS):
        name = f"gate-{index:02d}"
        execution_id = harness.create(gated(name, bucket), start=True)
        assert execution_id is not None
        harness.pass_stage(execution_id, "Source")
        waiting[name] = execution_id
    harness.create(gated("flow", bucket))
    harness.app.close()

    starters = [Driver(env(ws, f"starter-{index}")) for index in range(STARTERS)]
    approvers = [Driver(env(ws, "approver-a")), Driver(env(ws, "approver-b"))]
    drivers.extend(starters + approvers)
    for starter in starters:
        for _ in range(STARTS_EACH):
            starter.send(["start", "flow"])
        starter.stdin.close()

    # Both approvers answer the same approval at the same moment, one approval after another.
    winners: dict[str, str] = {}
    refusals: list[str] = []
    unexpected: list[dict[str, Any]] = []
    for name in waiting:
        argv = ["approve", name, "Approval", "Approve", "--comment", "ship it"]
        for approver in approvers:
            approver.send(argv)
        answers = {user: a.receive() for user, a in zip(("a", "b"), approvers, strict=True)}
        won = [user for user, answer in answers.items() if answer["code"] == 0]
        lost = [answer for answer in answers.values() if answer["code"] != 0]
        refused = all(a["code"] == 2 and a["stderr"].startswith("error ") for a in lost)
        if len(won) != 1 or not refused:
            unexpected.extend(answers.values())
            continue
        winners[name] = f"approver-{won[0]}"
        refusals.extend(answer["stderr"].split(":")[0] for answer in lost)

    started = [result for starter in starters for result in starter.finish()]
    for approver in approvers:
        approver.finish()
    assert unexpected == []
    assert _start_refusals(started) == []
    assert len(started) == STARTERS * STARTS_EACH
    # The loser is told the approval is no longer waiting, in the house format.
    assert set(refusals) <= {
        "error InvalidApprovalTokenException",
        "error StageNotInProgressException",
        "error ApprovalAlreadyCompletedException",
    }, refusals

    system = build(settings, env={"CONVEYOR_NOW": NOW})
    try:
        for name, execution_id in waiting.items():
            execution = system.app.execution(execution_id)
            granted = [
                event
                for event in system.app.events.get(execution.id)
                if type(event).__name__ == "ApprovalGranted"
            ]
            assert [getattr(event, "by", None) for event in granted] == [winners[name]], name
        starts = [
            notification
            for notification in system.app.recorder.select_notifications(start=1, limit=10**6)
            if notification.topic.endswith("ExecutionStarted")
        ]
        assert len(starts) == APPROVALS + STARTERS * STARTS_EACH
    finally:
        system.close()
