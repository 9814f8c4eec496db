"""DisableStageTransition, EnableStageTransition."""

from __future__ import annotations

from domain.pipeline import check_transition_reason
from engine.application.base import ConveyorBase


class TransitionCommands(ConveyorBase):
    """Closing and opening a stage's inbound transition."""

    def disable_stage_transition(self, name: str, stage: str, *, reason: str, by: str) -> None:
        # Checked before the pipeline is looked up too: a bad reason is named first.
        check_transition_reason(reason)

        def attempt() -> None:
            now = self.clock.now()
            unit = self._unit(name)
            unit.pipeline.disable_transition(stage, reason=reason, by=by, now=now)
            self._settle_and_save(unit, now)

        self._transact(attempt)

    def enable_stage_transition(self, name: str, stage: str, *, by: str) -> None:
        def attempt() -> None:
            now = self.clock.now()
            unit = self._unit(name)
            pipeline = unit.pipeline
            since = pipeline.disabled_since(stage)
            for execution_id in pipeline.enable_transition(stage, by=by, now=now):
                pipeline.dequeue(stage, execution_id, now)
                unit.execution(execution_id).expire_at_transition(
                    stage, by=by, disabled_since=since, now=now
                )
                pipeline.deactivate(execution_id, now)
            self._settle_and_save(unit, now)

        self._transact(attempt)
