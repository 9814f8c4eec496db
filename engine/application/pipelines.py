"""CreatePipeline, UpdatePipeline, DeletePipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from domain import validation  # its parser (pydantic) loads on the first parse, not here
from domain.errors import PipelineNotFoundException
from domain.execution import cause
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry
from domain.tags import check_tags, merged_tags
from domain.vocabulary import Cause, TriggerType
from engine.application.base import ConveyorBase
from engine.application.unit import Unit


class PipelineCommands(ConveyorBase):
    """The pipeline API: a definition's versions, and what changing them does to executions."""

    def create_pipeline(
        self,
        source: Any,
        *,
        by: str,
        start: bool = True,
        tags: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[Pipeline, str | None]:
        declaration = validation.parse_definition(source, self.settings.limits)
        merged_tags({}, check_tags(tags))  # CreatePipeline's `tags`, refused before anything
        if start:
            from engine.secrets import SecretStore, require_secrets

            # The first execution starts with the create: a missing secret refuses both, as
            # it refuses StartPipelineExecution, rather than failing the build later.
            require_secrets(declaration, SecretStore(self.settings.home))

        def attempt() -> tuple[Pipeline, str | None]:
            now = self.clock.now()
            registry = self._registry() or PipelineRegistry.open(now)
            pipeline_id = self.ids.new()
            registry.register(
                declaration.name, pipeline_id, limit=self.settings.max_pipelines, now=now
            )
            pipeline = Pipeline.create(
                pipeline_id=pipeline_id, declaration=declaration, by=by, now=now
            )
            pipeline.tag(tags, by=by, now=now)
            unit = Unit(self, pipeline)
            unit.extra.append(registry)
            execution_id = None
            if start:
                execution_id = self._start(unit, TriggerType.CREATE_PIPELINE, by, {}, by, now)
            unit.save()
            return pipeline, execution_id

        return self._transact(attempt)

    def update_pipeline(self, source: Any, *, by: str) -> Pipeline:
        declaration = validation.parse_definition(source, self.settings.limits)

        def attempt() -> Pipeline:
            now = self.clock.now()
            unit = self._unit(declaration.name)
            version = unit.pipeline.pipeline_version + 1
            why = cause(Cause.PIPELINE_UPDATED, version=version, by=by)
            cancelled = self._cancel_all(unit, why, by, now)
            unit.pipeline.update(declaration, by=by, cancelled=cancelled, now=now)
            unit.save()
            return unit.pipeline

        return self._transact(attempt)

    def delete_pipeline(self, name: str, *, by: str) -> bool:
        """Delete; like CodePipeline, deleting a missing pipeline succeeds (returns False)."""

        def attempt() -> bool:
            now = self.clock.now()
            try:
                unit = self._unit(name)
            except PipelineNotFoundException:
                return False
            registry = self._registry()
            assert registry is not None
            cancelled = self._cancel_all(unit, cause(Cause.PIPELINE_DELETED, by=by), by, now)
            unit.pipeline.delete(by=by, cancelled=cancelled, now=now)
            registry.unregister(name, now)
            unit.extra.append(registry)
            unit.save()
            return True

        return self._transact(attempt)

    def _cancel_all(self, unit: Unit, why: dict[str, Any], by: str, now: datetime) -> list[str]:
        cancelled = list(unit.pipeline.active)
        abandon = self.settings.cancelled_actions == "abandon"
        for execution_id in cancelled:
            unit.execution(execution_id).cancel(why=why, by=by, abandon_actions=abandon, now=now)
        return cancelled
