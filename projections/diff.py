"""A readable diff of two versions of a pipeline definition: what changed, then the JSON lines."""

from __future__ import annotations

import difflib
import json
from typing import Any

from domain.pipeline import Pipeline

IGNORED = {"version"}


def _stages(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["name"]: stage for stage in document.get("stages", [])}


def _actions(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {action["name"]: action for action in stage.get("actions", [])}


def _field_changes(
    prefix: str, old: dict[str, Any], new: dict[str, Any], skip: set[str], *, sort: bool = False
) -> list[str]:
    """'<prefix><key>: old -> new' for each key whose value differs, keys sorted."""
    return [
        f"{prefix}{key}: {json.dumps(old.get(key), sort_keys=sort)}"
        f" -> {json.dumps(new.get(key), sort_keys=sort)}"
        for key in sorted((set(old) | set(new)) - skip)
        if old.get(key) != new.get(key)
    ]


def _action_changes(stage: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = _actions(old), _actions(new)
    found = [f"action {stage}/{name} removed" for name in before if name not in after]
    for name in after:
        if name not in before:
            found.append(f"action {stage}/{name} added")
        else:
            found.extend(
                _field_changes(
                    f"action {stage}/{name} ", before[name], after[name], set(), sort=True
                )
            )
    return found


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One sentence per change: pipeline settings, stages, actions and their fields."""
    found = _field_changes("", old, new, IGNORED | {"stages"})
    before, after = _stages(old), _stages(new)
    old_order = [name for name in before if name in after]
    new_order = [name for name in after if name in before]
    found.extend(f"stage {name} removed" for name in before if name not in after)
    found.extend(f"stage {name} added" for name in after if name not in before)
    if old_order != new_order:
        found.append(f"stages reordered: {', '.join(old_order)} -> {', '.join(new_order)}")
    for name in new_order:
        a, b = before[name], after[name]
        found.extend(_field_changes(f"stage {name} ", a, b, {"actions", "name"}))
        found.extend(_action_changes(name, a, b))
    return found


def pipeline_diff(pipeline: Pipeline, first: int, second: int) -> dict[str, Any]:
    """Changes from version `first` to `second`, plus a unified diff of the documents."""
    pipeline.declaration(first)  # refuses a version that does not exist, naming the latest
    pipeline.declaration(second)
    old = pipeline.definitions[first - 1]
    new = pipeline.definitions[second - 1]
    old_text = json.dumps(old, indent=2, sort_keys=True).splitlines()
    new_text = json.dumps(new, indent=2, sort_keys=True).splitlines()
    unified = list(
        difflib.unified_diff(
            old_text,
            new_text,
            fromfile=f"{pipeline.name} v{first}",
            tofile=f"{pipeline.name} v{second}",
            lineterm="",
        )
    )
    return {
        "pipelineName": pipeline.name,
        "from": first,
        "to": second,
        "changes": changes(old, new),
        "diff": unified,
    }
