"""Time travel and replay: a pipeline's state at any instant; an execution's timeline, replanned."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import planner
from domain.errors import PipelineExecutionNotFoundException, PipelineNotFoundException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import REGISTRY_ID
from projections.codepipeline import pipeline_state

Events = Any  # eventsourcing's EventStore: .get(originator_id) -> iterator of domain events


def fold(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def events_until(store: Events, aggregate_id: str | UUID, at: datetime | None) -> list[Any]:
    key = aggregate_id if isinstance(aggregate_id, UUID) else UUID(str(aggregate_id))
    found = []
    for event in store.get(key):
        if at is not None and event.timestamp > at:
            break
        found.append(event)
    return found


def aggregate_at(store: Events, aggregate_id: str | UUID, at: datetime) -> Any:
    """The aggregate exactly as its events up to `at` (inclusive) made it, or None."""
    return fold(events_until(store, aggregate_id, at))


def pipeline_id_at(store: Events, name: str, at: datetime) -> str:
    registry = aggregate_at(store, REGISTRY_ID, at)
    found = (registry.names if registry else {}).get(name)
    if found is None:
        raise PipelineNotFoundException(f"no pipeline named '{name}' existed at {at.isoformat()}")
    return str(found)


def state_at(store: Events, name: str, at: datetime) -> dict[str, Any]:
    """GetPipelineState as it was at `at`: the same document `state` shows, from older events."""
    pipeline: Pipeline = aggregate_at(store, pipeline_id_at(store, name, at), at)
    cache: dict[str, PipelineExecution] = {}

    def load(execution_id: str) -> PipelineExecution:
        if execution_id not in cache:
            cache[execution_id] = aggregate_at(store, execution_id, at)
        return cache[execution_id]

    return pipeline_state(pipeline, load)


# ----- an execution's timeline --------------------------------------------------------------


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)


def timeline(store: Events, execution_id: str) -> list[dict[str, Any]]:
    """Every step of an execution from its events: what happened, when, how long it took."""
    try:
        events = events_until(store, execution_id, None)
    except ValueError:
        events = []
    if not events or type(events[0]).__name__ != "ExecutionStarted":
        raise PipelineExecutionNotFoundException(f"no pipeline execution with id '{execution_id}'")
    started = events[0].timestamp
    pipeline_events = events_until(store, events[0].pipeline_id, None)
    revisions = [
        e
        for e in pipeline_events
        if type(e).__name__ == "RevisionDetected" and e.execution_id == execution_id
    ]
    runs: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []

    def step(at: datetime, what: str, text: str, **extra: Any) -> None:
        steps.append(
            {"at": at.isoformat(), "offset": _seconds(started, at), "event": what, "text": text}
            | {k: v for k, v in extra.items() if v is not None}
        )

    merged = sorted(
        [(e.timestamp, 0, i, e) for i, e in enumerate(events)]
        + [(e.timestamp, 1, i, e) for i, e in enumerate(revisions)],
        key=lambda item: (item[0], item[1], item[2]),
    )
    for at, _, _, event in merged:
        kind = type(event).__name__
        match kind:
            case "ExecutionStarted":
                trigger = event.trigger
                step(
                    at,
                    kind,
                    f"started by {event.by} (trigger {trigger['triggerType']}) on version "
                    f"{event.pipeline_version}, {event.execution_mode} mode",
                    by=event.by,
                )
            case "RevisionDetected":
                fresh = "a new revision" if event.new else "a revision seen before"
                step(at, kind, f"{event.action} carried {fresh}: {event.revision_id}")
            case "StageEntered":
                step(at, kind, f"entered {event.stage}", stage=event.stage)
            case "ExecutionHeld":
                holder = f" (held by {event.holder})" if event.holder else ""
                step(
                    at,
                    kind,
                    f"waiting to enter {event.stage}: {event.reason}{holder}",
                    stage=event.stage,
                    reason=event.reason,
                )
            case "ActionStarted":
                runs[event.action_execution_id] = event
                step(
                    at,
                    kind,
                    f"{event.stage}/{event.action} attempt {event.attempt} started",
                    stage=event.stage,
                    action=event.action,
                    attempt=event.attempt,
                )
            case "ApprovalRequested":
                begun = runs[event.action_execution_id]
                step(
                    at,
                    kind,
                    f"{begun.stage}/{begun.action} waits for approval until "
                    f"{event.expires_at.isoformat()}",
                    token=event.token,
                )
            case (
                "ActionSucceeded"
                | "ActionFailed"
                | "ActionAbandoned"
                | "ApprovalGranted"
                | "ApprovalRejected"
            ):
                begun = runs[event.action_execution_id]
                took = _seconds(begun.timestamp, at)
                result = {
                    "ActionSucceeded": "succeeded",
                    "ActionFailed": "failed",
                    "ActionAbandoned": "abandoned",
                    "ApprovalGranted": "approved",
                    "ApprovalRejected": "rejected",
                }[kind]
                text = (
                    f"{begun.stage}/{begun.action} attempt {begun.attempt} {result} after {took}s"
                )
                by = getattr(event, "by", None)
                if by:
                    text += f" by {by}"
                comment = getattr(event, "summary", None) or getattr(event, "reason", None)
                if kind == "ActionFailed":
                    comment = f"{event.error_code}: {event.error_message}"
                if comment:
                    text += f": {comment}"
                step(
                    at,
                    kind,
                    text,
                    stage=begun.stage,
                    action=begun.action,
                    attempt=begun.attempt,
                    seconds=took,
                    result=result,
                    by=by,
                )
            case "StageSucceeded" | "StageFailed":
                step(at, kind, f"stage {event.stage} {kind[5:].lower()}", stage=event.stage)
            case "StageRetried":
                step(
                    at,
                    kind,
                    f"stage {event.stage} retried by {event.by} ({event.retry_mode}, "
                    f"{event.trigger})",
                    by=event.by,
                )
            case "ExecutionSucceeded":
                step(at, kind, f"execution succeeded after {_seconds(started, at)}s")
            case "ExecutionFailed":
                step(at, kind, f"execution failed in {event.stage}: {event.summary}")
            case "ExecutionStopRequested":
                step(at, kind, f"stop requested by {event.by}: {event.reason}", by=event.by)
            case "ExecutionStopped":
                step(at, kind, f"execution stopped: {event.reason}", by=event.by)
            case "ExecutionSuperseded":
                step(at, kind, f"superseded at {event.stage} by {event.superseded_by}")
            case "ExecutionCancelled":
                step(at, kind, f"cancelled by {event.by}: {event.reason}", by=event.by)
            case _:
                step(at, kind, kind)
    return steps


# ----- re-deriving the planner's decisions --------------------------------------------------

# Execution events only the planner produces (the rest are news from commands and providers).
DECISION_EVENTS = {
    "StageEntered",
    "ExecutionHeld",
    "ActionStarted",
    "StageSucceeded",
    "StageFailed",
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionSuperseded",
}
GATE_EVENTS = {
    "StageLocked",
    "StageUnlocked",
    "ExecutionQueued",
    "ExecutionDequeued",
    "ExecutionDeactivated",
}


def _is_decision(event: Any) -> bool:
    kind = type(event).__name__
    if kind in DECISION_EVENTS or kind in GATE_EVENTS:
        return True
    if kind == "ActionFailed":
        return bool(event.error_code in ("TimedOut", "ConfigurationError"))
    if kind == "ActionAbandoned":
        return bool(str(event.reason).startswith("abandoned: stop requested"))
    if kind == "StageRetried":
        return bool(event.trigger == "AutomatedStageRetry")
    if kind == "ExecutionStopped":
        return "disabled for more than 30 days" not in str(event.reason)
    return kind == "ApprovalRequested"


@dataclass
class DecisionCheck:
    """Whether the planner, asked again at every point of the log, decides what the log did."""

    ok: bool
    decisions: int = 0
    divergence: str | None = None
    confirmed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unchanged": self.ok,
            "decisionsChecked": self.decisions,
            "divergence": self.divergence,
        }


def _describe(decision: planner.Decision) -> str:
    fields = {k: v for k, v in vars(decision).items() if k != "execution_id"}
    text = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"{type(decision).__name__}({decision.execution_id[:8]}{', ' + text if text else ''})"


class _Replayer:
    def __init__(self) -> None:
        self.pipeline: Any = None
        self.executions: dict[str, PipelineExecution] = {}

    def apply(self, event: Any) -> None:
        if (
            type(event).__name__ == "ExecutionStarted"
            or str(event.originator_id) in self.executions
        ):
            key = str(event.originator_id)
            self.executions[key] = event.mutate(self.executions.get(key))
        else:
            self.pipeline = event.mutate(self.pipeline)


def family_events(log: Any, execution_id: str) -> list[tuple[int, Any]]:
    """The execution's pipeline's events and its executions', with their log positions.

    Reads the application log once (skipping other pipelines' events before mapping them), up to
    the execution's last event: positions order the commands that share an instant.
    """
    own = events_until(log.events, execution_id, None)
    if not own or type(own[0]).__name__ != "ExecutionStarted":
        raise PipelineExecutionNotFoundException(f"no pipeline execution with id '{execution_id}'")
    pipeline = fold(events_until(log.events, own[0].pipeline_id, None))
    family = {str(pipeline.id), *pipeline.executions}
    # The execution's last transaction also recorded its siblings' events after its own.
    end = own[-1].timestamp
    found: list[tuple[int, Any]] = []
    position = 0
    while True:
        batch = log.recorder.select_notifications(
            start=position, limit=5000, inclusive_of_start=False
        )
        if not batch:
            return found
        for notification in batch:
            if str(notification.originator_id) in family:
                event = log.mapper.to_domain_event(notification)
                if event.timestamp > end:
                    return found
                found.append((notification.id, event))
        position = batch[-1].id


def check_decisions(log: Any, execution_id: str) -> DecisionCheck:
    """Replay the execution's pipeline event by event and ask the planner at every point."""
    return check_decisions_in(family_events(log, execution_id), execution_id)


def check_decisions_in(events: list[tuple[int, Any]], execution_id: str) -> DecisionCheck:
    """The planner asked again over a pipeline's positioned events (see check_decisions).

    Within one transaction the log keeps each aggregate's order but records the pipeline's events
    before the executions', so the replay merges per-aggregate queues as the planner directs: a
    decision is confirmed when the events it implies are next in their queues; news (commands,
    action results) is applied in log order when the planner has nothing the log shows.
    """
    own = [e for _, e in events if str(e.originator_id) == execution_id]
    if not own:
        raise PipelineExecutionNotFoundException(f"no pipeline execution with id '{execution_id}'")
    start = own[0].timestamp
    orders: dict[str, int] = {}
    stream: list[tuple[datetime, int, int, Any]] = []
    for position, event in events:
        key = str(event.originator_id)
        if type(event).__name__ == "ExecutionStarted":
            orders[key] = len(orders) + 1
        stream.append((event.timestamp, orders.get(key, 0), position, event))
    stream.sort(key=lambda item: (item[0], item[2]))
    replay = _Replayer()
    check = DecisionCheck(ok=True)
    index = 0
    while index < len(stream):
        at = stream[index][0]
        group = []
        while index < len(stream) and stream[index][0] == at:
            group.append(stream[index])
            index += 1
        if at < start:
            for _, _, _, event in group:
                replay.apply(event)
            continue
        queues: dict[int, deque[Any]] = {}
        positions: dict[int, int] = {}
        for _, order, position, event in group:
            queues.setdefault(order, deque()).append(event)
            positions[id(event)] = position
        problem = _merge(replay, queues, at, check, positions)
        if problem:
            check.ok = False
            check.divergence = f"at {at.isoformat()}: {problem}"
            return check
    return check


def _expected(decision: planner.Decision, replay: _Replayer) -> list[Callable[[Any], bool]]:
    """Predicates for the execution events the decision records, in order (first is required)."""

    def kind(name: str, **fields: Any) -> Callable[[Any], bool]:
        return lambda e: (
            type(e).__name__ == name and all(getattr(e, k, None) == v for k, v in fields.items())
        )

    match decision:
        case planner.EnterStage(stage=stage):
            return [kind("StageEntered", stage=stage)]
        case planner.WaitAtStage(stage=stage, reason=reason):
            return [kind("ExecutionHeld", stage=stage, reason=reason)]
        case planner.Supersede(stage=stage, by_execution_id=by):
            return [kind("ExecutionSuperseded", stage=stage, superseded_by=by)]
        case planner.StartAction(stage=stage, action=action):
            return [
                kind("ActionStarted", stage=stage, action=action),
                kind("ActionFailed", error_code="ConfigurationError"),
                kind("ApprovalRequested"),
            ]
        case planner.SucceedStage(stage=stage):
            return [kind("StageSucceeded", stage=stage)]
        case planner.SucceedExecution():
            return [kind("ExecutionSucceeded")]
        case planner.FailStage(stage=stage):
            return [kind("StageFailed", stage=stage), kind("ExecutionFailed", stage=stage)]
        case planner.TimeOutAction(action_execution_id=aeid):
            return [kind("ActionFailed", action_execution_id=aeid, error_code="TimedOut")]
        case planner.AbandonAction(action_execution_id=aeid):
            return [kind("ActionAbandoned", action_execution_id=aeid)]
        case planner.StopExecution():
            return [kind("ExecutionStopped")]
        case planner.RetryStage(stage=stage):
            return [kind("StageRetried", stage=stage, trigger="AutomatedStageRetry")]
    return []


def _merge(
    replay: _Replayer,
    queues: dict[int, deque[Any]],
    at: datetime,
    check: DecisionCheck,
    positions: dict[int, int],
) -> str | None:
    order_of = {str(q[0].originator_id): o for o, q in queues.items() if q}

    def news_at_pipeline_head(before: int) -> None:
        # Only the pipeline's news recorded before the decision's event belongs ahead of it.
        pipeline_queue = queues.get(0)
        while (
            pipeline_queue
            and not _is_decision(pipeline_queue[0])
            and positions[id(pipeline_queue[0])] < before
        ):
            replay.apply(pipeline_queue.popleft())

    while any(queues.values()):
        decision = None
        pipeline = replay.pipeline
        # An execution activated in the pipeline's queue is started by a later queue's head.
        if pipeline is not None and all(e in replay.executions for e in pipeline.active):
            decision = planner.plan(pipeline, replay.executions, at)
        if decision is not None:
            queue = queues.get(order_of.get(decision.execution_id, -1))
            predicates = _expected(decision, replay)
            if queue and predicates and predicates[0](queue[0]):
                # Gate events recorded before the execution's own (dequeue, lock) come first.
                news_at_pipeline_head(positions[id(queue[0])])
                _pre_gate(queues, decision, replay)
                replay.apply(queue.popleft())
                for follows in predicates[1:]:
                    if queue and follows(queue[0]):
                        replay.apply(queue.popleft())
                _post_gate(queues, decision, replay)
                check.decisions += 1
                check.confirmed.append(_describe(decision))
                continue
        applied = False
        # News comes in log order: the earliest news still pending, once it is next in its
        # queue (decisions recorded before it in the same queue must be re-derived first).
        pending = [
            (positions[id(event)], order, index)
            for order, queue in queues.items()
            for index, event in enumerate(queue)
            if not _is_decision(event)
        ]
        if pending:
            _, order, index = min(pending)
            if index == 0:
                event = queues[order].popleft()
                replay.apply(event)
                _news_effects(queues, event, replay)
                if type(event).__name__ == "ExecutionStarted":
                    order_of[str(event.originator_id)] = order
                applied = True
        if applied:
            continue
        heads = [f"{type(q[0]).__name__}" for q in queues.values() if q]
        if decision is None:
            return f"the log shows {', '.join(heads)} but the planner decides nothing"
        return f"the planner decides {_describe(decision)} but the log shows {', '.join(heads)}"
    return None


def _take_gate(
    queues: dict[int, deque[Any]], replay: _Replayer, kinds: tuple[str, ...], eid: str
) -> None:
    """Apply this execution's next gate events in the pipeline's queue, if they are these kinds.

    Other executions' gate events may sit ahead of them: the pipeline records every decision's
    bookkeeping in decision order, and the replay re-derives those decisions in its own turn.
    """
    queue = queues.get(0)
    if not queue:
        return
    for name in kinds:
        mine = next(
            (i for i, e in enumerate(queue) if getattr(e, "execution_id", None) == eid), None
        )
        if mine is None or type(queue[mine]).__name__ != name:
            continue
        event = queue[mine]
        del queue[mine]
        replay.apply(event)


def _pre_gate(queues: dict[int, deque[Any]], decision: planner.Decision, replay: _Replayer) -> None:
    eid = decision.execution_id
    match decision:
        case planner.EnterStage():
            _take_gate(queues, replay, ("ExecutionDequeued", "StageLocked"), eid)
        case planner.WaitAtStage():
            _take_gate(queues, replay, ("ExecutionQueued",), eid)
        case planner.Supersede():
            _take_gate(queues, replay, ("ExecutionDequeued",), eid)
        case planner.StopExecution():
            _take_gate(queues, replay, ("ExecutionDequeued",), eid)


def _post_gate(
    queues: dict[int, deque[Any]], decision: planner.Decision, replay: _Replayer
) -> None:
    eid = decision.execution_id
    match decision:
        case planner.SucceedStage():
            _take_gate(queues, replay, ("StageUnlocked",), eid)
        case planner.Supersede() | planner.SucceedExecution():
            _take_gate(queues, replay, ("ExecutionDeactivated",), eid)
        case planner.FailStage() | planner.StopExecution():
            _take_gate(queues, replay, ("StageUnlocked", "ExecutionDeactivated"), eid)


def _news_effects(queues: dict[int, deque[Any]], event: Any, replay: _Replayer) -> None:
    """Gate bookkeeping that commands (not the planner) record next to their news."""
    kind = type(event).__name__
    eid = str(event.originator_id)
    if kind == "StageRetried":
        _take_gate(queues, replay, ("ExecutionActivated", "StageLocked"), eid)
    elif kind == "ExecutionStopped":
        _take_gate(queues, replay, ("ExecutionDequeued", "ExecutionDeactivated"), eid)
