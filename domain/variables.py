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
