"""Pydantic models of CodePipeline's pipeline structure JSON, as `get-pipeline` prints it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.vocabulary import ExecutionMode, PipelineType

# Models only fix the shape (required fields, JSON types, no unknown keys). Lengths, patterns,
# ranges and cross-references live in domain.validation so that every problem of a definition
# is reported at once, with our own paths and rule names. strict=True because the AWS API
# refuses "1" for an integer too, and a silent coercion would hide a mistake in the JSON.
_CONFIG = ConfigDict(populate_by_name=True, extra="forbid", strict=True, frozen=True)


class _Model(BaseModel):
    model_config = _CONFIG


class ActionTypeId(_Model):
    """Which provider runs an action: category, owner, provider and version."""

    category: str
    owner: str
    provider: str
    version: str


class InputArtifact(_Model):
    """An artifact an action consumes, by the name some earlier action gave it."""

    name: str


class OutputArtifact(_Model):
    """An artifact an action produces; `files` narrows it (Compute actions)."""

    name: str
    files: list[str] | None = None


class EnvironmentVariable(_Model):
    """An environment variable given to a Compute action."""

    name: str
    value: str
    type: str = "PLAINTEXT"


class ActionDeclaration(_Model):
    """One action of a stage."""

    name: str
    action_type_id: ActionTypeId = Field(alias="actionTypeId")
    run_order: int = Field(default=1, alias="runOrder")
    configuration: dict[str, str] = Field(default_factory=dict)
    commands: list[str] | None = None
    input_artifacts: list[InputArtifact] = Field(default_factory=list, alias="inputArtifacts")
    output_artifacts: list[OutputArtifact] = Field(default_factory=list, alias="outputArtifacts")
    output_variables: list[str] | None = Field(default=None, alias="outputVariables")
    role_arn: str | None = Field(default=None, alias="roleArn")
    region: str | None = None
    namespace: str | None = None
    timeout_in_minutes: int | None = Field(default=None, alias="timeoutInMinutes")
    environment_variables: list[EnvironmentVariable] | None = Field(
        default=None, alias="environmentVariables"
    )

    @property
    def category(self) -> str:
        return self.action_type_id.category

    @property
    def owner(self) -> str:
        return self.action_type_id.owner

    @property
    def provider(self) -> str:
        return self.action_type_id.provider

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(artifact.name for artifact in self.input_artifacts)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(artifact.name for artifact in self.output_artifacts)


class BlockerDeclaration(_Model):
    """Reserved by CodePipeline for future use; accepted and kept."""

    name: str
    type: str


class RetryConfiguration(_Model):
    """How a failed stage is retried automatically: FAILED_ACTIONS or ALL_ACTIONS."""

    retry_mode: str | None = Field(default=None, alias="retryMode")


class Condition(_Model):
    """A stage condition; its rules are kept as written (Conveyor does not run rules yet)."""

    result: str | None = None
    rules: list[dict[str, Any]] = Field(default_factory=list)


class FailureConditions(_Model):
    """What a stage does when it fails (Conveyor acts on RETRY)."""

    result: str | None = None
    retry_configuration: RetryConfiguration | None = Field(default=None, alias="retryConfiguration")
    conditions: list[Condition] | None = None


class SuccessConditions(_Model):
    """Conditions checked after a stage succeeds; accepted and kept."""

    conditions: list[Condition]


class BeforeEntryConditions(_Model):
    """Conditions checked before a stage is entered; accepted and kept."""

    conditions: list[Condition]


class StageDeclaration(_Model):
    """One stage: its actions and what happens on failure."""

    name: str
    actions: list[ActionDeclaration]
    blockers: list[BlockerDeclaration] | None = None
    on_failure: FailureConditions | None = Field(default=None, alias="onFailure")
    on_success: SuccessConditions | None = Field(default=None, alias="onSuccess")
    before_entry: BeforeEntryConditions | None = Field(default=None, alias="beforeEntry")

    def groups(self) -> list[list[ActionDeclaration]]:
        """Actions grouped by runOrder ascending; declaration order is kept inside a group."""
        by_order: dict[int, list[ActionDeclaration]] = {}
        for action in self.actions:
            by_order.setdefault(action.run_order, []).append(action)
        return [by_order[order] for order in sorted(by_order)]

    def action(self, name: str) -> ActionDeclaration | None:
        return next((action for action in self.actions if action.name == name), None)


class EncryptionKey(_Model):
    """The KMS key of an S3 artifact store; accepted and kept."""

    id: str
    type: str


class ArtifactStore(_Model):
    """CodePipeline's S3 artifact store; Conveyor keeps artifacts locally and ignores it."""

    type: str
    location: str
    encryption_key: EncryptionKey | None = Field(default=None, alias="encryptionKey")


class PipelineVariable(_Model):
    """A V2 pipeline variable, referenced as #{variables.<name>}."""

    name: str
    default_value: str | None = Field(default=None, alias="defaultValue")
    description: str | None = None


class PipelineDeclaration(_Model):
    """A whole pipeline definition (the `pipeline` member of `get-pipeline`)."""

    name: str
    role_arn: str | None = Field(default=None, alias="roleArn")
    artifact_store: ArtifactStore | None = Field(default=None, alias="artifactStore")
    artifact_stores: dict[str, ArtifactStore] | None = Field(default=None, alias="artifactStores")
    stages: list[StageDeclaration]
    version: int | None = None
    execution_mode: str = Field(default=ExecutionMode.SUPERSEDED, alias="executionMode")
    pipeline_type: str = Field(default=PipelineType.V1, alias="pipelineType")
    variables: list[PipelineVariable] = Field(default_factory=list)
    # Triggers are kept as written: Conveyor has no trigger runtime yet (roadmap).
    triggers: list[dict[str, Any]] = Field(default_factory=list)

    def stage(self, name: str) -> StageDeclaration | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def to_document(self) -> dict[str, Any]:
        """The camelCase JSON-ready document, with defaults applied as `get-pipeline` shows."""
        document = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        # get-pipeline omits the V2 lists when a pipeline has none; the defaults restore them.
        for key in ("variables", "triggers"):
            if not document[key]:
                del document[key]
        return document

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> PipelineDeclaration:
        """Rebuild from a document that was validated before (replay); only parses the shape."""
        return cls.model_validate(dict(doc))
