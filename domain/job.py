"""The Job aggregate: one action attempt's work order, and which worker may run it (its claim)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import InvalidJobStateException, InvalidNonceException
from domain.state import CopyOnWrite
from domain.vocabulary import OPEN_JOB_STATUSES, JobStatus

QUEUED = JobStatus.QUEUED.value
IN_PROGRESS = JobStatus.IN_PROGRESS.value
SUCCEEDED = JobStatus.SUCCEEDED.value
FAILED = JobStatus.FAILED.value
ABANDONED = JobStatus.ABANDONED.value


class Claim(TypedDict):
    """Who holds the job: one worker, for one attempt, until its lease lapses."""

    attempt: int
    worker: str
    nonce: str
    claimed_at: datetime
    lease_expires_at: datetime


class Attempt(TypedDict):
    """One claim as it ended: how the attempt went, for `executions show` and `logs`."""

    attempt: int
    worker: str
    claimed_at: datetime
    ended_at: datetime | None
    outcome: str  # "running", "released", "worker lost", "succeeded", "failed", "abandoned"


class Job(CopyOnWrite, Aggregate):
    """An action attempt a worker must run, with the complete order it needs to run it.

    Its id is the action execution's id. Claims are events on this small aggregate, so when
    two workers race for it the event store's unique version lets exactly one of them win.
    A result is accepted only with the current claim's nonce; any other is refused, recorded.
    """

    class Event(Aggregate.Event):
        pass

    class JobQueued(Aggregate.Created):
        pipeline_name: str
        execution_id: str
        stage: str
        action: str
        category: str
        provider: str
        work: dict[str, Any]
        deadline: datetime
        max_losses: int

    def __init__(
        self,
        pipeline_name: str,
        execution_id: str,
        stage: str,
        action: str,
        category: str,
        provider: str,
        work: dict[str, Any],
        deadline: datetime,
        max_losses: int,
        **_: Any,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.execution_id = execution_id
        self.stage = stage
        self.action = action
        self.category = category
        self.provider = provider
        self.work = dict(work)
        self.deadline = deadline
        self.max_losses = max_losses
        self.status: str = QUEUED
        self.claim: Claim | None = None
        self.attempts: list[Attempt] = []
        self.losses = 0
        self.refused = 0

    @classmethod
    def queue(
        cls,
        *,
        job_id: UUID,
        pipeline_name: str,
        execution_id: str,
        stage: str,
        action: str,
        category: str,
        provider: str,
        work: Mapping[str, Any],
        deadline: datetime,
        max_losses: int,
        now: datetime,
    ) -> Job:
        """Record the work order of an action attempt that has just started."""
        return cls._create(
            cls.JobQueued,
            id=job_id,
            pipeline_name=pipeline_name,
            execution_id=execution_id,
            stage=stage,
            action=action,
            category=category,
            provider=provider,
            work=dict(work),
            deadline=deadline,
            max_losses=max_losses,
            timestamp=now,
        )

    # ----- reading -------------------------------------------------------------------------

    @property
    def job_id(self) -> str:
        return str(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_JOB_STATUSES

    @property
    def attempt(self) -> int:
        """The number of the current (or last) claim; 0 before the first."""
        return len(self.attempts)

    def lapsed(self, now: datetime) -> bool:
        """The holder stopped renewing its lease: the worker is presumed lost."""
        return self.claim is not None and self.claim["lease_expires_at"] <= now

    def claimable(self, now: datetime) -> bool:
        return self.status == QUEUED or (self.status == IN_PROGRESS and self.lapsed(now))

    def holds(self, nonce: str) -> bool:
        return (
            self.status == IN_PROGRESS and self.claim is not None and self.claim["nonce"] == nonce
        )

    # ----- commands --------------------------------------------------------------------------

    def claim_for(self, worker: str, *, nonce: str, lease: timedelta, now: datetime) -> Claim:
        """A worker takes the job; a lapsed claim must be recorded as lost first (`lose`)."""
        if self.status != QUEUED:
            raise InvalidJobStateException(
                f"job {self.job_id} is {self.status}; only a queued job can be claimed"
            )
        self.trigger_event(
            self.JobClaimed,
            attempt=self.attempt + 1,
            worker=worker,
            nonce=nonce,
            lease_expires_at=now + lease,
            timestamp=now,
        )
        assert self.claim is not None
        return self.claim

    def renew(self, nonce: str, *, lease: timedelta, now: datetime) -> None:
        """The holder is alive and still running the job: its lease is extended."""
        self._check_holder(nonce)
        if self.lapsed(now):
            raise InvalidNonceException(
                f"the lease of job {self.job_id} lapsed before it was renewed; the claim is lost"
            )
        self.trigger_event(
            self.JobLeaseRenewed, nonce=nonce, lease_expires_at=now + lease, timestamp=now
        )

    def release(self, nonce: str, *, reason: str, now: datetime) -> None:
        """The holder hands the job back unfinished (it is shutting down); it is queued again."""
        self._check_holder(nonce)
        self.trigger_event(self.JobReleased, nonce=nonce, reason=reason, timestamp=now)

    def lose(self, now: datetime) -> bool:
        """The holder's lease lapsed: record the lost worker; True if that was one loss too many."""
        if not (self.status == IN_PROGRESS and self.lapsed(now)):
            raise InvalidJobStateException(f"job {self.job_id} has no lapsed claim")
        assert self.claim is not None
        final = self.losses + 1 >= self.max_losses
        self.trigger_event(
            self.JobLeaseLapsed,
            nonce=self.claim["nonce"],
            worker=self.claim["worker"],
            final=final,
            timestamp=now,
        )
        return final

    def complete(self, nonce: str, *, succeeded: bool, now: datetime) -> bool:
        """The holder reports its result: accepted (True) only from the current claim.

        Any other report (a late one from a lost worker, a duplicate) is refused and the
        refusal recorded, so the audit shows who reported what and why it was ignored.
        """
        if not self.holds(nonce):
            self.refuse(nonce, reason=self._why_not_holder(nonce), now=now)
            return False
        self.trigger_event(
            self.JobCompleted,
            nonce=nonce,
            status=SUCCEEDED if succeeded else FAILED,
            timestamp=now,
        )
        return True

    def refuse(self, nonce: str, *, reason: str, now: datetime) -> None:
        """A report that cannot count (the action already ended): recorded, then ignored."""
        self.trigger_event(self.JobResultRefused, nonce=nonce, reason=reason, timestamp=now)

    def abandon(self, *, reason: str, now: datetime) -> None:
        """The action ended without this job (stopped, timed out, cancelled, worker lost)."""
        if self.is_open:
            self.trigger_event(self.JobAbandoned, reason=reason, timestamp=now)

    def _check_holder(self, nonce: str) -> None:
        if not self.holds(nonce):
            raise InvalidNonceException(self._why_not_holder(nonce))

    def _why_not_holder(self, nonce: str) -> str:
        if self.status != IN_PROGRESS:
            return f"job {self.job_id} is {self.status}"
        return f"nonce {nonce} is not the current claim of job {self.job_id}"

    def _end_attempt(self, outcome: str, at: datetime) -> None:
        if self.attempts and self.attempts[-1]["ended_at"] is None:
            last: Attempt = {**self.attempts[-1], "ended_at": at, "outcome": outcome}
            self.attempts = [*self.attempts[:-1], last]
        self.claim = None

    # ----- events --------------------------------------------------------------------------

    class JobClaimed(Event):
        attempt: int
        worker: str
        nonce: str
        lease_expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.status = IN_PROGRESS
            aggregate.claim = {
                "attempt": self.attempt,
                "worker": self.worker,
                "nonce": self.nonce,
                "claimed_at": self.timestamp,
                "lease_expires_at": self.lease_expires_at,
            }
            attempt: Attempt = {
                "attempt": self.attempt,
                "worker": self.worker,
                "claimed_at": self.timestamp,
                "ended_at": None,
                "outcome": "running",
            }
            aggregate.attempts = [*aggregate.attempts, attempt]

    class JobLeaseRenewed(Event):
        nonce: str
        lease_expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.claim = {**aggregate.claim, "lease_expires_at": self.lease_expires_at}

    class JobReleased(Event):
        nonce: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end_attempt("released", self.timestamp)
            aggregate.status = QUEUED

    class JobLeaseLapsed(Event):
        nonce: str
        worker: str
        final: bool

        def apply(self, aggregate: Any) -> None:
            aggregate._end_attempt("worker lost", self.timestamp)
            aggregate.losses += 1
            aggregate.status = FAILED if self.final else QUEUED

    class JobCompleted(Event):
        nonce: str
        status: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end_attempt(self.status.lower(), self.timestamp)
            aggregate.status = self.status

    class JobResultRefused(Event):
        nonce: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.refused += 1

    class JobAbandoned(Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end_attempt("abandoned", self.timestamp)
            aggregate.status = ABANDONED
