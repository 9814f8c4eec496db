"""The event-sourced application: CodePipeline's API composed from one module per area."""

from __future__ import annotations

from collections.abc import Sequence

from engine.application.access_keys import AccessKeyCommands
from engine.application.action_types import ActionTypeQueries
from engine.application.actions import ActionCommands
from engine.application.approvals import ApprovalCommands
from engine.application.executions import ExecutionCommands
from engine.application.jobs import Claimed, JobCommands
from engine.application.pipelines import PipelineCommands
from engine.application.tags import TagCommands
from engine.application.transitions import TransitionCommands
from engine.application.work import ActionResult, ActionWork


class Conveyor(
    PipelineCommands,
    ExecutionCommands,
    ApprovalCommands,
    TransitionCommands,
    ActionCommands,
    JobCommands,
    AccessKeyCommands,
    TagCommands,
    ActionTypeQueries,
):
    """CodePipeline's API over an event store; every method is one transaction (or none)."""

    name = "conveyor"


__all__: Sequence[str] = ["ActionResult", "ActionWork", "Claimed", "Conveyor"]
