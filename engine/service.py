"""What every adapter calls: run one of CodePipeline's commands, and drive what it moved if asked.

A command records its decision and returns: the actions it started wait as jobs for a worker.
Callers that run actions themselves (the simulator, tests, an in-process driver) pass
`drive=True`, so "after a command, run the actions it started" is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from domain.pipeline import Pipeline
from engine.app import Conveyor

if TYPE_CHECKING:  # the runner (providers, YAML) loads only when a command drives actions
    from engine.runner import Listener, Runner

T = TypeVar("T")


class Command(Generic[T]):
    """One request to the application; says which pipeline to drive once it is recorded."""

    # A refused answer to an approval may follow a committed move of the clock (an expired
    # approval unlocking its stage): what that started must still run, not be left waiting.
    drives_when_refused = False

    def run(self, app: Conveyor) -> T:
        raise NotImplementedError

    def pipeline_to_drive(self, result: T) -> str | None:
        return None

    def refused_pipeline(self) -> str | None:
        return None


@dataclass(frozen=True)
class CreatePipeline(Command[tuple[Pipeline, str | None]]):
    source: Any
    by: str
    start: bool = True
    tags: Sequence[Mapping[str, Any]] = ()

    def run(self, app: Conveyor) -> tuple[Pipeline, str | None]:
        return app.create_pipeline(self.source, by=self.by, start=self.start, tags=self.tags)

    def pipeline_to_drive(self, result: tuple[Pipeline, str | None]) -> str | None:
        pipeline, execution_id = result
        return pipeline.name if execution_id is not None else None


@dataclass(frozen=True)
class UpdatePipeline(Command[Pipeline]):
    source: Any
    by: str

    def run(self, app: Conveyor) -> Pipeline:
        return app.update_pipeline(self.source, by=self.by)


@dataclass(frozen=True)
class DeletePipeline(Command[bool]):
    name: str
    by: str

    def run(self, app: Conveyor) -> bool:
        return app.delete_pipeline(self.name, by=self.by)


@dataclass(frozen=True)
class _OnePipeline(Command[T]):
    """A command about one named pipeline, which is driven once the command is recorded."""

    name: str

    def pipeline_to_drive(self, result: T) -> str | None:
        return self.name

    def refused_pipeline(self) -> str | None:
        return self.name


@dataclass(frozen=True)
class StartPipelineExecution(_OnePipeline[str]):
    by: str
    variables: Mapping[str, str] = field(default_factory=dict)
    # Idempotency: a repeat on the same pipeline returns the first start's id, starting nothing.
    client_request_token: str | None = None
    # [{actionName, revisionType, revisionValue}]: what each named source action runs.
    source_revisions: Sequence[Mapping[str, Any]] = ()

    def run(self, app: Conveyor) -> str:
        return app.start_pipeline_execution(
            self.name,
            by=self.by,
            variables=self.variables,
            client_request_token=self.client_request_token,
            source_revisions=self.source_revisions,
        )


@dataclass(frozen=True)
class StopPipelineExecution(_OnePipeline[None]):
    execution_id: str
    abandon: bool
    reason: str
    by: str

    def run(self, app: Conveyor) -> None:
        app.stop_pipeline_execution(
            self.name, self.execution_id, abandon=self.abandon, reason=self.reason, by=self.by
        )


@dataclass(frozen=True)
class RetryStageExecution(_OnePipeline[None]):
    stage: str
    execution_id: str
    retry_mode: str
    by: str

    def run(self, app: Conveyor) -> None:
        app.retry_stage_execution(
            self.name, self.stage, self.execution_id, retry_mode=self.retry_mode, by=self.by
        )


@dataclass(frozen=True)
class PutApprovalResult(_OnePipeline[datetime]):
    stage: str
    action: str
    status: str
    summary: str
    by: str
    token: str | None = None

    drives_when_refused = True

    def run(self, app: Conveyor) -> datetime:
        return app.put_approval_result(
            self.name,
            self.stage,
            self.action,
            status=self.status,
            summary=self.summary,
            by=self.by,
            token=self.token,
        )


@dataclass(frozen=True)
class DisableStageTransition(_OnePipeline[None]):
    stage: str
    reason: str
    by: str

    def run(self, app: Conveyor) -> None:
        app.disable_stage_transition(self.name, self.stage, reason=self.reason, by=self.by)


@dataclass(frozen=True)
class EnableStageTransition(_OnePipeline[None]):
    stage: str
    by: str

    def run(self, app: Conveyor) -> None:
        app.enable_stage_transition(self.name, self.stage, by=self.by)


@dataclass(frozen=True)
class TagResource(Command[bool]):
    """Tag a pipeline (by name; the API resolves the ARN first); True if anything changed."""

    name: str
    tags: Sequence[Mapping[str, Any]]
    by: str

    def run(self, app: Conveyor) -> bool:
        return app.tag_resource(self.name, self.tags, by=self.by)


@dataclass(frozen=True)
class UntagResource(Command[bool]):
    """Remove a pipeline's tags by key; True if any was there."""

    name: str
    keys: Sequence[str]
    by: str

    def run(self, app: Conveyor) -> bool:
        return app.untag_resource(self.name, self.keys, by=self.by)


@dataclass(frozen=True)
class Tick(_OnePipeline[None]):
    """Let the clock act on one pipeline: time out what is overdue, run what that unlocks."""

    def run(self, app: Conveyor) -> None:
        return None


class Service:
    """The application as adapters see it: a command in, the pipeline driven, a result out."""

    def __init__(self, app: Conveyor, runner: Callable[[Listener | None], Runner]) -> None:
        self.app = app
        self._runner = runner

    def execute(
        self,
        command: Command[T],
        *,
        listener: Listener | None = None,
        announce: Callable[[T], None] | None = None,
        drive: bool = False,
    ) -> T:
        """Run the command, tell the caller (`announce`); with `drive`, run what it started."""
        try:
            result = command.run(self.app)
            if announce is not None:
                announce(result)
        except BaseException:
            refused = command.refused_pipeline()
            if drive and command.drives_when_refused and refused is not None:
                self.drive(refused, listener)
            raise
        name = command.pipeline_to_drive(result)
        if drive and name is not None:
            self.drive(name, listener)
        return result

    def drive(self, pipeline_name: str, listener: Listener | None = None) -> None:
        """Run the pipeline's actions, and those they unlock, until only people or time can act."""
        self._runner(listener).drive(pipeline_name)
