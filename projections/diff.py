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


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One sentence per change: pipeline settings, stages, actions and their fields."""
    found: list[str] = []
    for key in sorted((set(old) | set(new)) - IGNORED - {"stages"}):
        if old.get(key) != new.get(key):
            found.append(f"{key}: {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}")
    before, after = _stages(old), _stages(new)
    old_order = [name for name in before if name in after]
    new_order = [name for name in after if name in before]
    for name in before:
        if name not in after:
            found.append(f"stage {name} removed")
    for name in after:
        if name not in before:
            found.append(f"stage {name} added")
    if old_order != new_order:
        found.append(f"stages reordered: {', '.join(old_order)} -> {', '.join(new_order)}")
    for name in new_order:
        a, b = before[name], after[name]
        for key in sorted((set(a) | set(b)) - {"actions", "name"}):
            if a.get(key) != b.get(key):
                found.append(
                    f"stage {name} {key}: {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}"
                )
        old_actions, new_actions = _actions(a), _actions(b)
        for action in old_actions:
            if action not in new_actions:
                found.append(f"action {name}/{action} removed")
        for action in new_actions:
            if action not in old_actions:
                found.append(f"action {name}/{action} added")
                continue
            x, y = old_actions[action], new_actions[action]
            for key in sorted(set(x) | set(y)):
                if x.get(key) != y.get(key):
                    found.append(
                        f"action {name}/{action} {key}: {json.dumps(x.get(key), sort_keys=True)}"
                        f" -> {json.dumps(y.get(key), sort_keys=True)}"
                    )
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
