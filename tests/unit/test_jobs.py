"""Claims, leases and results of jobs, through the real application on a manual clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from domain.errors import InvalidNonceException
from engine.app import ActionResult
from tests.harness import Harness, linear

OK = ActionResult(succeeded=True, summary="ok")


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    harness = Harness(tmp_path)
    harness.create(linear(2), start=True)
    return harness


def _source_job(h: Harness) -> str:
    (work,) = h.running()
    return work.action_execution_id


def test_the_work_order_is_recorded_with_the_start_and_runs_from_the_store_alone(
    h: Harness,
) -> None:
    (work,) = h.running()
    job = h.app.job(work.action_execution_id)
    assert job.status == "Queued"
    claimed = h.app.claim_job(job.job_id, "w1")
    assert claimed is not None
    assert claimed.work == work
    assert claimed.attempt == 1


def test_of_two_workers_claiming_one_job_only_the_first_wins(h: Harness) -> None:
    job_id = _source_job(h)
    assert h.app.claim_job(job_id, "w1") is not None
    assert h.app.claim_job(job_id, "w2") is None
    assert h.app.job(job_id).claim["worker"] == "w1"  # type: ignore[index]


def test_a_result_with_a_stale_nonce_is_refused_and_the_refusal_recorded(h: Harness) -> None:
    job_id = _source_job(h)
    first = h.app.claim_job(job_id, "w1")
    assert first is not None
    h.later(seconds=h.settings.lease_seconds + 1)
    second = h.app.claim_job(job_id, "w2")
    assert second is not None and second.attempt == 2

    assert h.app.report_job(job_id, first.nonce, OK) is False
    job = h.app.job(job_id)
    assert job.refused == 1 and job.status == "InProgress"
    with pytest.raises(InvalidNonceException):
        h.app.renew_lease(job_id, first.nonce)

    assert h.app.report_job(job_id, second.nonce, OK) is True
    assert h.app.report_job(job_id, second.nonce, OK) is False  # a duplicate
    job = h.app.job(job_id)
    assert [a["outcome"] for a in job.attempts] == ["worker lost", "succeeded"]
    assert job.refused == 2


def test_a_renewed_lease_keeps_the_claim_past_its_first_expiry(h: Harness) -> None:
    job_id = _source_job(h)
    claimed = h.app.claim_job(job_id, "w1")
    assert claimed is not None
    h.later(seconds=h.settings.lease_seconds * 0.6)
    h.app.renew_lease(job_id, claimed.nonce)
    h.later(seconds=h.settings.lease_seconds * 0.6)
    assert h.app.claim_job(job_id, "w2") is None
    assert h.app.expire_leases([job_id]) == 0


def test_a_released_job_is_claimed_again_as_a_new_attempt_without_counting_a_loss(
    h: Harness,
) -> None:
    job_id = _source_job(h)
    claimed = h.app.claim_job(job_id, "w1")
    assert claimed is not None
    h.app.release_job(job_id, claimed.nonce, "worker shutting down")
    again = h.app.claim_job(job_id, "w2")
    assert again is not None and again.attempt == 2
    assert h.app.job(job_id).losses == 0


def test_after_the_configured_number_of_lost_workers_the_action_fails_as_worker_lost(
    h: Harness,
) -> None:
    job_id = _source_job(h)
    (work,) = h.running()
    for worker in ("w1", "w2"):
        assert h.app.claim_job(job_id, worker) is not None
        h.later(seconds=h.settings.lease_seconds + 1)
    assert h.app.expire_leases([job_id]) == 1
    job = h.app.job(job_id)
    assert job.status == "Failed" and job.losses == 2
    execution = h.app.execution(work.execution_id)
    run = execution.actions[job_id]
    assert run["status"] == "Failed"
    assert run["error"] is not None and run["error"]["message"].startswith("worker lost")
    assert execution.status == "Failed"


def test_stopping_with_abandon_abandons_the_running_job_and_refuses_its_renewal(
    h: Harness,
) -> None:
    job_id = _source_job(h)
    (work,) = h.running()
    claimed = h.app.claim_job(job_id, "w1")
    assert claimed is not None
    h.app.stop_pipeline_execution(
        "demo", work.execution_id, abandon=True, reason="enough", by="tester"
    )
    h.app.advance("demo")
    assert h.app.job(job_id).status == "Abandoned"
    with pytest.raises(InvalidNonceException):
        h.app.renew_lease(job_id, claimed.nonce)
    assert h.app.report_job(job_id, claimed.nonce, OK) is False


def test_a_result_after_the_action_timed_out_is_refused(h: Harness) -> None:
    job_id = _source_job(h)
    claimed = h.app.claim_job(job_id, "w1")
    assert claimed is not None
    # Keep the claim alive past the action's own deadline (CodeCommit source: 60 minutes).
    for _ in range(300):
        h.later(seconds=h.settings.lease_seconds / 2)
        try:
            h.app.renew_lease(job_id, claimed.nonce)
        except InvalidNonceException:
            break
    assert h.app.report_job(job_id, claimed.nonce, OK) is False
    assert h.app.job(job_id).status == "Abandoned"
    assert timedelta(minutes=60) < h.clock.now() - h.app.job(job_id).attempts[0]["claimed_at"]


def test_a_lease_that_lapsed_past_the_actions_deadline_is_a_timeout_not_a_lost_worker(
    h: Harness,
) -> None:
    job_id = _source_job(h)
    (work,) = h.running()
    assert h.app.claim_job(job_id, "w1") is not None
    deadline = h.app.job(job_id).deadline
    h.later(seconds=(deadline - h.clock.now()).total_seconds() + 60)  # past lease and deadline
    assert h.app.expire_leases([job_id]) == 0
    job = h.app.job(job_id)
    assert job.status == "Abandoned" and job.losses == 0
    assert [a["outcome"] for a in job.attempts] == ["abandoned"]
    assert h.app.execution(work.execution_id).actions[job_id]["error"]["code"] == "TimedOut"  # type: ignore[index]


def test_a_result_in_parallel_mode_loads_only_the_execution_it_is_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path)
    h.create(linear(2, mode="PARALLEL"))
    started = [h.start() for _ in range(5)]
    first, *others = started
    (work,) = h.running(first)
    claimed = h.app.claim_job(work.action_execution_id, "w1")
    assert claimed is not None

    loaded: list[str] = []
    get = h.app.repository.get
    monkeypatch.setattr(
        h.app.repository, "get", lambda id_, *a, **k: loaded.append(str(id_)) or get(id_, *a, **k)
    )
    assert h.app.report_job(claimed.job_id, claimed.nonce, OK) is True

    # The other four executions were neither loaded nor changed; this one moved on.
    assert not set(loaded) & set(others)
    run = h.app.execution(first).actions[work.action_execution_id]
    assert run["status"] == "Succeeded"
    assert all(len(h.running(other)) == 1 for other in others)
