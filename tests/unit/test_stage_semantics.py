"""Stage locks, modes, transitions, approvals, stop and retry through the real command path."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import (
    ApprovalAlreadyCompletedException,
    ConcurrentPipelineExecutionsLimitExceededException,
    DuplicatedStopRequestException,
    InvalidApprovalTokenException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotStoppableException,
    StageNotRetryableException,
)
from engine.settings import Settings
from tests.harness import Harness, approval_action, definition, linear, shell_action, source_action


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_a_run_through_every_stage_succeeds_and_records_stage_order(h: Harness) -> None:
    h.create(linear(3))
    e1 = h.start()
    for stage in ("Source", "S1", "S2"):
        h.pass_stage(e1, stage)
    execution = h.app.execution(e1)
    assert execution.status == "Succeeded"
    assert list(execution.stages) == ["Source", "S1", "S2"]


def test_a_newer_arrival_supersedes_the_waiting_execution_and_enters_when_the_stage_frees(
    h: Harness,
) -> None:
    # The spec's worked example: B locked by E1, E2 waits, E3 arrives, E2 superseded, E3 enters.
    h.create(linear(3))
    e1 = h.start()
    h.pass_stage(e1, "Source")  # E1 now holds S1
    e2 = h.start()
    h.pass_stage(e2, "Source")  # E2 waits for S1
    assert h.app.execution(e2).waiting["stage"] == "S1"
    e3 = h.start()
    h.pass_stage(e3, "Source")  # E3 arrives: E2 is superseded
    assert h.status(e2) == "Superseded"
    assert h.app.execution(e2).outcome["superseded_by"] == e3
    h.pass_stage(e1, "S1")  # E1 leaves S1; E3 enters
    assert h.app.execution(e3).stage == "S1"
    assert h.app.execution(e3).waiting is None


def test_a_running_execution_is_never_superseded(h: Harness) -> None:
    h.create(linear(2))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    for _ in range(3):
        h.pass_stage(h.start(), "Source")
    assert h.status(e1) == "InProgress"
    assert h.app.execution(e1).stage == "S1"


def test_queued_mode_admits_waiting_executions_in_arrival_order(h: Harness) -> None:
    h.create(linear(2, mode="QUEUED"))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    e2 = h.start()
    h.pass_stage(e2, "Source")
    e3 = h.start()
    h.pass_stage(e3, "Source")
    pipeline = h.app.pipeline("demo")
    assert pipeline.gate("S1")["waiting"] == [e2, e3]
    h.pass_stage(e1, "S1")
    assert h.app.execution(e2).stage == "S1"
    h.pass_stage(e2, "S1")
    assert h.app.execution(e3).stage == "S1"
    assert {h.status(e) for e in (e1, e2)} == {"Succeeded"}


def test_parallel_mode_runs_executions_side_by_side(h: Harness) -> None:
    h.create(linear(2, mode="PARALLEL"))
    e1, e2 = h.start(), h.start()
    h.pass_stage(e1, "Source")
    h.pass_stage(e2, "Source")
    assert h.app.execution(e1).stage == "S1"
    assert h.app.execution(e2).stage == "S1"


def test_the_concurrency_cap_refuses_one_more_execution(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.app.settings = Settings(home=tmp_path, max_concurrent_executions=2)
    h.create(linear(2, mode="PARALLEL"))
    h.start()
    h.start()
    with pytest.raises(ConcurrentPipelineExecutionsLimitExceededException):
        h.start()


def test_a_failed_action_lets_siblings_finish_and_never_starts_the_next_group(h: Harness) -> None:
    stages = [
        ("Source", [source_action()]),
        ("Build", [shell_action("A"), shell_action("B"), shell_action("C", run_order=2)]),
    ]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "Build", "A"), succeeded=False)
    assert h.status(e1) == "InProgress"  # B still running
    h.report(h.find(e1, "Build", "B"))
    execution = h.app.execution(e1)
    assert execution.status == "Failed"
    assert execution.latest_run("Build", "C") is None


def test_a_failure_releases_the_lock_and_the_displaced_execution_cannot_be_retried(
    h: Harness,
) -> None:
    h.create(linear(2))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    e2 = h.start()
    h.pass_stage(e2, "Source")
    h.report(h.find(e1, "S1"), succeeded=False)
    assert h.status(e1) == "Failed"
    assert h.app.execution(e2).stage == "S1"
    with pytest.raises(NotLatestPipelineExecutionException):
        h.app.retry_stage_execution("demo", "S1", e1, retry_mode="FAILED_ACTIONS", by="t")


def test_retrying_failed_actions_creates_new_attempts_and_keeps_the_old_ones(h: Harness) -> None:
    stages = [("Source", [source_action()]), ("Build", [shell_action("A"), shell_action("B")])]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    first_a = h.find(e1, "Build", "A")
    h.report(first_a, succeeded=False)
    h.report(h.find(e1, "Build", "B"))
    h.app.retry_stage_execution("demo", "Build", e1, retry_mode="FAILED_ACTIONS", by="t")
    h.advance()
    second_a = h.find(e1, "Build", "A")
    assert second_a.action_execution_id != first_a.action_execution_id
    assert [w.action for w in h.running(e1)] == ["A"]  # B is not rerun
    h.report(second_a)
    execution = h.app.execution(e1)
    assert execution.status == "Succeeded"
    attempts = [r for r in execution.actions.values() if r["action"] == "A"]
    assert [r["status"] for r in attempts] == ["Failed", "Succeeded"]


def test_retrying_all_actions_reruns_the_whole_stage(h: Harness) -> None:
    stages = [("Source", [source_action()]), ("Build", [shell_action("A"), shell_action("B")])]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "Build", "A"), succeeded=False)
    h.report(h.find(e1, "Build", "B"))
    h.app.retry_stage_execution("demo", "Build", e1, retry_mode="ALL_ACTIONS", by="t")
    h.advance()
    assert sorted(w.action for w in h.running(e1)) == ["A", "B"]


def test_a_succeeded_stage_is_not_retryable(h: Harness) -> None:
    h.create(linear(2))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.pass_stage(e1, "S1")
    with pytest.raises(StageNotRetryableException):
        h.app.retry_stage_execution("demo", "S1", e1, retry_mode="FAILED_ACTIONS", by="t")


def test_automatic_retry_runs_the_failed_actions_once_more(h: Harness) -> None:
    document = linear(2)
    document["pipelineType"] = "V2"
    document["stages"][1]["onFailure"] = {
        "result": "RETRY",
        "retryConfiguration": {"retryMode": "FAILED_ACTIONS"},
    }
    h.create(document)
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "S1"), succeeded=False)
    assert h.status(e1) == "InProgress"
    h.report(h.find(e1, "S1"), succeeded=False)
    execution = h.app.execution(e1)
    assert execution.status == "Failed"
    assert execution.stages["S1"]["auto_retries"] == 1


def test_executions_wait_at_a_disabled_transition_and_the_latest_enters_on_enable(
    h: Harness,
) -> None:
    h.create(linear(3))
    h.app.disable_stage_transition("demo", "S1", reason="release freeze", by="alice")
    e1 = h.start()
    h.pass_stage(e1, "Source")
    assert h.app.execution(e1).waiting["reason"] == "transition-disabled"
    e2 = h.start()
    h.pass_stage(e2, "Source")
    assert h.status(e1) == "Superseded"
    h.app.enable_stage_transition("demo", "S1", by="alice")
    h.advance()
    assert h.app.execution(e2).stage == "S1"


def test_a_transition_disabled_for_more_than_30_days_does_not_resume_on_enable(
    h: Harness,
) -> None:
    h.create(linear(2))
    h.app.disable_stage_transition("demo", "S1", reason="long freeze", by="alice")
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.later(days=31)
    h.app.enable_stage_transition("demo", "S1", by="alice")
    assert h.status(e1) == "Stopped"
    assert "30 days" in h.app.execution(e1).status_summary


def test_nothing_after_an_approval_runs_before_it_is_granted(h: Harness) -> None:
    stages = [
        ("Source", [source_action()]),
        ("Gate", [approval_action()]),
        ("Deploy", [shell_action("Ship")]),
    ]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    assert h.running(e1) == []
    run = h.app.execution(e1).latest_run("Gate", "Approve")
    assert run["token"]
    h.app.put_approval_result(
        "demo", "Gate", "Approve", status="Approved", summary="ok", by="bob", token=run["token"]
    )
    h.advance()
    assert h.find(e1, "Deploy", "Ship")
    with pytest.raises(ApprovalAlreadyCompletedException):
        h.app.put_approval_result(
            "demo",
            "Gate",
            "Approve",
            status="Approved",
            summary="again",
            by="bob",
            token=run["token"],
        )


def test_a_wrong_token_is_refused(h: Harness) -> None:
    stages = [("Source", [source_action()]), ("Gate", [approval_action()])]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    with pytest.raises(InvalidApprovalTokenException):
        h.app.put_approval_result(
            "demo",
            "Gate",
            "Approve",
            status="Approved",
            summary="",
            by="bob",
            token="not-the-token",
        )


def test_a_rejection_fails_the_action_the_stage_and_the_execution(h: Harness) -> None:
    stages = [("Source", [source_action()]), ("Gate", [approval_action()])]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.app.put_approval_result("demo", "Gate", "Approve", status="Rejected", summary="no", by="bob")
    execution = h.app.execution(e1)
    assert execution.status == "Failed"
    assert execution.stages["Gate"]["status"] == "Failed"


def test_an_approval_times_out_after_its_timeout_and_fails_the_execution(h: Harness) -> None:
    stages = [("Source", [source_action()]), ("Gate", [approval_action(minutes=60)])]
    h.create(definition(stages))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.later(minutes=59)
    h.advance()
    assert h.status(e1) == "InProgress"
    h.later(minutes=2)
    h.advance()
    execution = h.app.execution(e1)
    assert execution.status == "Failed"
    assert execution.latest_run("Gate", "Approve")["error"]["code"] == "TimedOut"


def test_stop_and_wait_lets_running_actions_finish_then_stops(h: Harness) -> None:
    h.create(linear(3))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.app.stop_pipeline_execution("demo", e1, abandon=False, reason="oops", by="carol")
    assert h.status(e1) == "Stopping"
    with pytest.raises(DuplicatedStopRequestException):
        h.app.stop_pipeline_execution("demo", e1, abandon=False, reason="", by="carol")
    h.report(h.find(e1, "S1"))
    execution = h.app.execution(e1)
    assert execution.status == "Stopped"
    assert "S2" not in execution.stages


def test_stop_and_abandon_abandons_running_actions_and_ignores_their_late_results(
    h: Harness,
) -> None:
    h.create(linear(3))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    work = h.find(e1, "S1")
    h.app.stop_pipeline_execution("demo", e1, abandon=True, reason="now", by="carol")
    execution = h.app.execution(e1)
    assert execution.status == "Stopped"
    assert execution.run(work.action_execution_id)["status"] == "Abandoned"
    h.report(work)
    assert h.app.execution(e1).run(work.action_execution_id)["status"] == "Abandoned"
    with pytest.raises(PipelineExecutionNotStoppableException):
        h.app.stop_pipeline_execution("demo", e1, abandon=True, reason="", by="carol")


def test_a_stopped_stage_can_be_retried(h: Harness) -> None:
    h.create(linear(2))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.app.stop_pipeline_execution("demo", e1, abandon=True, reason="", by="carol")
    h.app.retry_stage_execution("demo", "S1", e1, retry_mode="FAILED_ACTIONS", by="carol")
    h.advance()
    h.pass_stage(e1, "S1")
    assert h.status(e1) == "Succeeded"


def test_updating_the_pipeline_cancels_executions_in_flight(h: Harness) -> None:
    h.create(linear(3))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    e2 = h.start()
    h.pass_stage(e2, "Source")
    h.app.update_pipeline(linear(2), by="dave")
    assert h.status(e1) == "Cancelled"
    assert h.status(e2) == "Cancelled"
    assert h.app.pipeline("demo").active == []
    assert h.app.pipeline("demo").pipeline_version == 2


def test_explain_names_the_superseding_execution_and_its_commit(h: Harness) -> None:
    from projections.explain import explain

    h.create(linear(3))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    e2 = h.start()
    h.pass_stage(e2, "Source")
    e3 = h.start()
    h.pass_stage(e3, "Source")
    execution = h.app.execution(e2)
    facts = explain(execution, h.app.pipeline_of(execution), h.app.execution, h.clock.now())
    superseded = next(f for f in facts if f.startswith("superseded"))
    assert f"superseded at S1 by {e3[:8]}" in superseded
    assert "commit 0000000000" in superseded


def test_explain_says_who_disabled_the_transition_and_why(h: Harness) -> None:
    from projections.explain import explain

    h.create(linear(2))
    h.app.disable_stage_transition("demo", "S1", reason="release freeze", by="alice")
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.later(days=2)
    execution = h.app.execution(e1)
    facts = explain(execution, h.app.pipeline_of(execution), h.app.execution, h.clock.now())
    assert (
        "waiting: inbound transition to S1 disabled by alice 2 days ago: 'release freeze'"
        in " ".join(facts)
    )


def test_explain_says_an_update_cancelled_the_execution(h: Harness) -> None:
    from projections.explain import explain

    h.create(linear(2))
    e1 = h.start()
    h.app.update_pipeline(linear(3), by="dave")
    execution = h.app.execution(e1)
    facts = explain(execution, h.app.pipeline_of(execution), h.app.execution, h.clock.now())
    assert any("cancelled" in f and "dave" in f and "version 2" in f for f in facts)


def test_explain_gives_the_failed_action_and_its_error(h: Harness) -> None:
    from projections.explain import explain

    h.create(linear(2))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "S1"), succeeded=False)
    execution = h.app.execution(e1)
    facts = explain(execution, h.app.pipeline_of(execution), h.app.execution, h.clock.now())
    assert any(f.startswith("failed at S1") and "A1 failed" in f for f in facts)


def test_disabling_a_disabled_transition_again_keeps_the_30_day_clock_running(h: Harness) -> None:
    h.create(linear(2))
    h.app.disable_stage_transition("demo", "S1", reason="freeze", by="alice")
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.later(days=29)
    h.app.disable_stage_transition("demo", "S1", reason="longer freeze", by="alice")
    h.later(days=16)
    h.app.enable_stage_transition("demo", "S1", by="alice")
    assert h.status(e1) == "Stopped"


def test_an_execution_of_a_deleted_pipeline_cannot_be_retried_in_its_namesake(
    h: Harness,
) -> None:
    from domain.errors import PipelineExecutionNotFoundException

    h.create(linear(2, mode="PARALLEL"))
    e1 = h.start()
    h.pass_stage(e1, "Source")
    h.report(h.find(e1, "S1"), succeeded=False)
    h.app.delete_pipeline("demo", by="dave")
    h.create(linear(2, mode="PARALLEL"))
    with pytest.raises(PipelineExecutionNotFoundException):
        h.app.retry_stage_execution("demo", "S1", e1, retry_mode="FAILED_ACTIONS", by="dave")
