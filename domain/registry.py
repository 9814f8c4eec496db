"""The registry of live pipeline names: one aggregate, so names stay unique and quotas hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import LimitExceededException, PipelineNameInUseException
from domain.state import CopyOnWrite

REGISTRY_ID = uuid5(NAMESPACE_URL, "conveyor:pipeline-registry")


class PipelineRegistry(CopyOnWrite, Aggregate):
    """Maps each live pipeline name to its aggregate id; creating and deleting go through it."""

    class Created(Aggregate.Created):
        pass

    def __init__(self, **_: Any) -> None:
        self.names: dict[str, str] = {}

    @classmethod
    def open(cls, now: datetime) -> PipelineRegistry:
        return cls._create(cls.Created, id=REGISTRY_ID, timestamp=now)

    def pipeline_id(self, name: str) -> UUID | None:
        found = self.names.get(name)
        return UUID(found) if found else None

    def register(self, name: str, pipeline_id: UUID, *, limit: int, now: datetime) -> None:
        if name in self.names:
            raise PipelineNameInUseException(f"a pipeline named '{name}' already exists")
        if len(self.names) >= limit:
            raise LimitExceededException(
                f"this store holds {len(self.names)} pipelines, the limit is {limit}"
                " (setting max_pipelines / CONVEYOR_MAX_PIPELINES)"
            )
        self.trigger_event(
            self.PipelineRegistered, name=name, pipeline_id=str(pipeline_id), timestamp=now
        )

    def unregister(self, name: str, now: datetime) -> None:
        self.trigger_event(self.PipelineUnregistered, name=name, timestamp=now)

    class PipelineRegistered(Aggregate.Event):
        name: str
        pipeline_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.names = {**aggregate.names, self.name: self.pipeline_id}

    class PipelineUnregistered(Aggregate.Event):
        name: str

        def apply(self, aggregate: Any) -> None:
            aggregate.names = {k: v for k, v in aggregate.names.items() if k != self.name}
