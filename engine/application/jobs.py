"""What workers call: claim a job, keep its lease, hand it back, report its result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.errors import InvalidJobStateException, JobNotFoundException
from domain.execution import IN_PROGRESS, PipelineExecution
from domain.job import Job
from engine.application.actions import record_result
from engine.application.base import ConveyorBase
from engine.application.unit import Unit
from engine.application.work import ActionResult, ActionWork


@dataclass(frozen=True)
class Claimed:
    """A won claim: the work to run, and the nonce every later call about it must carry."""

    job_id: str
    nonce: str
    attempt: int
    worker: str
    lease_expires_at: datetime
    work: ActionWork


class JobCommands(ConveyorBase):
    """Claims and leases; a result counts only from the worker that holds the current claim."""

    def job(self, job_id: str) -> Job:
        try:
            found: object = self.repository.get(UUID(str(job_id)))
        except (AggregateNotFoundError, ValueError):
            raise JobNotFoundException(f"no job with id '{job_id}'") from None
        if not isinstance(found, Job):
            raise JobNotFoundException(f"no job with id '{job_id}'")
        return found

    def jobs_of(self, execution: PipelineExecution) -> dict[str, Job]:
        """The jobs of an execution's action attempts, by action execution id."""
        found: dict[str, Job] = {}
        for aeid in execution.actions:
            try:
                job = self.job(aeid)
            except JobNotFoundException:
                continue
            found[aeid] = job
        return found

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    def claim_job(self, job_id: str, worker: str) -> Claimed | None:
        """Take the job for `worker`; None when it is not claimable (or another worker won).

        A lapsed claim is first recorded as a lost worker, in the same transaction.
        """

        def attempt() -> Claimed | None:
            now = self.clock.now()
            job = self.job(job_id)
            if not job.claimable(now):
                return None
            if job.status != "Queued":
                unit = self._unit_of(job)
                self._lose(unit, job, now)
                if job.status != "Queued":
                    self._settle_and_save(unit, now)
                    return None
                claim = job.claim_for(worker, nonce=str(self.ids.new()), lease=self.lease, now=now)
                self._settle_and_save(unit, now)
            else:
                claim = job.claim_for(worker, nonce=str(self.ids.new()), lease=self.lease, now=now)
                self.save(job)
            return Claimed(
                job_id=job.job_id,
                nonce=claim["nonce"],
                attempt=claim["attempt"],
                worker=worker,
                lease_expires_at=claim["lease_expires_at"],
                work=ActionWork.from_order(job.work),
            )

        try:
            return self._transact(attempt)
        except InvalidJobStateException:
            return None

    def renew_lease(self, job_id: str, nonce: str) -> datetime:
        """Extend the holder's lease; refused (InvalidNonce) once the claim is lost or ended."""

        def attempt() -> datetime:
            now = self.clock.now()
            job = self.job(job_id)
            job.renew(nonce, lease=self.lease, now=now)
            self.save(job)
            assert job.claim is not None
            return job.claim["lease_expires_at"]

        return self._transact(attempt)

    def release_job(self, job_id: str, nonce: str, reason: str) -> None:
        """The holder hands the job back unfinished; the next claim is a new attempt."""

        def attempt() -> None:
            job = self.job(job_id)
            job.release(nonce, reason=reason, now=self.clock.now())
            self.save(job)

        self._transact(attempt)

    def report_job(self, job_id: str, nonce: str, result: ActionResult) -> bool:
        """Record the holder's result and move the pipeline on; False if it was refused."""

        def attempt() -> bool:
            now = self.clock.now()
            job = self.job(job_id)
            unit = self._unit_of(job)
            unit.jobs[job.job_id] = job
            # Deadlines first: a result arriving after its action timed out is refused.
            self._settle(unit, now)
            execution = unit.execution(job.execution_id)
            run = execution.actions[job.job_id]
            if run["status"] != IN_PROGRESS:
                job.refuse(nonce, reason=f"the action is already {run['status']}", now=now)
                accepted = False
            else:
                accepted = job.complete(nonce, succeeded=result.succeeded, now=now)
            if accepted:
                record_result(unit, execution, job.job_id, job.action, result, now)
            self._settle_and_save(unit, now)
            return accepted

        return self._transact(attempt)

    def expire_leases(self, job_ids: list[str]) -> int:
        """Record every lapsed claim among `job_ids` as a lost worker; how many were lost."""
        lost = 0
        for job_id in job_ids:

            def attempt(job_id: str = job_id) -> int:
                now = self.clock.now()
                job = self.job(job_id)
                if not (job.status == "InProgress" and job.lapsed(now)):
                    return 0
                unit = self._unit_of(job)
                losses = job.losses
                self._lose(unit, job, now)
                self._settle_and_save(unit, now)
                # Not a loss when the action's own deadline had passed (the job was abandoned).
                return job.losses - losses

            lost += self._transact(attempt)
        return lost

    def _unit_of(self, job: Job) -> Unit:
        # By the execution, not the name: the pipeline may have been deleted meanwhile.
        execution = self.execution(job.execution_id)
        unit = Unit(self, self.pipeline_of(execution), about=execution)
        unit.jobs[job.job_id] = job
        return unit

    def _lose(self, unit: Unit, job: Job, now: datetime) -> None:
        """The holder's lease lapsed; one loss too many fails the action ("worker lost").

        Deadlines first: an action whose own deadline passed too has timed out, and saving
        the unit abandons its job; the lapsed lease is then no lost worker to record.
        """
        self._settle(unit, now)
        execution = unit.execution(job.execution_id)
        if execution.actions[job.job_id]["status"] != IN_PROGRESS:
            return
        if job.lose(now):
            execution.lose_worker(job.job_id, attempts=job.losses, now=now)
