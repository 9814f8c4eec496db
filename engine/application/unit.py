"""The unit of work: the aggregates one command touches, saved together, retried on conflict."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.errors import ConflictException
from domain.execution import PipelineExecution
from domain.job import Job
from domain.pipeline import Pipeline
from domain.vocabulary import ExecutionMode

if TYPE_CHECKING:
    from engine.application.base import ConveyorBase
    from engine.application.work import ActionWork

T = TypeVar("T")


class Unit:
    """The aggregates one command touches, saved together in one transaction."""

    def __init__(
        self, app: ConveyorBase, pipeline: Pipeline, *, about: PipelineExecution | None = None
    ) -> None:
        """Load the pipeline's active executions: every one, or only `about` in PARALLEL mode.

        Executions of a PARALLEL pipeline never wait on each other (no stage locks, no
        superseding), so a command about one of them (a worker's claim or result) need not
        load the other 49; the planner then decides for the loaded ones only, and the others'
        deadlines are struck by the clock (`tick`, the server), which loads them all.
        """
        self.app = app
        self.pipeline = pipeline
        self.executions: dict[str, PipelineExecution] = {}
        self.extra: list[Aggregate] = []
        self.jobs: dict[str, Job] = {}
        self.work: list[ActionWork] = []
        if about is not None:
            self.executions[about.execution_id] = about
            if pipeline.execution_mode == ExecutionMode.PARALLEL:
                return
        for execution_id in pipeline.active:
            self.execution(execution_id)

    def execution(self, execution_id: str) -> PipelineExecution:
        found = self.executions.get(execution_id)
        if found is None:
            found = self.app.repository.get(UUID(execution_id))
            self.executions[execution_id] = found
        return found

    def job(self, job_id: str) -> Job | None:
        """The job of an action attempt, if it has one (approvals and failed starts have none)."""
        found = self.jobs.get(job_id)
        if found is None:
            try:
                found = self.app.repository.get(UUID(job_id))
            except (AggregateNotFoundError, ValueError):
                return None
            if not isinstance(found, Job):
                return None
            self.jobs[job_id] = found
        return found

    def queue(self, work: ActionWork, deadline: datetime, now: datetime) -> None:
        """Record the work order of an action that has just started, as a job to claim."""
        settings = self.app.settings
        job = Job.queue(
            job_id=UUID(work.action_execution_id),
            pipeline_name=work.pipeline_name,
            execution_id=work.execution_id,
            stage=work.stage,
            action=work.action,
            category=work.action_type["category"],
            provider=work.action_type["provider"],
            work=work.order(),
            deadline=deadline,
            max_losses=settings.max_worker_losses,
            now=now,
        )
        self.jobs[job.job_id] = job
        self.work.append(work)

    def save(self) -> None:
        self._abandon_orphaned_jobs()
        self.app.save(*self.extra, *self.jobs.values(), self.pipeline, *self.executions.values())
        # Only work from a committed decision may run; a retried attempt's work is dropped.
        self.app.hand_out(self.work)

    def _abandon_orphaned_jobs(self) -> None:
        """An action that ended without its job's result (stopped, timed out, cancelled, a
        lost worker) abandons the job, so its holder stops and nobody claims it again."""
        for execution in self.executions.values():
            for event in execution.pending_events:
                if not isinstance(event, _ACTION_ENDINGS):
                    continue
                job = self.job(event.action_execution_id)
                if job is not None and job.is_open:
                    job.abandon(reason=_ending(event), now=event.timestamp)


_ACTION_ENDINGS = (
    PipelineExecution.ActionSucceeded,
    PipelineExecution.ActionFailed,
    PipelineExecution.ActionAbandoned,
)


def _ending(event: Aggregate.Event) -> str:
    if isinstance(event, PipelineExecution.ActionFailed):
        return f"the action failed: {event.error_message}"
    if isinstance(event, PipelineExecution.ActionAbandoned):
        return f"the action was abandoned: {event.reason}"
    return "the action succeeded without this job's result"


def transact(attempt: Callable[[], T]) -> T:
    """Run load → decide → save; a concurrent writer's win means reload and decide again."""
    delay = 0.005
    for _ in range(60):
        try:
            return attempt()
        except IntegrityError:
            time.sleep(delay)
        except OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise ConflictException("the pipeline is busy with concurrent changes; try again")
