"""CodePipeline's fixed vocabulary as StrEnums: statuses, modes, categories, triggers and causes."""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    """An execution's status.

    Each member of every enum here *is* its string (`StrEnum`), so stored events, JSON output
    and comparisons with plain strings are unchanged; the enums only give names to the spellings.
    """

    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    SUCCEEDED = "Succeeded"
    SUPERSEDED = "Superseded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class StageStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class ActionStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    ABANDONED = "Abandoned"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ExecutionMode(StrEnum):
    SUPERSEDED = "SUPERSEDED"
    QUEUED = "QUEUED"
    PARALLEL = "PARALLEL"


class PipelineType(StrEnum):
    V1 = "V1"
    V2 = "V2"


class RetryMode(StrEnum):
    FAILED_ACTIONS = "FAILED_ACTIONS"
    ALL_ACTIONS = "ALL_ACTIONS"


class RetryTrigger(StrEnum):
    MANUAL = "ManualStageRetry"
    AUTOMATED = "AutomatedStageRetry"


class ActionCategory(StrEnum):
    SOURCE = "Source"
    BUILD = "Build"
    TEST = "Test"
    DEPLOY = "Deploy"
    APPROVAL = "Approval"
    INVOKE = "Invoke"
    COMPUTE = "Compute"


class TriggerType(StrEnum):
    CREATE_PIPELINE = "CreatePipeline"
    START_PIPELINE_EXECUTION = "StartPipelineExecution"
    POLL_FOR_SOURCE_CHANGES = "PollForSourceChanges"
    WEBHOOK = "Webhook"
    WEBHOOK_V2 = "WebhookV2"
    CLOUDWATCH_EVENT = "CloudWatchEvent"
    PUT_ACTION_REVISION = "PutActionRevision"
    MANUAL_ROLLBACK = "ManualRollback"
    AUTOMATED_ROLLBACK = "AutomatedRollback"


class ApprovalStatus(StrEnum):
    APPROVED = "Approved"
    REJECTED = "Rejected"


ACTIVE_EXECUTION_STATUSES = frozenset({ExecutionStatus.IN_PROGRESS, ExecutionStatus.STOPPING})
TERMINAL_EXECUTION_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.STOPPED,
        ExecutionStatus.SUPERSEDED,
        ExecutionStatus.CANCELLED,
    }
)


class Cause(StrEnum):
    """Why an event happened, as data: recorded on events the engine (not a person) decides.

    Events carry `cause = {"kind": Cause, ...fields}`, for example
    `{"kind": "TimedOut", "deadline": "..."}` or `{"kind": "StopRequested", "by": "alice"}`.
    Views and audit dispatch on `kind`, never on the event's prose.
    """

    # ActionFailed
    ACTION_REPORTED_FAILURE = "ActionReportedFailure"  # the provider or job worker said so
    TIMED_OUT = "TimedOut"  # the action's or approval's deadline passed
    CONFIGURATION_ERROR = "ConfigurationError"  # a variable in its configuration did not resolve
    WORKER_LOST = "WorkerLost"  # the workers that claimed its job stopped renewing their leases
    # ActionAbandoned
    STOP_REQUESTED = "StopRequested"  # `stop --abandon`
    EXECUTION_CANCELLED = "ExecutionCancelled"  # the pipeline was updated or deleted
    # ExecutionStopped
    STOPPED_BY_REQUEST = "StoppedByRequest"
    TRANSITION_EXPIRED = "TransitionExpired"  # waited at a transition disabled > 30 days
    # ExecutionCancelled
    PIPELINE_UPDATED = "PipelineUpdated"
    PIPELINE_DELETED = "PipelineDeleted"


class JobStatus(StrEnum):
    """A job's status, in CodePipeline's words; Abandoned is ours (the action ended without it)."""

    QUEUED = "Queued"
    DISPATCHED = "Dispatched"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ABANDONED = "Abandoned"


OPEN_JOB_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.DISPATCHED, JobStatus.IN_PROGRESS})
