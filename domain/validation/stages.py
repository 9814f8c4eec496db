"""Rules on stages: their count and names, runOrder groups, source placement and conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.validation import constraints as c
from domain.validation.actions import check_action
from domain.validation.checker import ActionView, Checker
from domain.validation.raw import ROOT, items, obj
from domain.vocabulary import ActionCategory, ExecutionMode

_CONDITION_RESULTS = (
    ("onFailure", c.FAILURE_RESULTS),
    ("onSuccess", c.SUCCESS_RESULTS),
    ("beforeEntry", c.ENTRY_RESULTS),
)


def check_stages(check: Checker) -> None:
    """Every stage and its actions; records the actions for the flow and trigger rules."""
    stages = check.doc.get("stages")
    if not isinstance(stages, list):
        return  # pydantic reported it missing or of the wrong type
    path = f"{ROOT}.stages"
    _check_stage_count(check, path, len(stages))
    names: dict[str, int] = {}
    for index, stage in enumerate(stages):
        _check_stage(check, f"{path}[{index}]", index, obj(stage), names)
    total = len(check.actions)
    if total > check.limits.max_actions_per_pipeline:
        check.add(
            path,
            "pipeline.actions-count",
            f"the pipeline has {total} actions; at most "
            f"{check.limits.max_actions_per_pipeline} are allowed",
        )
    if check.actions and all(a.category == ActionCategory.SOURCE for a in check.actions):
        check.add(
            path,
            "stages.non-source-required",
            "every action is a source action; at least one stage must hold an action "
            "that is not a source action",
        )


def _check_stage_count(check: Checker, path: str, count: int) -> None:
    low, high = check.limits.min_stages, check.limits.max_stages
    if count < low:
        check.add(
            path,
            "stages.count",
            f"the pipeline has {count} stage{'s' if count != 1 else ''}; it needs at "
            f"least {low} (a source stage and at least one more)",
        )
    elif count > high:
        check.add(
            path, "stages.count", f"the pipeline has {count} stages; at most {high} are allowed"
        )


def _check_stage(
    check: Checker, path: str, index: int, stage: Mapping[str, Any], names: dict[str, int]
) -> None:
    name = stage.get("name")
    check.text(f"{path}.name", name, c.name("a stage name"))
    stage_name = name if isinstance(name, str) else f"#{index + 1}"
    if isinstance(name, str):
        if name in names:
            check.add(
                f"{path}.name",
                "stage.name-unique",
                f"stage name '{name}' is already used by stage #{names[name] + 1}; "
                "stage names must be unique",
            )
        else:
            names[name] = index
    for blocker_index, blocker in enumerate(items(stage.get("blockers"))):
        here = f"{path}.blockers[{blocker_index}]"
        check.text(f"{here}.name", obj(blocker).get("name"), c.BLOCKER_NAME)
        check.enum(f"{here}.type", obj(blocker).get("type"), ("Schedule",))
    _check_conditions(check, path, stage)
    actions = stage.get("actions")
    if not isinstance(actions, list):
        return
    views = _check_actions(check, path, index, stage_name, actions)
    check.actions.extend(views)
    _check_groups(check, path, stage_name, views)
    _check_source_position(check, path, index, stage_name, views)


def _check_actions(
    check: Checker, path: str, index: int, stage_name: str, actions: list[Any]
) -> list[ActionView]:
    count = len(actions)
    if not 1 <= count <= check.limits.max_actions_per_stage:
        check.add(
            f"{path}.actions",
            "stage.actions-count",
            f"stage '{stage_name}' has {count} actions; a stage holds 1 to "
            f"{check.limits.max_actions_per_stage}",
        )
    views: list[ActionView] = []
    action_names: dict[str, int] = {}
    for action_index, action in enumerate(actions):
        here = f"{path}.actions[{action_index}]"
        view = check_action(check, here, index, stage_name, action_index, obj(action))
        views.append(view)
        if view.name in action_names:
            check.add(
                f"{view.path}.name",
                "action.name-unique",
                f"action name '{view.name}' is already used in stage '{stage_name}' by "
                f"action #{action_names[view.name] + 1}; action names must be unique "
                "within a stage",
            )
        elif not view.name.startswith("#"):
            action_names[view.name] = action_index
    return views


def _check_groups(check: Checker, path: str, stage_name: str, views: list[ActionView]) -> None:
    sizes: dict[int, int] = {}
    for view in views:
        sizes[view.run_order] = sizes.get(view.run_order, 0) + 1
    for order, size in sorted(sizes.items()):
        if size > check.limits.max_parallel_actions:
            check.add(
                f"{path}.actions",
                "stage.parallel-count",
                f"stage '{stage_name}' runs {size} actions in parallel at runOrder "
                f"{order}; at most {check.limits.max_parallel_actions} are allowed",
            )
    if len(sizes) > check.limits.max_sequential_actions:
        check.add(
            f"{path}.actions",
            "stage.sequential-count",
            f"stage '{stage_name}' has {len(sizes)} sequential runOrder groups; at most "
            f"{check.limits.max_sequential_actions} are allowed",
        )


def _check_source_position(
    check: Checker, path: str, index: int, stage_name: str, views: list[ActionView]
) -> None:
    known = [view for view in views if view.category is not None]
    if index > 0:
        for view in known:
            if view.category == ActionCategory.SOURCE:
                check.add(
                    view.path,
                    "stage.source-only-first",
                    f"source action '{view.name}' is in stage '{stage_name}'; only the "
                    "first stage may contain source actions",
                )
        return
    if views and not any(view.category == ActionCategory.SOURCE for view in views):
        check.add(
            path,
            "stage.first-must-be-source",
            f"the first stage ('{stage_name}') must contain at least one source "
            "action, and source actions only",
        )
        return
    for view in known:
        if view.category != ActionCategory.SOURCE:
            check.add(
                view.path,
                "stage.first-must-be-source",
                f"the first stage may contain source actions only; "
                f"'{view.name}' is a {view.category} action",
            )


def _check_conditions(check: Checker, path: str, stage: Mapping[str, Any]) -> None:
    for key, allowed in _CONDITION_RESULTS:
        if key not in stage or stage[key] is None:
            continue
        here = f"{path}.{key}"
        if check.is_v1():
            check.add(
                here,
                "conditions.v2-only",
                f"stage {key} conditions need a V2 pipeline; {check.v1_reason()}",
            )
        block = obj(stage[key])
        if key == "onFailure":
            _check_result(check, f"{here}.result", block.get("result"), allowed, key)
            # An omitted retryConfiguration means FAILED_ACTIONS, the console's default and
            # the planner's: retrying only what failed is the least surprising choice.
            retry = obj(block.get("retryConfiguration"))
            check.enum(
                f"{here}.retryConfiguration.retryMode", retry.get("retryMode"), c.RETRY_MODES
            )
        if block.get("conditions") is not None:
            _check_condition_list(check, here, items(block.get("conditions")), allowed, key)


def _check_condition_list(
    check: Checker, path: str, conditions: list[Any], allowed: tuple[str, ...], key: str
) -> None:
    if len(conditions) != 1:
        check.add(
            f"{path}.conditions",
            "conditions.count",
            f"{key} holds exactly one condition; it has {len(conditions)}",
        )
    for index, condition in enumerate(conditions):
        item = obj(condition)
        here = f"{path}.conditions[{index}]"
        _check_result(check, f"{here}.result", item.get("result"), allowed, key)
        rules = item.get("rules")
        if isinstance(rules, list) and not 1 <= len(rules) <= c.CONDITION_RULES_MAX:
            check.add(
                f"{here}.rules",
                "condition.rules-count",
                f"a condition holds 1 to {c.CONDITION_RULES_MAX} rules; it has {len(rules)}",
            )


def _check_result(
    check: Checker, path: str, result: Any, allowed: tuple[str, ...], key: str
) -> None:
    if not isinstance(result, str):
        return
    if result not in allowed:
        check.add(
            path,
            "condition.result",
            f"{key} result must be {' or '.join(allowed)}, not '{result}'",
        )
    elif result == "ROLLBACK" and check.execution_mode == ExecutionMode.PARALLEL:
        check.add(
            path,
            "rollback.parallel-mode",
            "a PARALLEL pipeline cannot roll stages back; ROLLBACK is not allowed",
        )
