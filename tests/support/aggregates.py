"""Aggregates built by hand, without the application: a pipeline and its executions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from domain import planner
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.validation import parse_definition
from tests.harness import definition, shell_action, source_action

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PIPELINE_ID = UUID("00000000-0000-4000-8000-000000000001")


def eid(n: int) -> str:
    return str(uuid5(PIPELINE_ID, f"execution-{n}"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class World:
    """One pipeline and its executions, moved by hand into the situation under test."""

    def __init__(self, document: dict[str, Any]) -> None:
        declaration = parse_definition(document)
        self.pipeline = Pipeline.create(
            pipeline_id=PIPELINE_ID, declaration=declaration, by="tester", now=T0
        )
        self.executions: dict[str, PipelineExecution] = {}

    def start(self, n: int) -> PipelineExecution:
        execution = PipelineExecution.start(
            execution_id=UUID(eid(n)),
            pipeline_id=self.pipeline.id,
            pipeline_name=self.pipeline.name,
            pipeline_version=self.pipeline.pipeline_version,
            execution_mode=self.pipeline.execution_mode,
            pipeline_type=self.pipeline.pipeline_type,
            trigger_type="StartPipelineExecution",
            trigger_detail="tester",
            variables={},
            by="tester",
            now=at(n),
        )
        self.executions[execution.execution_id] = execution
        self.pipeline.activate(execution.execution_id, at(n))
        return execution

    def enter(self, execution: PipelineExecution, stage: str) -> None:
        if execution.execution_mode != "PARALLEL":
            self.pipeline.lock(stage, execution.execution_id, T0)
        execution.enter_stage(stage, T0)

    def run(
        self,
        execution: PipelineExecution,
        stage: str,
        action: str,
        *,
        deadline: datetime = at(60),
        result: str | None = None,
    ) -> str:
        aeid = f"{execution.execution_id[:8]}-{stage}-{action}-{len(execution.actions)}"
        execution.start_action(
            action_execution_id=aeid,
            stage=stage,
            action=action,
            action_type={},
            configuration={},
            resolved_configuration={},
            input_artifacts={},
            namespace=None,
            deadline=deadline,
            now=T0,
        )
        if result == "Succeeded":
            execution.succeed_action(
                aeid,
                summary=None,
                output_artifacts={},
                output_variables={},
                revision=None,
                external_execution_id=None,
                external_execution_url=None,
                now=T0,
            )
        elif result == "Failed":
            execution.fail_action(aeid, code="JobFailed", message="boom", now=T0)
        return aeid

    def passed(self, execution: PipelineExecution, stage: str, *actions: str) -> None:
        """The execution entered STAGE, its actions succeeded and it left the stage."""
        self.enter(execution, stage)
        for action in actions:
            self.run(execution, stage, action, result="Succeeded")
        execution.succeed_stage(stage, T0)
        self.pipeline.unlock(stage, execution.execution_id, T0)

    def wait(
        self, execution: PipelineExecution, stage: str, reason: str, holder: str | None
    ) -> None:
        self.pipeline.enqueue(stage, execution.execution_id, T0)
        execution.wait_at(stage, reason=reason, holder=holder, now=T0)

    def plan(self, now: datetime = at(30)) -> planner.Decision | None:
        return planner.plan(self.pipeline, self.executions, now)


def three_stages(mode: str = "SUPERSEDED", **extra: Any) -> dict[str, Any]:
    return definition(
        [
            ("Source", [source_action()]),
            ("Build", [shell_action("Compile"), shell_action("Lint")]),
            ("Deploy", [shell_action("Ship")]),
        ],
        mode=mode,
        **extra,
    )
