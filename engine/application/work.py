"""The work an action hands to whoever runs it, and what comes back; building it at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.catalogue import lookup
from domain.execution import PipelineExecution
from domain.variables import (
    ShellBindings,
    UnresolvedVariable,
    bind_shell,
    references,
    resolve,
    resolve_buildspec,
    resolve_configuration,
    resolve_json_strings,
)
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
    # A source action's requested revision ({revisionType, revisionValue}; sourceRevisions).
    revision: Mapping[str, str] | None = None

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
            "revision": dict(self.revision) if self.revision is not None else None,
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
            # Orders recorded before sourceRevisions existed have no "revision".
            revision=dict(order["revision"]) if order.get("revision") else None,
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
    shown: dict[str, str]  # plain substitution, what `executions show` lists (as CodePipeline)
    configuration: dict[str, str]  # what the provider runs: values never spliced into code
    environment: dict[str, str]
    commands: tuple[str, ...]
    error: str | None


# Configuration keys whose text is code: values reach them as parsed values or environment
# variables, never as spliced text (docs/security.md, "Values never become code").
_SHELL_KEYS = ("Commands",)
_JSON_KEYS = ("EnvironmentVariables",)
_BUILDSPEC_KEY = "BuildSpec"


def _inline_buildspec(text: str) -> bool:
    """The CodeBuild provider's test: a BuildSpec value is YAML text rather than a path."""
    stripped = text.strip()
    return "\n" in stripped or "version:" in stripped


def _safe_value(key: str, text: str, bindings: ShellBindings) -> str:
    if key in _SHELL_KEYS:
        return "\n".join(bind_shell(line, bindings) for line in text.split("\n"))
    try:
        if key in _JSON_KEYS:
            return resolve_json_strings(text, bindings.scopes)
        if key == _BUILDSPEC_KEY and _inline_buildspec(text):
            return resolve_buildspec(text, bindings)
    except (ValueError, RecursionError):
        # Not JSON/YAML as written: the provider reports that; nothing is substituted.
        references_in = references(text)
        if references_in:
            namespace, name = references_in[0]
            raise _Unparsable(key, f"#{{{namespace}.{name}}}") from None
        return text
    return resolve(text, bindings.scopes)


class _Unparsable(Exception):
    def __init__(self, key: str, reference: str) -> None:
        super().__init__(
            f"{key} is not valid {'JSON' if key in _JSON_KEYS else 'YAML'} as written, so "
            f"{reference} cannot be resolved in it: references must sit inside its string values"
        )


def _resolve(action: ActionDeclaration, scopes: dict[str, dict[str, str]]) -> _Resolved:
    bindings = ShellBindings(scopes)
    try:
        shown = resolve_configuration(action.configuration, scopes)
        configuration = {
            key: _safe_value(key, value, bindings) for key, value in action.configuration.items()
        }
        commands = tuple(bind_shell(command, bindings) for command in action.commands or [])
        environment = {
            variable.name: resolve(variable.value, scopes)
            for variable in action.environment_variables or []
        }
    except UnresolvedVariable as unresolved:
        return _Resolved(dict(action.configuration), {}, {}, (), str(unresolved))
    except _Unparsable as unparsable:
        return _Resolved(shown, {}, {}, (), str(unparsable))
    return _Resolved(
        shown=shown,
        configuration=configuration,
        environment={**bindings.environment, **environment},
        commands=commands,
        error=None,
    )


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
        resolved_configuration=resolved.shown,
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
        revision=_requested_revision(execution, action_name),
    )


def _requested_revision(execution: PipelineExecution, action: str) -> dict[str, str] | None:
    override = execution.revision_override(action)
    if override is None:
        return None
    return {"revisionType": override["revisionType"], "revisionValue": override["revisionValue"]}


def action_type(action: ActionDeclaration) -> dict[str, str]:
    type_id = action.action_type_id
    return {
        "category": type_id.category,
        "owner": type_id.owner,
        "provider": type_id.provider,
        "version": type_id.version,
    }
