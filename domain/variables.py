"""Variable references (#{namespace.name}) in action configuration, and their pure resolution."""

from __future__ import annotations

import re
from collections.abc import Mapping

from domain.errors import ValidationException

REFERENCE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}")

# The implicit namespace every execution has, and the one V2 pipeline variables live in.
CODEPIPELINE = "codepipeline"
PIPELINE_VARIABLES = "variables"
# CodePipeline defines exactly one implicit variable; the engine fills it per execution.
CODEPIPELINE_VARIABLES: tuple[str, ...] = ("PipelineExecutionId",)


class UnresolvedVariable(ValidationException):
    """A #{namespace.name} reference with no value in scope when the action starts."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"variable #{{{namespace}.{name}}} has no value: nothing earlier in this execution "
            f"set '{name}' in namespace '{namespace}'"
        )
        self.namespace = namespace
        self.name = name


def references(text: str) -> list[tuple[str, str]]:
    """Every (namespace, name) referenced in `text`, in order of appearance, repeats kept."""
    return [(match.group(1), match.group(2)) for match in REFERENCE.finditer(text)]


def resolve(text: str, scopes: Mapping[str, Mapping[str, str]]) -> str:
    """`text` with every reference replaced by its value; one pass, so values are not re-read."""

    def substitute(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        scope = scopes.get(namespace)
        if scope is None or name not in scope:
            raise UnresolvedVariable(namespace, name)
        return scope[name]

    return REFERENCE.sub(substitute, text)


def resolve_configuration(
    config: Mapping[str, str], scopes: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """The configuration with every value resolved; keys are never resolved."""
    return {key: resolve(value, scopes) for key, value in config.items()}


# CodePipeline's limit on a variable's value given when an execution starts.
OVERRIDE_MAX = 1000


def execution_variables(
    declared: Mapping[str, str | None], overrides: Mapping[str, str]
) -> dict[str, str]:
    """A new execution's pipeline variables: declared defaults, then the caller's overrides.

    `declared` maps each declared variable to its default value (None when it has none).
    Refuses an undeclared or empty override and a declared variable left without a value.
    """
    problems = []
    for key, value in overrides.items():
        if key not in declared:
            known = ", ".join(declared) or "none"
            problems.append(
                f"variables.{key}: not declared by the pipeline (declared: {known})"
                " [variable.undeclared]"
            )
        elif not value:
            problems.append(f"variables.{key}: must not be empty [variable.empty]")
        elif len(value) > OVERRIDE_MAX:
            problems.append(
                f"variables.{key}: the value has {len(value)} characters; at most "
                f"{OVERRIDE_MAX} [variable.value-length]"
            )
    if problems:
        raise ValidationException("; ".join(problems))
    resolved = {name: default for name, default in declared.items() if default}
    resolved.update(overrides)
    missing = [name for name in declared if name not in resolved]
    if missing:
        raise ValidationException(
            "variables: "
            + ", ".join(missing)
            + " ha"
            + ("s" if len(missing) == 1 else "ve")
            + " no default value; pass --var NAME=VALUE [variable.required]"
        )
    return resolved
