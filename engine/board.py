"""The job board: the open jobs, rebuilt from the event log's Job events alone."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from domain.job import ABANDONED, FAILED, IN_PROGRESS, QUEUED, Job

# Job events the board follows; any other event in the log is skipped by the store's query.
_EVENTS: tuple[type[Any], ...] = (
    Job.JobQueued,
    Job.JobClaimed,
    Job.JobLeaseRenewed,
    Job.JobReleased,
    Job.JobLeaseLapsed,
    Job.JobCompleted,
    Job.JobResultRefused,
    Job.JobAbandoned,
)
TOPICS: tuple[str, ...] = tuple(get_topic(cls) for cls in _EVENTS)
# How many notifications one query reads; a refresh reads pages until the head.
_PAGE = 500
# Ended job ids are kept so a worker can tell a held job ended; the oldest go beyond this many.
_ENDED_KEPT = 100_000


@dataclass(frozen=True)
class JobSummary:
    """What a worker needs to pick a job, and a server to expire its lease."""

    job_id: str
    status: str
    pipeline_name: str
    execution_id: str
    stage: str
    action: str
    category: str
    provider: str
    attempt: int = 0
    worker: str | None = None
    nonce: str | None = None
    lease_expires_at: datetime | None = None
    reason: str | None = None

    def lapsed(self, now: datetime) -> bool:
        return (
            self.status == IN_PROGRESS
            and self.lease_expires_at is not None
            and self.lease_expires_at <= now
        )

    def claimable(self, now: datetime) -> bool:
        return self.status == QUEUED or self.lapsed(now)


Accept = Callable[[JobSummary], bool]


class JobBoard:
    """Follows the log from its last position; it remembers nothing about who queued what.

    Any process can build one (a worker, a server, a second server on the same store) and
    they all agree, because each folds the same events in the log's order. Ended jobs are
    dropped from `open`, but their ids are kept in `ended` so a worker can tell that a job it
    holds was abandoned.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.position = 0
        self.open: dict[str, JobSummary] = {}
        self.ended: dict[str, str] = {}  # job id -> its final status
        self.ended_per_pipeline: Counter[str] = Counter()
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Fold the Job events recorded since the last refresh; how many were read."""
        with self._lock:
            read = 0
            while True:
                page = self.app.recorder.select_notifications(
                    start=self.position + 1, limit=_PAGE, topics=TOPICS
                )
                for notification in page:
                    self._fold(self.app.mapper.to_domain_event(notification))
                    self.position = max(self.position, notification.id)
                read += len(page)
                if len(page) < _PAGE:
                    return read

    def claimable(self, now: datetime, accept: Accept | None = None) -> list[JobSummary]:
        """Queued jobs, and jobs whose holder's lease lapsed, oldest first."""
        with self._lock:
            found = [job for job in self.open.values() if job.claimable(now)]
        return [job for job in found if accept is None or accept(job)]

    def lapsed(self, now: datetime) -> list[str]:
        """Jobs held by a worker that stopped renewing its lease."""
        with self._lock:
            return [job.job_id for job in self.open.values() if job.lapsed(now)]

    def abandoned_or_ended(self, job_ids: Iterable[str]) -> set[str]:
        """Which of these jobs no longer run: abandoned, completed or failed."""
        with self._lock:
            return {job_id for job_id in job_ids if job_id in self.ended}

    def summary(self, job_id: str) -> JobSummary | None:
        with self._lock:
            return self.open.get(job_id)

    def _fold(self, event: Any) -> None:
        job_id = str(event.originator_id)
        if isinstance(event, Job.JobQueued):
            self.open[job_id] = JobSummary(
                job_id=job_id,
                status=QUEUED,
                pipeline_name=event.pipeline_name,
                execution_id=event.execution_id,
                stage=event.stage,
                action=event.action,
                category=event.category,
                provider=event.provider,
            )
            return
        current = self.open.get(job_id)
        if current is None:
            return  # ended already, or queued before a log this board never saw
        if isinstance(event, Job.JobClaimed):
            self.open[job_id] = replace(
                current,
                status=IN_PROGRESS,
                attempt=event.attempt,
                worker=event.worker,
                nonce=event.nonce,
                lease_expires_at=event.lease_expires_at,
            )
        elif isinstance(event, Job.JobLeaseRenewed):
            self.open[job_id] = replace(current, lease_expires_at=event.lease_expires_at)
        elif isinstance(event, Job.JobReleased | Job.JobLeaseLapsed) and not (
            isinstance(event, Job.JobLeaseLapsed) and event.final
        ):
            self.open[job_id] = replace(
                current, status=QUEUED, worker=None, nonce=None, lease_expires_at=None
            )
        elif isinstance(event, Job.JobLeaseLapsed | Job.JobCompleted | Job.JobAbandoned):
            status = ABANDONED if isinstance(event, Job.JobAbandoned) else FAILED
            status = getattr(event, "status", status)
            del self.open[job_id]
            self.ended[job_id] = status
            if len(self.ended) > _ENDED_KEPT:
                for old in list(self.ended)[: _ENDED_KEPT // 2]:
                    del self.ended[old]
            self.ended_per_pipeline[current.pipeline_name] += 1
