"""Errors named after CodePipeline's modelled exceptions, each a client error (exit 2, HTTP 400)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConveyorError(Exception):
    """A refused request: bad input or a rule of the service; the store is left untouched."""

    code = "ConveyorError"
    http_status = 400
    # The CLI's exit code: 2 for a refused request; 1 where the environment is at fault.
    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The API's error shape, which the CLI's --json mode shares."""
        return {"__type": self.code, "message": self.message}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (a JSON path), which rule, and a sentence."""

    path: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


class InvalidDefinition(ConveyorError):
    """A pipeline definition that breaks one or more rules; carries every problem at once."""

    code = "InvalidStructureException"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"the pipeline definition has {count} problem{'s' if count != 1 else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))

    def to_dict(self) -> dict[str, object]:
        # The message lists every problem, as the API's does; `problems` has them one by one.
        return {
            "__type": self.code,
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
        }


class ValidationException(ConveyorError):
    """A request field breaks its constraint (pattern, length, range)."""

    code = "ValidationException"


class LimitExceededException(ConveyorError):
    """A quota of the store was reached (pipelines per store, ...)."""

    code = "LimitExceededException"


class PipelineNameInUseException(ConveyorError):
    """A pipeline with this name already exists."""

    code = "PipelineNameInUseException"


class PipelineNotFoundException(ConveyorError):
    """No pipeline with this name."""

    code = "PipelineNotFoundException"


class PipelineVersionNotFoundException(ConveyorError):
    """The pipeline has no such version."""

    code = "PipelineVersionNotFoundException"


class PipelineExecutionNotFoundException(ConveyorError):
    """No execution with this id in this pipeline."""

    code = "PipelineExecutionNotFoundException"


class StageNotFoundException(ConveyorError):
    """The pipeline has no stage with this name."""

    code = "StageNotFoundException"


class ActionNotFoundException(ConveyorError):
    """The stage has no action with this name."""

    code = "ActionNotFoundException"


class InvalidApprovalTokenException(ConveyorError):
    """The approval token already received a response, expired, or belongs to another run."""

    code = "InvalidApprovalTokenException"


class ApprovalAlreadyCompletedException(ConveyorError):
    """The approval was already approved or rejected."""

    code = "ApprovalAlreadyCompletedException"


class DuplicatedStopRequestException(ConveyorError):
    """The execution is already being stopped in this way."""

    code = "DuplicatedStopRequestException"


class PipelineExecutionNotStoppableException(ConveyorError):
    """The execution has finished or cannot be stopped."""

    code = "PipelineExecutionNotStoppableException"


class StageNotRetryableException(ConveyorError):
    """The stage cannot be retried (nothing failed, structure changed, retry in progress)."""

    code = "StageNotRetryableException"


class NotLatestPipelineExecutionException(ConveyorError):
    """A later execution has entered the stage since; this one can no longer be retried."""

    code = "NotLatestPipelineExecutionException"


class ConflictException(ConveyorError):
    """The pipeline is busy with a conflicting change; try again."""

    code = "ConflictException"


class ConcurrentPipelineExecutionsLimitExceededException(ConveyorError):
    """The pipeline has reached its limit of concurrent executions."""

    code = "ConcurrentPipelineExecutionsLimitExceededException"


class StageNotInProgressException(ConveyorError):
    """The action or stage is not running."""

    code = "StageNotInProgressException"


class JobNotFoundException(ConveyorError):
    """No job has the given id."""

    code = "JobNotFoundException"


class InvalidJobStateException(ConveyorError):
    """The job is not in a state that allows the request (already claimed, finished...)."""

    code = "InvalidJobStateException"


class InvalidNonceException(ConveyorError):
    """The nonce does not belong to the job's current claim: the claim was lost or replaced."""

    code = "InvalidNonceException"


class NotAWorkspaceException(ConveyorError):
    """No store here: no `.conveyor/` in this directory or above, or CONVEYOR_HOME is missing."""

    code = "WorkspaceNotFoundException"
    http_status = 404


class StoreUnavailableException(ConveyorError):
    """The store's database did not answer, or refused the connection (the server's reason)."""

    code = "StoreUnavailableException"
    http_status = 503


# ----- tags (TagResource, UntagResource, ListTagsForResource) ---------------------------------


class InvalidTagsException(ConveyorError):
    """A tag is not allowed: a reserved `aws:` key, or a key given twice in one request."""

    code = "InvalidTagsException"


class TooManyTagsException(ConveyorError):
    """The resource would have more tags than its limit (50)."""

    code = "TooManyTagsException"


class InvalidArnException(ConveyorError):
    """The resource ARN is not a CodePipeline pipeline's ARN."""

    code = "InvalidArnException"


class ResourceNotFoundException(ConveyorError):
    """No resource (pipeline) has the given ARN."""

    code = "ResourceNotFoundException"
