"""The work an action hands to whoever runs it, and what comes back; building it at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.catalogue import lookup
from domain.execution import PipelineExecution
from domain.variables import UnresolvedVariable, resolve, resolve_configuration
from engine.clock import IdFactory

if TYPE_CHECKING:  # annotations only: the application loads without the definition models
    from domain.definition import ActionDeclaration, PipelineDeclaration


@dataclass(frozen=True)
class ActionWork:
    """An action the planner started that a provider must now run (outside any transaction)."""

    pipeline_name: str
    execution_id: str
    action_execution_id: str
    stage: str
    action: str
    kind: str
    action_type: Mapping[str, str]
    configuration: Mapping[str, str]
    commands: tuple[str, ...]
    input_artifacts: Mapping[str, str]
    output_artifacts: Mapping[str, tuple[str, ...]]
    output_variable_names: tuple[str, ...]
    environment: Mapping[str, str]
    timeout_seconds: float

    def order(self) -> dict[str, Any]:
        """The work as plain data, the order a Job records (and any process can run it from)."""
        return {
            "pipeline_name": self.pipeline_name,
            "execution_id": self.execution_id,
            "action_execution_id": self.action_execution_id,
            "stage": self.stage,
            "action": self.action,
            "kind": self.kind,
            "action_type": dict(self.action_type),
            "configuration": dict(self.configuration),
            "commands": list(self.commands),
            "input_artifacts": dict(self.input_artifacts),
            "output_artifacts": {
                name: list(files) for name, files in self.output_artifacts.items()
            },
            "output_variable_names": list(self.output_variable_names),
            "environment": dict(self.environment),
            "timeout_seconds": self.timeout_seconds,
        }

    @classmethod
    def from_order(cls, order: Mapping[str, Any]) -> ActionWork:
        return cls(
            pipeline_name=order["pipeline_name"],
            execution_id=order["execution_id"],
            action_execution_id=order["action_execution_id"],
            stage=order["stage"],
            action=order["action"],
            kind=order["kind"],
            action_type=dict(order["action_type"]),
            configuration=dict(order["configuration"]),
            commands=tuple(order["commands"]),
            input_artifacts=dict(order["input_artifacts"]),
            output_artifacts={k: tuple(v) for k, v in order["output_artifacts"].items()},
            output_variable_names=tuple(order["output_variable_names"]),
            environment=dict(order["environment"]),
            timeout_seconds=float(order["timeout_seconds"]),
        )


@dataclass(frozen=True)
class ActionResult:
    """What a provider reports back; artifacts are already in the artifact store (digests)."""

    succeeded: bool
    summary: str | None = None
    output_artifacts: Mapping[str, str] = field(default_factory=dict)
    output_variables: Mapping[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    revision: Mapping[str, Any] | None = None
    external_execution_id: str | None = None
    external_execution_url: str | None = None


@dataclass(frozen=True)
class _Resolved:
    configuration: dict[str, str]
    environment: dict[str, str]
    commands: tuple[str, ...]
    error: str | None


def _resolve(action: ActionDeclaration, scopes: dict[str, dict[str, str]]) -> _Resolved:
    try:
        return _Resolved(
            configuration=resolve_configuration(action.configuration, scopes),
            environment={
                variable.name: resolve(variable.value, scopes)
                for variable in action.environment_variables or []
            },
            commands=tuple(resolve(command, scopes) for command in action.commands or []),
            error=None,
        )
    except UnresolvedVariable as unresolved:
        return _Resolved(dict(action.configuration), {}, (), str(unresolved))


def start_action(
    declaration: PipelineDeclaration,
    execution: PipelineExecution,
    stage: str,
    action_name: str,
    *,
    ids: IdFactory,
    now: datetime,
) -> ActionWork | None:
    """Record the action's start; the work a provider must run, or None (approval, custom...)."""
    stage_decl = declaration.stage(stage)
    assert stage_decl is not None
    action = stage_decl.action(action_name)
    assert action is not None
    spec = lookup(action.category, action.owner, action.provider)
    kind = spec.kind if spec else "custom"
    aeid = str(ids.new())
    minutes = action.timeout_in_minutes or (spec.default_timeout_minutes if spec else 60)
    deadline = now + timedelta(minutes=minutes)
    resolved = _resolve(action, execution.scopes())
    inputs = {name: execution.artifacts.get(name, "") for name in action.input_names}
    execution.start_action(
        action_execution_id=aeid,
        stage=stage,
        action=action_name,
        action_type=action_type(action),
        configuration=dict(action.configuration),
        resolved_configuration=resolved.configuration,
        input_artifacts=inputs,
        namespace=action.namespace,
        deadline=deadline,
        now=now,
    )
    if resolved.error is not None:
        execution.fail_configuration(aeid, resolved.error, now)
        return None
    if kind == "manual-approval":
        execution.request_approval(aeid, token=str(ids.new()), expires_at=deadline, now=now)
        return None
    if kind == "custom":
        # Custom actions wait for external job workers (a later issue); until one reports,
        # the action times out like CodePipeline's 24-hour custom-action timeout.
        return None
    environment = {
        **resolved.environment,
        "CODEPIPELINE_PIPELINE_NAME": execution.pipeline_name,
        "CODEPIPELINE_PIPELINE_EXECUTION_ID": execution.execution_id,
        "CODEPIPELINE_STAGE_NAME": stage,
        "CODEPIPELINE_ACTION_NAME": action_name,
        "CODEPIPELINE_ACTION_EXECUTION_ID": aeid,
    }
    return ActionWork(
        pipeline_name=execution.pipeline_name,
        execution_id=execution.execution_id,
        action_execution_id=aeid,
        stage=stage,
        action=action_name,
        kind=kind,
        action_type=action_type(action),
        configuration=resolved.configuration,
        commands=resolved.commands,
        input_artifacts=inputs,
        output_artifacts={out.name: tuple(out.files or ()) for out in action.output_artifacts},
        output_variable_names=tuple(action.output_variables or ()),
        environment=environment,
        timeout_seconds=minutes * 60.0,
    )


def action_type(action: ActionDeclaration) -> dict[str, str]:
    type_id = action.action_type_id
    return {
        "category": type_id.category,
        "owner": type_id.owner,
        "provider": type_id.provider,
        "version": type_id.version,
    }
