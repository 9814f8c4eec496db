"""Stage semantics hold under random interleavings of commands, in every execution mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis.stateful import run_state_machine_as_test

from domain.errors import InvalidApprovalTokenException
from tests.harness import Harness, approval_action, definition, linear, shell_action, source_action
from tests.property.machine import DEEPER, StageSemanticsMachine


class SupersededMachine(StageSemanticsMachine):
    modes = ("SUPERSEDED",)


class QueuedMachine(StageSemanticsMachine):
    modes = ("QUEUED",)


class ParallelMachine(StageSemanticsMachine):
    modes = ("PARALLEL",)


def test_superseded_mode_keeps_one_execution_per_stage_and_supersedes_only_waiting_ones() -> None:
    run_state_machine_as_test(SupersededMachine, settings=DEEPER)


def test_queued_mode_keeps_one_execution_per_stage_and_admits_in_arrival_order() -> None:
    run_state_machine_as_test(QueuedMachine, settings=DEEPER)


def test_parallel_mode_runs_executions_independently_through_the_same_stage_rules() -> None:
    run_state_machine_as_test(ParallelMachine, settings=DEEPER)


# ----- answers and results after a deadline, reduced to one example each ---------------------


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_an_approval_answered_after_its_deadline_is_refused_as_expired(h: Harness) -> None:
    stages = [
        ("Source", [source_action()]),
        ("Gate", [approval_action(minutes=60)]),
        ("Ship", [shell_action("Go")]),
    ]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    run = h.app.execution(e1).latest_run("Gate", "Approve")
    assert run is not None
    h.later(minutes=61)  # past the deadline; no advance has run since
    with pytest.raises(InvalidApprovalTokenException):
        h.app.put_approval_result(
            "demo",
            "Gate",
            "Approve",
            status="Approved",
            summary="late",
            by="bob",
            token=run["token"],
        )
    gate = h.app.execution(e1).latest_run("Gate", "Approve")
    assert gate is not None and gate["error"]["code"] == "TimedOut"


def test_an_action_result_after_its_deadline_is_ignored_because_the_action_timed_out(
    h: Harness,
) -> None:
    h.create(linear(2))
    e1 = h.start()
    work = h.find(e1, "Source")
    h.later(minutes=61)  # the source action's 60-minute timeout passed; no advance since
    h.report(work)
    run = h.app.execution(e1).run(work.action_execution_id)
    assert (run["status"], run["error"] and run["error"]["code"]) == ("Failed", "TimedOut")
    assert h.status(e1) == "Failed"
