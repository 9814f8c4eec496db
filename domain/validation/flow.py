"""Rules across actions: artifact flow, namespaces and variable references, in run order."""

from __future__ import annotations

from collections.abc import Mapping

from domain.validation.checker import ActionView, Checker
from domain.validation.raw import key, obj
from domain.variables import CODEPIPELINE, CODEPIPELINE_VARIABLES, PIPELINE_VARIABLES, references

Group = tuple[tuple[int, int], list[ActionView]]


def check_flow(check: Checker) -> None:
    """Outputs are unique, namespaces are unique and not artifact names, and every input and
    variable reference is produced by an action that runs earlier."""
    producers = _check_outputs(check)
    owners = _check_namespaces(check, producers)
    artifacts: set[str] = set()
    namespaces: set[str] = set()
    for _, group in _execution_groups(check.actions):
        for action in group:
            for path, name in action.inputs:
                if name not in artifacts:
                    check.add(
                        path,
                        "artifact.input-undefined",
                        _undefined_input(action, name, producers.get(name), artifacts),
                    )
            _check_references(check, action, namespaces, owners)
        # A group's outputs and namespaces become visible only to the groups after it.
        for action in group:
            artifacts.update(name for _, name in action.outputs)
            if action.namespace is not None:
                namespaces.add(action.namespace)


def _check_outputs(check: Checker) -> dict[str, ActionView]:
    """The action producing each artifact; reports an artifact produced twice."""
    producers: dict[str, ActionView] = {}
    ordered = sorted(check.actions, key=lambda a: (a.stage_index, a.run_order))
    for action in ordered:
        for path, name in action.outputs:
            first = producers.get(name)
            if first is None:
                producers[name] = action
                continue
            where = "this action" if first is action else f"action {first.describe()}"
            check.add(
                path,
                "artifact.output-unique",
                f"output artifact '{name}' is already produced by {where}; output "
                "artifact names must be unique across the pipeline",
            )
    return producers


def _check_namespaces(check: Checker, producers: Mapping[str, ActionView]) -> dict[str, ActionView]:
    """The action declaring each namespace; reports repeats and clashes with artifact names."""
    owners: dict[str, ActionView] = {}
    consumed = {name for action in check.actions for _, name in action.inputs}
    for action in check.actions:
        namespace = action.namespace
        if namespace is None:
            continue
        if namespace in owners:
            check.add(
                f"{action.path}.namespace",
                "namespace.unique",
                f"namespace '{namespace}' is already declared by action "
                f"{owners[namespace].describe()}; namespaces must be unique",
            )
        else:
            owners[namespace] = action
        if namespace in producers or namespace in consumed:
            check.add(
                f"{action.path}.namespace",
                "namespace.conflicts-artifact",
                f"namespace '{namespace}' is also an artifact name; namespaces cannot "
                "conflict with artifact names",
            )
    return owners


def _execution_groups(actions: list[ActionView]) -> list[Group]:
    """Actions grouped by (stage, runOrder) in the order they run."""
    groups: dict[tuple[int, int], list[ActionView]] = {}
    for action in actions:
        groups.setdefault((action.stage_index, action.run_order), []).append(action)
    return sorted(groups.items(), key=lambda item: item[0])


def _undefined_input(
    action: ActionView, name: str, producer: ActionView | None, available: set[str]
) -> str:
    head = f"input artifact '{name}' is not produced by any earlier action"
    if producer is None:
        known = ", ".join(sorted(available)) or "none"
        return f"{head}; no action produces it (artifacts available here: {known})"
    if producer is action:
        return f"{head}; it is this action's own output"
    if producer.stage_index == action.stage_index and producer.run_order == action.run_order:
        return (
            f"{head}; it is produced by '{producer.name}' in the same stage at the same "
            f"runOrder ({action.run_order}), which runs in parallel with this action"
        )
    if producer.stage_index == action.stage_index:
        return (
            f"{head}; it is produced by '{producer.name}' in this stage at runOrder "
            f"{producer.run_order}, which runs later"
        )
    return (
        f"{head}; it is produced by '{producer.name}' in stage '{producer.stage_name}', "
        "which runs later"
    )


def _check_references(
    check: Checker, action: ActionView, available: set[str], owners: Mapping[str, ActionView]
) -> None:
    for name, value in obj(action.raw.get("configuration")).items():
        if not isinstance(value, str):
            continue
        path = f"{action.path}.configuration{key(str(name))}"
        for namespace, variable in references(value):
            problem = _reference_problem(check, action, namespace, variable, available, owners)
            if problem is not None:
                check.add(path, "variable.reference", f"#{{{namespace}.{variable}}}: {problem}")


def _reference_problem(
    check: Checker,
    action: ActionView,
    namespace: str,
    name: str,
    available: set[str],
    owners: Mapping[str, ActionView],
) -> str | None:
    if namespace == CODEPIPELINE:
        if name in CODEPIPELINE_VARIABLES:
            return None
        return f"codepipeline defines only {', '.join(CODEPIPELINE_VARIABLES)}"
    if namespace == PIPELINE_VARIABLES:
        if name in check.variable_names:
            return None
        declared = ", ".join(sorted(check.variable_names)) or "none"
        return f"pipeline variable '{name}' is not declared (declared: {declared})"
    if namespace in available:
        return None
    owner = owners.get(namespace)
    if owner is action:
        return "an action cannot read its own namespace; its variables exist only after it ran"
    if owner is not None:
        return (
            f"namespace '{namespace}' belongs to action {owner.describe()}, which does not "
            "run before this action"
        )
    known = ", ".join(sorted(available)) or "none"
    return f"no action declares namespace '{namespace}' (namespaces available here: {known})"
