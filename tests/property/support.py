"""Pipeline shapes, the command vocabulary and state helpers shared by the property tests."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from hypothesis import strategies as st

from domain.errors import ConveyorError
from domain.vocabulary import RetryMode
from engine.app import Conveyor
from tests.harness import Harness, approval_action, definition, shell_action, source_action

NAME = "demo"
MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")
RETRY_MODES = tuple(RetryMode)
TRANSITION_REASONS = ("freeze", "release freeze", "hold for QA (ticket 42)")
# Every command moves the virtual clock this much first, so each transaction has its own instant.
COMMAND_TICK = timedelta(seconds=1)


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    return draw(st.integers(min_value=1, max_value=one_in)) == one_in


@st.composite
def pipeline_shapes(
    draw: st.DrawFn, modes: Sequence[str] = MODES, max_stages: int = 10
) -> dict[str, Any]:
    """A valid definition named NAME: a source stage (one or two sources) then 1..9 stages, each
    either a lone Manual approval or runOrder groups 1..3 of 1..3 actions (Shell, now and then a
    Manual approval among them); some stages retry automatically on failure (V2 only).
    QUEUED and PARALLEL are V2 pipelines; SUPERSEDED ones are V1 unless a stage retries.
    """
    mode = draw(st.sampled_from(list(modes)))
    stage_count = draw(st.integers(min_value=2, max_value=max_stages))
    sources = [source_action("Checkout", "Src")]
    if _rarely(draw, 3):
        sources.append(source_action("Config", "Cfg"))
    stages: list[tuple[str, list[dict[str, Any]]]] = [("Source", sources)]
    retries: dict[int, str] = {}
    for index in range(1, stage_count):
        actions: list[dict[str, Any]] = []
        if _rarely(draw, 4):
            minutes = draw(st.sampled_from([None, 5, 60, 600]))
            actions.append(approval_action(f"Approve{index}", minutes))
        else:
            orders = sorted(draw(st.sets(st.integers(1, 3), min_size=1, max_size=3)))
            for order in orders:
                for _ in range(draw(st.integers(min_value=1, max_value=3))):
                    name = f"A{index}x{len(actions) + 1}"
                    if _rarely(draw, 6):
                        minutes = draw(st.sampled_from([None, 5, 60]))
                        actions.append({**approval_action(name, minutes), "runOrder": order})
                    else:
                        actions.append(shell_action(name, run_order=order))
        stages.append((f"S{index}", actions))
        if _rarely(draw, 4):
            retries[index] = draw(st.sampled_from(RETRY_MODES))
    document = definition(stages, name=NAME, mode=mode)
    for index, retry_mode in retries.items():
        document["stages"][index]["onFailure"] = {
            "result": "RETRY",
            "retryConfiguration": {"retryMode": retry_mode},
        }
    if retries:
        document["pipelineType"] = "V2"
    return document


# ----- the command vocabulary ------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One command as the machine issued it; replayable on another harness (same ids, clock)."""

    name: str
    args: tuple[Any, ...] = ()
    # Whether the clock moves first; off for commands that must find nothing to do.
    tick: bool = True

    def __str__(self) -> str:
        return f"{self.name}{self.args!r}"


def perform(h: Harness, op: Op) -> tuple[Any, str | None]:
    """Run one command on the harness; returns (result, error code or None).

    Work the command hands out is remembered without an extra `advance`, so a command that does
    not settle on its own is not hidden.
    """
    before = h.clock.now()
    if op.tick:
        h.clock.advance(COMMAND_TICK)
    app = h.app
    try:
        result = _dispatch(h, app, op)
    except ConveyorError as error:
        # A refused command changes nothing, not even the time the next one sees.
        h.clock.set(before)
        return None, error.code
    h._remember(app.take_work())
    return result, None


def _dispatch(h: Harness, app: Conveyor, op: Op) -> Any:
    args = op.args
    match op.name:
        case "create":
            (document,) = args
            app.create_pipeline(document, by="tester", start=False)
            return None
        case "start":
            return app.start_pipeline_execution(NAME, by="tester")
        case "report":
            action_execution_id, succeeded = args
            return h.report(h.work[action_execution_id], succeeded)
        case "approval":
            stage, action, token, status = args
            return app.put_approval_result(
                NAME,
                stage,
                action,
                status=status,
                summary=status.lower(),
                by="approver",
                token=token,
            )
        case "tick":
            (minutes,) = args
            h.later(minutes=minutes)
            return app.advance(NAME)
        case "advance":
            return app.advance(NAME)
        case "disable":
            stage, reason = args
            return app.disable_stage_transition(NAME, stage, reason=reason, by="operator")
        case "enable":
            (stage,) = args
            return app.enable_stage_transition(NAME, stage, by="operator")
        case "stop":
            execution_id, abandon = args
            return app.stop_pipeline_execution(
                NAME, execution_id, abandon=abandon, reason="stop requested", by="operator"
            )
        case "retry":
            stage, execution_id, retry_mode = args
            return app.retry_stage_execution(
                NAME, stage, execution_id, retry_mode=retry_mode, by="operator"
            )
        case "update":
            (document,) = args
            return app.update_pipeline(document, by="editor")
    raise ValueError(f"unknown op {op}")


# ----- state of aggregates -----------------------------------------------------------------------


def state_of(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's state for comparison: its attributes minus the events not yet saved."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def replayed(app: Conveyor, aggregate_id: UUID) -> Aggregate:
    """The aggregate rebuilt from every one of its stored events, bypassing cache and snapshots."""
    aggregate = project_aggregate(None, app.events.get(aggregate_id))
    assert aggregate is not None, f"no events stored for {aggregate_id}"
    return aggregate


def capture_saved_states(app: Conveyor, into: dict[UUID, dict[str, Any]]) -> None:
    """Keep a deep copy of each aggregate's state right after the command that saved it."""
    save = app.save

    def capturing_save(*objs: Any, **kwargs: Any) -> Any:
        recordings = save(*objs, **kwargs)
        for obj in objs:
            if isinstance(obj, Aggregate):
                into[obj.id] = copy.deepcopy(state_of(obj))
        return recordings

    app.save = capturing_save  # type: ignore[method-assign]


def first_difference(left: Any, right: Any, path: str = "") -> str | None:
    """Where two nested values first differ (for readable assertion messages)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                return f"{path}.{key}: only on one side"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        if type(left) is not type(right):
            return f"{path}: {type(left).__name__} vs {type(right).__name__}"
        if len(left) != len(right):
            return f"{path}: length {len(left)} vs {len(right)}"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    if left != right or type(left) is not type(right):
        return f"{path}: {left!r} vs {right!r}"
    return None
