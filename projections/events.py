"""The event classes the views dispatch on, each named once, with its stable public name."""

from __future__ import annotations

from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry

# Every module of projections/ refers to events through these names; a renamed event class
# changes here only. The two events once named in the participle keep their stored names below.
ExecutionHeld = PipelineExecution.ExecutionHeld
ExecutionStopRequested = PipelineExecution.ExecutionStopRequested

ExecutionStarted = PipelineExecution.ExecutionStarted
StageEntered = PipelineExecution.StageEntered
ActionStarted = PipelineExecution.ActionStarted
ApprovalRequested = PipelineExecution.ApprovalRequested
ActionSucceeded = PipelineExecution.ActionSucceeded
ActionFailed = PipelineExecution.ActionFailed
ActionAbandoned = PipelineExecution.ActionAbandoned
ApprovalGranted = PipelineExecution.ApprovalGranted
ApprovalRejected = PipelineExecution.ApprovalRejected
StageSucceeded = PipelineExecution.StageSucceeded
StageFailed = PipelineExecution.StageFailed
StageRetried = PipelineExecution.StageRetried
ExecutionSucceeded = PipelineExecution.ExecutionSucceeded
ExecutionFailed = PipelineExecution.ExecutionFailed
ExecutionStopped = PipelineExecution.ExecutionStopped
ExecutionSuperseded = PipelineExecution.ExecutionSuperseded
ExecutionCancelled = PipelineExecution.ExecutionCancelled

PipelineCreated = Pipeline.PipelineCreated
PipelineUpdated = Pipeline.PipelineUpdated
PipelineDeleted = Pipeline.PipelineDeleted
TransitionDisabled = Pipeline.TransitionDisabled
TransitionEnabled = Pipeline.TransitionEnabled
RevisionDetected = Pipeline.RevisionDetected
ExecutionActivated = Pipeline.ExecutionActivated
ExecutionDeactivated = Pipeline.ExecutionDeactivated
StageLocked = Pipeline.StageLocked
StageUnlocked = Pipeline.StageUnlocked
ExecutionQueued = Pipeline.ExecutionQueued
ExecutionDequeued = Pipeline.ExecutionDequeued
PipelineTagged = Pipeline.PipelineTagged
PipelineUntagged = Pipeline.PipelineUntagged
RequestTokenRecorded = Pipeline.RequestTokenRecorded

RegistryCreated = PipelineRegistry.Created
PipelineRegistered = PipelineRegistry.PipelineRegistered
PipelineUnregistered = PipelineRegistry.PipelineUnregistered

# What the audit trail and the timeline call each event: the name it was stored under by the
# first release, so renaming a class changes neither the views' rows nor the CLI's output.
NAMES: dict[type, str] = {
    ExecutionHeld: "ExecutionWaiting",
    ExecutionStopRequested: "ExecutionStopping",
    ExecutionStarted: "ExecutionStarted",
    StageEntered: "StageEntered",
    ActionStarted: "ActionStarted",
    ApprovalRequested: "ApprovalRequested",
    ActionSucceeded: "ActionSucceeded",
    ActionFailed: "ActionFailed",
    ActionAbandoned: "ActionAbandoned",
    ApprovalGranted: "ApprovalGranted",
    ApprovalRejected: "ApprovalRejected",
    StageSucceeded: "StageSucceeded",
    StageFailed: "StageFailed",
    StageRetried: "StageRetried",
    ExecutionSucceeded: "ExecutionSucceeded",
    ExecutionFailed: "ExecutionFailed",
    ExecutionStopped: "ExecutionStopped",
    ExecutionSuperseded: "ExecutionSuperseded",
    ExecutionCancelled: "ExecutionCancelled",
    PipelineCreated: "PipelineCreated",
    PipelineUpdated: "PipelineUpdated",
    PipelineDeleted: "PipelineDeleted",
    TransitionDisabled: "TransitionDisabled",
    TransitionEnabled: "TransitionEnabled",
    RevisionDetected: "RevisionDetected",
    ExecutionActivated: "ExecutionActivated",
    ExecutionDeactivated: "ExecutionDeactivated",
    StageLocked: "StageLocked",
    StageUnlocked: "StageUnlocked",
    ExecutionQueued: "ExecutionQueued",
    ExecutionDequeued: "ExecutionDequeued",
    PipelineTagged: "PipelineTagged",
    PipelineUntagged: "PipelineUntagged",
    RequestTokenRecorded: "RequestTokenRecorded",
    RegistryCreated: "Created",
    PipelineRegistered: "PipelineRegistered",
    PipelineUnregistered: "PipelineUnregistered",
}


def name_of(kind: type) -> str:
    """The event's public name; an event class unknown here is called by its own name."""
    found = NAMES.get(kind)
    return found if found is not None else kind.__qualname__.rpartition(".")[2]
