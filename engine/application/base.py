"""What every use case shares: the event store, the clock and ids, lookups and the outbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.errors import (
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import REGISTRY_ID, PipelineRegistry
from domain.starts import check_source_revisions
from engine.application.unit import Unit, transact
from engine.application.work import ActionWork
from engine.clock import Clock, IdFactory, RandomIds, SystemClock
from engine.settings import Settings

T = TypeVar("T")


class ConveyorBase(Application[UUID]):
    """The event-sourced application's plumbing; the use-case mixins build on it."""

    name = "conveyor"
    snapshotting_intervals = {Pipeline: 100, PipelineExecution: 100, PipelineRegistry: 100}
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"}

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ids = ids or RandomIds()
        merged = {**settings.event_store_env(), **(env or {})}
        super().__init__(env=merged)
        self._outbox: list[ActionWork] = []
        self._pipeline_ids: dict[str, UUID] = {}
        self._outbox_lock = threading.Lock()

    # ----- the outbox of started actions ----------------------------------------------------

    def hand_out(self, work: list[ActionWork]) -> None:
        with self._outbox_lock:
            self._outbox.extend(work)

    def take_work(self) -> list[ActionWork]:
        """Actions started by committed commands of this process and not yet handed to a runner."""
        with self._outbox_lock:
            taken, self._outbox = self._outbox, []
        return taken

    # ----- load, command, save ----------------------------------------------------------------
    # The input checks a command method makes first (check_stop_reason, check_retry_mode,
    # check_approval_answer, check_transition_reason) are also called by the use cases before
    # anything is loaded: bad input is refused before "no such pipeline/execution", the order
    # the CLI's messages and exit codes have always had. The aggregates keep their own call.

    def _transact(self, attempt: Callable[[], T]) -> T:
        return transact(attempt)

    def _unit(self, name: str) -> Unit:
        return Unit(self, self.pipeline(name))

    def _settle(self, unit: Unit, now: datetime) -> None:
        # The planner (and the definition models it needs) loads with the first command that
        # decides something; queries such as `pipeline list` never load it.
        from engine.application import decisions

        decisions.settle(unit, self.ids, now)

    def _settle_and_save(self, unit: Unit, now: datetime) -> None:
        self._settle(unit, now)
        unit.save()

    def _start(
        self,
        unit: Unit,
        trigger_type: str,
        trigger_detail: str,
        overrides: dict[str, str],
        by: str,
        now: datetime,
        *,
        client_request_token: str | None = None,
        source_revisions: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """A new execution of the unit's pipeline (CreatePipeline and StartPipelineExecution)."""
        pipeline = unit.pipeline
        declaration = pipeline.declaration()
        variables = pipeline.execution_variables(overrides)
        revision_overrides = check_source_revisions(source_revisions, declaration)
        execution_id = pipeline.admit(
            self.ids.new,
            mode=declaration.execution_mode,
            cap=self.settings.max_concurrent_executions,
            now=now,
        )
        execution = PipelineExecution.start(
            execution_id=execution_id,
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            pipeline_version=pipeline.pipeline_version,
            execution_mode=declaration.execution_mode,
            pipeline_type=declaration.pipeline_type,
            trigger_type=trigger_type,
            trigger_detail=trigger_detail,
            variables=variables,
            by=by,
            now=now,
            client_request_token=client_request_token,
            revision_overrides=revision_overrides,
        )
        if client_request_token is not None:
            pipeline.record_request_token(client_request_token, execution.execution_id, now)
        unit.executions[execution.execution_id] = execution
        return execution.execution_id

    # ----- lookups ----------------------------------------------------------------------------

    def _registry(self) -> PipelineRegistry | None:
        try:
            registry: PipelineRegistry = self.repository.get(REGISTRY_ID)
        except AggregateNotFoundError:
            return None
        return registry

    def pipeline(self, name: str) -> Pipeline:
        pipeline: Pipeline
        known = self._pipeline_ids.get(name)
        if known is not None:
            # A deleted pipeline may have been re-created under its name by another process:
            # only a live pipeline confirms the remembered id.
            pipeline = self.repository.get(known)
            if not pipeline.deleted:
                return pipeline
            self._pipeline_ids.pop(name, None)
        registry = self._registry()
        pipeline_id = registry.pipeline_id(name) if registry else None
        if pipeline_id is None:
            raise PipelineNotFoundException(f"no pipeline named '{name}'")
        pipeline = self.repository.get(pipeline_id)
        self._pipeline_ids[name] = pipeline_id
        return pipeline

    def pipeline_of(self, execution: PipelineExecution) -> Pipeline:
        """The pipeline an execution belongs to, even if it has been deleted since."""
        pipeline: Pipeline = self.repository.get(UUID(execution.pipeline_id))
        return pipeline

    def pipeline_names(self) -> list[str]:
        registry = self._registry()
        return sorted(registry.names) if registry else []

    def execution(self, execution_id: str, pipeline_name: str | None = None) -> PipelineExecution:
        try:
            execution: PipelineExecution = self.repository.get(UUID(str(execution_id)))
        except (AggregateNotFoundError, ValueError):
            raise PipelineExecutionNotFoundException(
                f"no pipeline execution with id '{execution_id}'"
            ) from None
        if not isinstance(execution, PipelineExecution) or (
            pipeline_name is not None and execution.pipeline_name != pipeline_name
        ):
            raise PipelineExecutionNotFoundException(
                f"no execution '{execution_id}' in pipeline '{pipeline_name}'"
            )
        return execution
