"""Aggregate state rules: copy-on-write values, and only plain values in events and state."""

from __future__ import annotations

from enum import Enum
from typing import Any, Self, cast


def plain(value: Any) -> Any:
    """The value with every enum member (at any depth) replaced by its plain value.

    An event decoded from the store holds plain strings where the command that recorded it
    passed vocabulary members; state built from either must be the same, so events carry only
    plain values from the start.
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    return value


class CopyOnWrite:
    """Lets the repository's cache hand out cheap copies of an aggregate.

    Conveyor's events never change a nested dict or list in place; they build a new one and
    assign it (``self.actions = {**self.actions, key: run}``). So a copy that shares the nested
    values with the cached aggregate is as good as a deep copy, at a fraction of the cost. The
    replay-determinism property tests would catch an event that broke this rule.

    It also makes every event carry plain values (see `plain`), so an aggregate built from
    events just recorded equals one replayed from the store or loaded from a snapshot.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__["_pending_events"] = []
        return clone

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        super().trigger_event(event_class, **plain(kwargs))  # type: ignore[misc]

    @classmethod
    def _create(cls, event_class: type[Any], **kwargs: Any) -> Self:
        return cast(Self, super()._create(event_class, **plain(kwargs)))  # type: ignore[misc]
