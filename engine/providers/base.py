"""The provider contract: what the runner hands a provider and what the provider reports back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

# CodePipeline's failure types (FailureDetails.type) that Conveyor's providers report.
JOB_FAILED = "JobFailed"
CONFIGURATION_ERROR = "ConfigurationError"
TIMED_OUT = "TimedOut"
REVISION_UNAVAILABLE = "RevisionUnavailable"


@dataclass(frozen=True)
class Revision:
    """The source revision a source action produced (CodePipeline's ActionRevision)."""

    revision_id: str
    revision_change_id: str
    summary: str
    created: datetime
    url: str | None = None


@dataclass(frozen=True)
class ActionRequest:
    """Everything a provider needs to run one action execution, already resolved."""

    action_execution_id: str
    pipeline_name: str
    execution_id: str
    stage: str
    action: str
    category: str
    owner: str
    provider: str
    version: str
    configuration: Mapping[str, str]
    commands: tuple[str, ...]
    input_artifacts: Mapping[str, Path]
    output_artifacts: Mapping[str, tuple[str, ...]]
    output_variable_names: tuple[str, ...]
    environment: Mapping[str, str]
    workdir: Path
    log_path: Path
    timeout_seconds: float
    workspace_root: Path
    buckets_root: Path
    # The workspace's `.conveyor` folder, where the secrets store is (engine.secrets).
    home: Path | None = None
    # A source action's requested revision, {revisionType, revisionValue} (sourceRevisions),
    # already checked by the domain (domain/starts.py); None runs the configured branch/object.
    revision: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ActionOutcome:
    """What happened; output artifact directories stay valid until the runner ingests them."""

    succeeded: bool
    summary: str | None = None
    output_artifacts: Mapping[str, Path] = field(default_factory=dict)
    output_variables: Mapping[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    revision: Revision | None = None
    external_execution_id: str | None = None
    external_execution_url: str | None = None


class Provider(Protocol):
    def run(self, request: ActionRequest) -> ActionOutcome: ...


class ActionFailure(Exception):
    """A failure the user caused (configuration, command, missing revision); never escapes run()."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def config_error(message: str) -> ActionFailure:
    return ActionFailure(CONFIGURATION_ERROR, message)


def failed(error: ActionFailure) -> ActionOutcome:
    return ActionOutcome(succeeded=False, error_code=error.code, error_message=error.message)


def guarded(
    request: ActionRequest,
    body: Callable[[ActionRequest], ActionOutcome],
    log: Callable[[str], None],
) -> ActionOutcome:
    """Run body, turning an ActionFailure into a failed outcome that the log also records."""
    try:
        return body(request)
    except ActionFailure as error:
        log(f"FAILED ({error.code}): {error.message}")
        return failed(error)
