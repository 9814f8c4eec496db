"""Copy-on-write aggregate state: every event replaces values, none mutates them in place."""

from __future__ import annotations

from typing import Any, Self


class CopyOnWrite:
    """Lets the repository's cache hand out cheap copies of an aggregate.

    Conveyor's events never change a nested dict or list in place; they build a new one and
    assign it (``self.actions = {**self.actions, key: run}``). So a copy that shares the nested
    values with the cached aggregate is as good as a deep copy, at a fraction of the cost. The
    replay-determinism property tests would catch an event that broke this rule.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__["_pending_events"] = []
        return clone
