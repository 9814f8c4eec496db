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
from domain.vocabulary import Cause, RetryTrigger
from projections import events as ev
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


def _execution_events(store: Events, execution_id: str) -> list[Any]:
    """The execution's events; refused when the id is not an execution's."""
    try:
        found = events_until(store, execution_id, None)
    except ValueError:
        found = []
    if not found or type(found[0]) is not ev.ExecutionStarted:
        raise PipelineExecutionNotFoundException(f"no pipeline execution with id '{execution_id}'")
    return found


class _Timeline:
    """The steps of one execution's timeline, written one event at a time."""

    def __init__(self, started: datetime) -> None:
        self.started = started
        self.runs: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []

    def step(self, at: datetime, kind: type, text: str, **extra: Any) -> None:
        self.steps.append(
            {
                "at": at.isoformat(),
                "offset": _seconds(self.started, at),
                "event": ev.name_of(kind),
                "text": text,
            }
            | {k: v for k, v in extra.items() if v is not None}
        )

    def add(self, at: datetime, event: Any) -> None:
        kind = type(event)
        write = _STEPS.get(kind)
        if write is None:
            self.step(at, kind, ev.name_of(kind))
        else:
            write(self, at, event)

    def started_execution(self, at: datetime, event: Any) -> None:
        trigger = event.trigger
        self.step(
            at,
            type(event),
            f"started by {event.by} (trigger {trigger['triggerType']}) on version "
            f"{event.pipeline_version}, {event.execution_mode} mode",
            by=event.by,
        )

    def revision(self, at: datetime, event: Any) -> None:
        fresh = "a new revision" if event.new else "a revision seen before"
        self.step(at, type(event), f"{event.action} carried {fresh}: {event.revision_id}")

    def held(self, at: datetime, event: Any) -> None:
        holder = f" (held by {event.holder})" if event.holder else ""
        self.step(
            at,
            type(event),
            f"waiting to enter {event.stage}: {event.reason}{holder}",
            stage=event.stage,
            reason=event.reason,
        )

    def action_started(self, at: datetime, event: Any) -> None:
        self.runs[event.action_execution_id] = event
        self.step(
            at,
            type(event),
            f"{event.stage}/{event.action} attempt {event.attempt} started",
            stage=event.stage,
            action=event.action,
            attempt=event.attempt,
        )

    def approval_requested(self, at: datetime, event: Any) -> None:
        begun = self.runs[event.action_execution_id]
        self.step(
            at,
            type(event),
            f"{begun.stage}/{begun.action} waits for approval until {event.expires_at.isoformat()}",
            token=event.token,
        )

    def action_ended(self, at: datetime, event: Any) -> None:
        kind = type(event)
        begun = self.runs[event.action_execution_id]
        took = _seconds(begun.timestamp, at)
        result = _RESULTS[kind]
        text = f"{begun.stage}/{begun.action} attempt {begun.attempt} {result} after {took}s"
        by = getattr(event, "by", None)
        if by:
            text += f" by {by}"
        comment = getattr(event, "summary", None) or getattr(event, "reason", None)
        if kind is ev.ActionFailed:
            comment = f"{event.error_code}: {event.error_message}"
        if comment:
            text += f": {comment}"
        self.step(
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

    def stage_ended(self, at: datetime, event: Any) -> None:
        result = "succeeded" if type(event) is ev.StageSucceeded else "failed"
        self.step(at, type(event), f"stage {event.stage} {result}", stage=event.stage)

    def stage_retried(self, at: datetime, event: Any) -> None:
        self.step(
            at,
            type(event),
            f"stage {event.stage} retried by {event.by} ({event.retry_mode}, {event.trigger})",
            by=event.by,
        )

    def succeeded(self, at: datetime, event: Any) -> None:
        self.step(at, type(event), f"execution succeeded after {_seconds(self.started, at)}s")


_RESULTS: dict[type, str] = {
    ev.ActionSucceeded: "succeeded",
    ev.ActionFailed: "failed",
    ev.ActionAbandoned: "abandoned",
    ev.ApprovalGranted: "approved",
    ev.ApprovalRejected: "rejected",
}

_Step = Callable[[_Timeline, datetime, Any], None]
# How each event class reads in a timeline; any other event is shown by its name.
_STEPS: dict[type, _Step] = {
    ev.ExecutionStarted: _Timeline.started_execution,
    ev.RevisionDetected: _Timeline.revision,
    ev.StageEntered: lambda t, at, e: t.step(at, type(e), f"entered {e.stage}", stage=e.stage),
    ev.ExecutionHeld: _Timeline.held,
    ev.ActionStarted: _Timeline.action_started,
    ev.ApprovalRequested: _Timeline.approval_requested,
    **dict.fromkeys(_RESULTS, _Timeline.action_ended),
    ev.StageSucceeded: _Timeline.stage_ended,
    ev.StageFailed: _Timeline.stage_ended,
    ev.StageRetried: _Timeline.stage_retried,
    ev.ExecutionSucceeded: _Timeline.succeeded,
    ev.ExecutionFailed: lambda t, at, e: t.step(
        at, type(e), f"execution failed in {e.stage}: {e.summary}"
    ),
    ev.ExecutionStopRequested: lambda t, at, e: t.step(
        at, type(e), f"stop requested by {e.by}: {e.reason}", by=e.by
    ),
    ev.ExecutionStopped: lambda t, at, e: t.step(
        at, type(e), f"execution stopped: {e.reason}", by=e.by
    ),
    ev.ExecutionSuperseded: lambda t, at, e: t.step(
        at, type(e), f"superseded at {e.stage} by {e.superseded_by}"
    ),
    ev.ExecutionCancelled: lambda t, at, e: t.step(
        at, type(e), f"cancelled by {e.by}: {e.reason}", by=e.by
    ),
}


def timeline(store: Events, execution_id: str) -> list[dict[str, Any]]:
    """Every step of an execution from its events: what happened, when, how long it took."""
    own = _execution_events(store, execution_id)
    revisions = [
        e
        for e in events_until(store, own[0].pipeline_id, None)
        if type(e) is ev.RevisionDetected and e.execution_id == execution_id
    ]
    # At one instant the execution's own events come before its pipeline's revisions.
    merged = sorted(
        [(e.timestamp, 0, i, e) for i, e in enumerate(own)]
        + [(e.timestamp, 1, i, e) for i, e in enumerate(revisions)],
        key=lambda item: (item[0], item[1], item[2]),
    )
    steps = _Timeline(own[0].timestamp)
    for at, _, _, event in merged:
        steps.add(at, event)
    return steps.steps


# ----- re-deriving the planner's decisions --------------------------------------------------

Rule = Callable[[Any], bool]


def _always(_: Any) -> bool:
    return True


def _caused_by(*causes: Cause) -> Rule:
    """A decision when the event's recorded cause is one of these (old events get theirs by
    upcasting, so every event of these classes has one)."""
    kinds = frozenset(causes)

    def rule(event: Any) -> bool:
        return bool(event.cause["kind"] in kinds)

    return rule


# Which execution and gate events only the planner produces (the rest are news from commands and
# providers): one rule per event class; a class missing here is news.
DECISION_RULES: dict[type, Rule] = {
    ev.StageEntered: _always,
    ev.ExecutionHeld: _always,
    ev.ActionStarted: _always,
    ev.ApprovalRequested: _always,
    ev.StageSucceeded: _always,
    ev.StageFailed: _always,
    ev.ExecutionSucceeded: _always,
    ev.ExecutionFailed: _always,
    ev.ExecutionSuperseded: _always,
    ev.StageLocked: _always,
    ev.StageUnlocked: _always,
    ev.ExecutionQueued: _always,
    ev.ExecutionDequeued: _always,
    ev.ExecutionDeactivated: _always,
    ev.ActionFailed: _caused_by(Cause.TIMED_OUT, Cause.CONFIGURATION_ERROR),
    ev.ActionAbandoned: _caused_by(Cause.STOP_REQUESTED),
    ev.ExecutionStopped: _caused_by(Cause.STOPPED_BY_REQUEST),
    ev.StageRetried: lambda e: e.trigger == RetryTrigger.AUTOMATED,
}


def _is_decision(event: Any) -> bool:
    rule = DECISION_RULES.get(type(event))
    return rule is not None and rule(event)


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
    # A planner decision (not an event) printed for people: its class name is only text here.
    fields = {k: v for k, v in vars(decision).items() if k != "execution_id"}
    text = ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"{type(decision).__name__}({decision.execution_id[:8]}{', ' + text if text else ''})"


class _Replayer:
    def __init__(self) -> None:
        self.pipeline: Any = None
        self.executions: dict[str, PipelineExecution] = {}

    def apply(self, event: Any) -> None:
        if type(event) is ev.ExecutionStarted or str(event.originator_id) in self.executions:
            key = str(event.originator_id)
            self.executions[key] = event.mutate(self.executions.get(key))
        else:
            self.pipeline = event.mutate(self.pipeline)


def family_events(log: Any, execution_id: str) -> list[tuple[int, Any]]:
    """The execution's pipeline's events and its executions', with their log positions.

    Reads the application log once (skipping other pipelines' events before mapping them), up to
    the execution's last event: positions order the commands that share an instant.
    """
    own = _execution_events(log.events, execution_id)
    # The pipeline's executions join the family as the pipeline activates them (the aggregate
    # names only its recent ones): each transaction records the pipeline's events before its
    # executions', so no execution's first event comes before its activation.
    family = {own[0].pipeline_id}
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
                if type(event) is ev.ExecutionActivated:
                    family.add(event.execution_id)
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
        if type(event) is ev.ExecutionStarted:
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
        problem = _Merge(replay, queues, positions, check).run(at)
        if problem:
            check.ok = False
            check.divergence = f"at {at.isoformat()}: {problem}"
            return check
    return check


Predicate = Callable[[Any], bool]


def _kind(cls: type, *, cause: Cause | None = None, **fields: Any) -> Predicate:
    """An event of class `cls` with these field values and, if given, this kind of cause."""

    def matches(e: Any) -> bool:
        if type(e) is not cls or any(getattr(e, k, None) != v for k, v in fields.items()):
            return False
        return cause is None or (getattr(e, "cause", None) or {}).get("kind") == cause

    return matches


# The execution events each planner decision records, in order (the first is required).
_IMPLIED: dict[type, Callable[[Any], list[Predicate]]] = {
    planner.EnterStage: lambda d: [_kind(ev.StageEntered, stage=d.stage)],
    planner.WaitAtStage: lambda d: [_kind(ev.ExecutionHeld, stage=d.stage, reason=d.reason)],
    planner.Supersede: lambda d: [
        _kind(ev.ExecutionSuperseded, stage=d.stage, superseded_by=d.by_execution_id)
    ],
    planner.StartAction: lambda d: [
        _kind(ev.ActionStarted, stage=d.stage, action=d.action),
        _kind(ev.ActionFailed, cause=Cause.CONFIGURATION_ERROR),
        _kind(ev.ApprovalRequested),
    ],
    planner.SucceedStage: lambda d: [_kind(ev.StageSucceeded, stage=d.stage)],
    planner.SucceedExecution: lambda d: [_kind(ev.ExecutionSucceeded)],
    planner.FailStage: lambda d: [
        _kind(ev.StageFailed, stage=d.stage),
        _kind(ev.ExecutionFailed, stage=d.stage),
    ],
    planner.TimeOutAction: lambda d: [
        _kind(ev.ActionFailed, action_execution_id=d.action_execution_id, cause=Cause.TIMED_OUT)
    ],
    planner.AbandonAction: lambda d: [
        _kind(ev.ActionAbandoned, action_execution_id=d.action_execution_id)
    ],
    planner.StopExecution: lambda d: [_kind(ev.ExecutionStopped)],
    planner.RetryStage: lambda d: [
        _kind(ev.StageRetried, stage=d.stage, trigger=RetryTrigger.AUTOMATED)
    ],
}


def _expected(decision: planner.Decision) -> list[Predicate]:
    """Predicates for the execution events the decision records, in order (first is required)."""
    implied = _IMPLIED.get(type(decision))
    return implied(decision) if implied is not None else []


class _Merge:
    """One instant of the log: per-aggregate queues merged as the planner directs."""

    def __init__(
        self,
        replay: _Replayer,
        queues: dict[int, deque[Any]],
        positions: dict[int, int],
        check: DecisionCheck,
    ) -> None:
        self.replay = replay
        self.queues = queues
        self.positions = positions
        self.check = check
        self.order_of = {str(q[0].originator_id): o for o, q in queues.items() if q}

    def run(self, at: datetime) -> str | None:
        """Empty every queue; the first point where planner and log disagree, if any."""
        while any(self.queues.values()):
            decision = self._decide(at)
            if decision is not None and self._confirm(decision):
                continue
            if self._apply_news():
                continue
            heads = ", ".join(ev.name_of(type(q[0])) for q in self.queues.values() if q)
            if decision is None:
                return f"the log shows {heads} but the planner decides nothing"
            return f"the planner decides {_describe(decision)} but the log shows {heads}"
        return None

    def _decide(self, at: datetime) -> planner.Decision | None:
        pipeline = self.replay.pipeline
        # An execution activated in the pipeline's queue is started by a later queue's head.
        if pipeline is None or not all(e in self.replay.executions for e in pipeline.active):
            return None
        return planner.plan(pipeline, self.replay.executions, at)

    def _confirm(self, decision: planner.Decision) -> bool:
        """Apply the events the decision implies, if they are next in its execution's queue."""
        queue = self.queues.get(self.order_of.get(decision.execution_id, -1))
        predicates = _expected(decision)
        if not (queue and predicates and predicates[0](queue[0])):
            return False
        replay = self.replay
        # Gate events recorded before the execution's own (dequeue, lock) come first.
        self._news_at_pipeline_head(self.positions[id(queue[0])])
        _pre_gate(self.queues, decision, replay)
        replay.apply(queue.popleft())
        for follows in predicates[1:]:
            if queue and follows(queue[0]):
                replay.apply(queue.popleft())
        _post_gate(self.queues, decision, replay)
        self.check.decisions += 1
        self.check.confirmed.append(_describe(decision))
        return True

    def _news_at_pipeline_head(self, before: int) -> None:
        # Only the pipeline's news recorded before the decision's event belongs ahead of it.
        pipeline_queue = self.queues.get(0)
        while (
            pipeline_queue
            and not _is_decision(pipeline_queue[0])
            and self.positions[id(pipeline_queue[0])] < before
        ):
            self.replay.apply(pipeline_queue.popleft())

    def _apply_news(self) -> bool:
        """Apply the earliest news still pending, once it is next in its queue.

        News comes in log order; decisions recorded before it in the same queue must be
        re-derived first.
        """
        pending = [
            (self.positions[id(event)], order, index)
            for order, queue in self.queues.items()
            for index, event in enumerate(queue)
            if not _is_decision(event)
        ]
        if not pending:
            return False
        _, order, index = min(pending)
        if index != 0:
            return False
        event = self.queues[order].popleft()
        self.replay.apply(event)
        _news_effects(self.queues, event, self.replay)
        if type(event) is ev.ExecutionStarted:
            self.order_of[str(event.originator_id)] = order
        return True


def _take_gate(
    queues: dict[int, deque[Any]], replay: _Replayer, kinds: tuple[type, ...], eid: str
) -> None:
    """Apply this execution's next gate events in the pipeline's queue, if they are these kinds.

    Other executions' gate events may sit ahead of them: the pipeline records every decision's
    bookkeeping in decision order, and the replay re-derives those decisions in its own turn.
    """
    queue = queues.get(0)
    if not queue:
        return
    for kind in kinds:
        mine = next(
            (i for i, e in enumerate(queue) if getattr(e, "execution_id", None) == eid), None
        )
        if mine is None or type(queue[mine]) is not kind:
            continue
        event = queue[mine]
        del queue[mine]
        replay.apply(event)


def _pre_gate(queues: dict[int, deque[Any]], decision: planner.Decision, replay: _Replayer) -> None:
    eid = decision.execution_id
    match decision:
        case planner.EnterStage():
            _take_gate(queues, replay, (ev.ExecutionDequeued, ev.StageLocked), eid)
        case planner.WaitAtStage():
            _take_gate(queues, replay, (ev.ExecutionQueued,), eid)
        case planner.Supersede():
            _take_gate(queues, replay, (ev.ExecutionDequeued,), eid)
        case planner.StopExecution():
            _take_gate(queues, replay, (ev.ExecutionDequeued,), eid)


def _post_gate(
    queues: dict[int, deque[Any]], decision: planner.Decision, replay: _Replayer
) -> None:
    eid = decision.execution_id
    match decision:
        case planner.SucceedStage():
            _take_gate(queues, replay, (ev.StageUnlocked,), eid)
        case planner.Supersede() | planner.SucceedExecution():
            _take_gate(queues, replay, (ev.ExecutionDeactivated,), eid)
        case planner.FailStage() | planner.StopExecution():
            _take_gate(queues, replay, (ev.StageUnlocked, ev.ExecutionDeactivated), eid)


def _news_effects(queues: dict[int, deque[Any]], event: Any, replay: _Replayer) -> None:
    """Gate bookkeeping that commands (not the planner) record next to their news."""
    kind = type(event)
    eid = str(event.originator_id)
    if kind is ev.StageRetried:
        _take_gate(queues, replay, (ev.ExecutionActivated, ev.StageLocked), eid)
    elif kind is ev.ExecutionStopped:
        _take_gate(queues, replay, (ev.ExecutionDequeued, ev.ExecutionDeactivated), eid)
