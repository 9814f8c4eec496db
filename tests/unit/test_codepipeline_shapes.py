"""The CodePipeline documents' times, counts and ARNs, under a virtual clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from projections.codepipeline import (
    action_execution_details,
    pipeline_metadata,
    pipeline_state,
    pipeline_summary,
)
from tests.harness import START, Harness, linear

WHERE = {"region": "eu-west-3", "account": "123456789012"}


def test_the_arn_names_the_settings_region_and_account(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.create(linear(2))
    metadata = pipeline_metadata(h.app.pipeline("demo"), **WHERE)
    assert metadata["pipelineArn"] == "arn:aws:codepipeline:eu-west-3:123456789012:demo"


def test_updated_moves_with_the_definition_and_never_with_an_execution(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.create(linear(2))
    h.later(minutes=5)
    execution_id = h.start()
    h.later(minutes=5)
    h.pass_stage(execution_id, "Source")
    h.pass_stage(execution_id, "S1")
    pipeline = h.app.pipeline("demo")
    created = START.timestamp()
    assert pipeline_metadata(pipeline, **WHERE)["updated"] == created
    assert pipeline_summary(pipeline)["updated"] == created
    assert pipeline_state(pipeline, h.app.execution)["updated"] == created
    h.later(minutes=5)
    h.app.update_pipeline(linear(3), by="tester")
    updated = (START + timedelta(minutes=15)).timestamp()
    assert pipeline_metadata(h.app.pipeline("demo"), **WHERE)["updated"] == updated


def test_a_succeeded_action_reports_when_it_ended(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.create(linear(2))
    execution_id = h.start()
    h.pass_stage(execution_id, "Source")
    h.later(seconds=30)
    h.pass_stage(execution_id, "S1")
    ended = (START + timedelta(seconds=30)).timestamp()
    state = pipeline_state(h.app.pipeline("demo"), h.app.execution)
    build = state["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert (build["status"], build["lastStatusChange"]) == ("Succeeded", ended)
    details = action_execution_details(h.app.execution(execution_id), region="eu-west-3")
    newest = next(d for d in details if d["actionName"] == "A1")
    assert (newest["startTime"], newest["lastUpdateTime"]) == (START.timestamp(), ended)
    assert newest["input"]["region"] == "eu-west-3"
    assert "namespace" not in newest["input"] and "updatedBy" not in newest


def test_attempts_count_up_across_manual_retries_and_a_zero_count_is_left_out(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.create(linear(2))
    execution_id = h.start()
    h.pass_stage(execution_id, "Source")
    for _ in range(2):
        h.report(h.find(execution_id, "S1"), succeeded=False)
        h.app.retry_stage_execution(
            "demo", "S1", execution_id, retry_mode="FAILED_ACTIONS", by="tester"
        )
        h.advance()
    runs = h.app.execution(execution_id).actions.values()
    assert sorted(r["attempt"] for r in runs if r["action"] == "A1") == [1, 2, 3]
    state = pipeline_state(h.app.pipeline("demo"), h.app.execution)
    assert state["stageStates"][1]["retryStageMetadata"] == {
        "latestRetryTrigger": "ManualStageRetry",
        "manualStageRetryAttempt": 2,
    }
