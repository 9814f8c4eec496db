"""The views know every event class by the class itself, and name each one as it was stored."""

from __future__ import annotations

from eventsourcing.domain import DomainEvent

from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry
from projections import events
from projections.audit import DESCRIPTIONS
from projections.timetravel import DECISION_RULES


def event_classes() -> list[type]:
    """Every event class an aggregate records (eventsourcing's unused default `Created` aside)."""
    found: list[type] = [PipelineRegistry.Created]
    for aggregate in (PipelineExecution, Pipeline, PipelineRegistry):
        base = (aggregate.Event, aggregate.Created)
        found.extend(
            value
            for value in vars(aggregate).values()
            if isinstance(value, type) and issubclass(value, DomainEvent) and value not in base
        )
    return found


def test_every_event_class_of_the_aggregates_has_a_public_name() -> None:
    missing = [cls for cls in event_classes() if cls not in events.NAMES]
    assert not missing


def test_the_renamed_participles_keep_the_names_they_were_stored_under() -> None:
    assert events.name_of(events.ExecutionHeld) == "ExecutionWaiting"
    assert events.name_of(events.ExecutionStopRequested) == "ExecutionStopping"


def test_the_audit_trail_describes_every_event_but_the_registry_opening() -> None:
    described = set(DESCRIPTIONS) | {events.RegistryCreated}
    assert set(event_classes()) <= described


def test_decision_rules_are_keyed_by_event_classes() -> None:
    assert set(DECISION_RULES) <= set(event_classes())


def event(cls: type, **fields: object) -> object:
    made = object.__new__(cls)
    made.__dict__.update(fields)
    return made


def test_a_decision_is_told_from_news_by_its_structured_cause_when_it_has_one() -> None:
    from projections.timetravel import _is_decision

    timed_out = event(events.ActionFailed, error_code="X", cause={"kind": "TimedOut"})
    reported = event(
        events.ActionFailed, error_code="TimedOut", cause={"kind": "ActionReportedFailure"}
    )
    stop = event(events.ActionAbandoned, reason="anything", cause={"kind": "StopRequested"})
    cancelled = event(
        events.ActionAbandoned,
        reason="abandoned: stop requested by a",
        cause={"kind": "ExecutionCancelled"},
    )
    expired = event(events.ExecutionStopped, reason="enough", cause={"kind": "TransitionExpired"})
    requested = event(events.ExecutionStopped, reason="x", cause={"kind": "StoppedByRequest"})
    assert [
        _is_decision(e) for e in (timed_out, reported, stop, cancelled, expired, requested)
    ] == [
        True,
        False,
        True,
        False,
        False,
        True,
    ]


def stored_by_the_previous_release(cls: type, **fields: object) -> object:
    """An event as the previous release stored it (no cause), upcast as the mapper does."""
    state = dict(fields)
    cls.upcast_v1_v2(state)  # type: ignore[attr-defined]
    return event(cls, **state)


def test_events_stored_without_a_cause_get_one_by_upcasting_and_are_told_apart_by_it() -> None:
    from projections.timetravel import _is_decision

    old = stored_by_the_previous_release
    unresolved = (
        "variable #{Build.Tag} has no value: nothing earlier in this execution"
        " set 'Tag' in namespace 'Build'"
    )
    failed = old(events.ActionFailed, error_code="ConfigurationError", error_message=unresolved)
    assert _is_decision(failed)
    assert not _is_decision(old(events.ActionFailed, error_code="Boom", error_message="x"))
    stopped = old(events.ActionAbandoned, reason="abandoned: stop requested by x")
    assert _is_decision(stopped)
    assert not _is_decision(old(events.ActionAbandoned, reason="pipeline updated to version 2"))
    expired = old(
        events.ExecutionStopped,
        stage=None,
        by="bob",
        reason="the inbound transition to Deploy was disabled for more than 30 days; "
        "start a new execution to run the latest revision",
    )
    assert not _is_decision(expired)
    assert _is_decision(event(events.StageRetried, trigger="AutomatedStageRetry"))
    assert not _is_decision(event(events.StageRetried, trigger="ManualStageRetry"))
    assert not _is_decision(event(events.ApprovalGranted))
