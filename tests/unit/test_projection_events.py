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
