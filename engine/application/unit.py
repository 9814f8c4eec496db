"""The unit of work: the aggregates one command touches, saved together, retried on conflict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.errors import ConflictException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline

if TYPE_CHECKING:
    from engine.application.base import ConveyorBase
    from engine.application.work import ActionWork

T = TypeVar("T")


class Unit:
    """The aggregates one command touches, saved together in one transaction."""

    def __init__(self, app: ConveyorBase, pipeline: Pipeline) -> None:
        self.app = app
        self.pipeline = pipeline
        self.executions: dict[str, PipelineExecution] = {}
        self.extra: list[Aggregate] = []
        self.work: list[ActionWork] = []
        for execution_id in pipeline.active:
            self.execution(execution_id)

    def execution(self, execution_id: str) -> PipelineExecution:
        found = self.executions.get(execution_id)
        if found is None:
            found = self.app.repository.get(UUID(execution_id))
            self.executions[execution_id] = found
        return found

    def save(self) -> None:
        self.app.save(*self.extra, self.pipeline, *self.executions.values())
        # Only work from a committed decision may run; a retried attempt's work is dropped.
        self.app.hand_out(self.work)


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
