"""The job board rebuilt from the log alone, and results that do not come from the current claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InvalidNonceException
from engine.app import ActionResult
from engine.board import JobBoard
from tests.harness import Harness, definition, shell_action, source_action


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    # A real SQLite store: the board reads the notification log, as a worker does.
    h = Harness(tmp_path, persistence={})
    h.create(definition([("Source", [source_action()]), ("Build", [shell_action("Make")])]))
    return h


def _ok() -> ActionResult:
    return ActionResult(succeeded=True, summary="ok")


def test_the_board_lists_a_queued_job_from_the_log_alone(harness: Harness) -> None:
    execution_id = harness.start()
    board = JobBoard(harness.app)
    board.refresh()
    [job] = board.claimable(harness.clock.now())
    assert (job.execution_id, job.stage, job.action) == (execution_id, "Source", "Checkout")
    assert (job.status, job.category, job.provider) == ("Queued", "Source", "CodeCommit")
    assert board.claimable(harness.clock.now(), lambda s: s.category == "Build") == []


def test_a_claimed_job_is_claimable_again_only_once_its_lease_lapsed(harness: Harness) -> None:
    harness.start()
    board = JobBoard(harness.app)
    board.refresh()
    [job] = board.claimable(harness.clock.now())
    claimed = harness.app.claim_job(job.job_id, "w1")
    assert claimed is not None
    assert harness.app.claim_job(job.job_id, "w2") is None
    board.refresh()
    assert board.claimable(harness.clock.now()) == []
    assert board.summary(job.job_id).worker == "w1"  # type: ignore[union-attr]
    harness.later(seconds=harness.settings.lease_seconds + 1)
    board.refresh()
    assert board.lapsed(harness.clock.now()) == [job.job_id]
    assert [j.job_id for j in board.claimable(harness.clock.now())] == [job.job_id]


def test_a_late_result_from_a_lost_worker_is_refused_and_recorded(harness: Harness) -> None:
    harness.start()
    board = JobBoard(harness.app)
    board.refresh()
    [job] = board.claimable(harness.clock.now())
    first = harness.app.claim_job(job.job_id, "lost")
    assert first is not None
    harness.later(seconds=harness.settings.lease_seconds + 1)
    second = harness.app.claim_job(job.job_id, "successor")
    assert second is not None and second.attempt == 2
    with pytest.raises(InvalidNonceException):
        harness.app.renew_lease(job.job_id, first.nonce)

    assert harness.app.report_job(job.job_id, first.nonce, _ok()) is False
    assert harness.app.report_job(job.job_id, second.nonce, _ok()) is True
    assert harness.app.report_job(job.job_id, second.nonce, _ok()) is False  # a duplicate

    recorded = harness.app.job(job.job_id)
    assert recorded.refused == 2
    assert [a["outcome"] for a in recorded.attempts] == ["worker lost", "succeeded"]
    board.refresh()
    assert board.abandoned_or_ended([job.job_id]) == {job.job_id}


def test_the_board_sees_a_held_job_abandoned_when_its_execution_is_stopped(
    harness: Harness,
) -> None:
    execution_id = harness.start()
    board = JobBoard(harness.app)
    board.refresh()
    [job] = board.claimable(harness.clock.now())
    claimed = harness.app.claim_job(job.job_id, "w1")
    assert claimed is not None
    harness.app.stop_pipeline_execution(
        "demo", execution_id, abandon=True, reason="enough", by="tester"
    )
    board.refresh()
    assert board.abandoned_or_ended([job.job_id]) == {job.job_id}
    assert board.ended[job.job_id] == "Abandoned"
    with pytest.raises(InvalidNonceException):
        harness.app.renew_lease(job.job_id, claimed.nonce)
