"""Variable references (#{namespace.name}) in action configuration, and their pure resolution."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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


# ----- values that reach code: shell text and JSON text --------------------------------------
# A value is never spliced into text that is later parsed as code. In shell text each reference
# becomes a reference to an environment variable that carries the value; in JSON text the
# document is parsed first and only its string values are resolved.

SHELL_PREFIX = "CONVEYOR_VAR_"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class ShellBindings:
    """The environment variables that carry referenced values into shell commands."""

    def __init__(self, scopes: Mapping[str, Mapping[str, str]]) -> None:
        self.scopes = scopes
        self._names: dict[tuple[str, str], str] = {}
        self.environment: dict[str, str] = {}

    def variable(self, namespace: str, name: str) -> str:
        """The environment variable holding #{namespace.name}'s value (one per reference)."""
        key = (namespace, name)
        if key in self._names:
            return self._names[key]
        scope = self.scopes.get(namespace)
        if scope is None or name not in scope:
            raise UnresolvedVariable(namespace, name)
        base = SHELL_PREFIX + _UNSAFE.sub("_", f"{namespace}_{name}")
        chosen, suffix = base, 1
        while chosen in self.environment:  # `a-b` and `a_b` must not share a variable
            suffix += 1
            chosen = f"{base}_{suffix}"
        self._names[key] = chosen
        self.environment[chosen] = scope[name]
        return chosen


def bind_shell(text: str, bindings: ShellBindings) -> str:
    """Shell text with each #{ns.name} replaced by a quoted reference to its carrier variable.

    Outside quotes a reference becomes `"${V}"`; inside double quotes `${V}`; inside single
    quotes `'"${V}"'` (the quotes close, the value is inserted, they reopen), so each prints
    the value verbatim, never split, globbed or parsed. A reference after a backslash, or in a
    `#` comment, is left as text.
    """
    return _ShellScanner(text, bindings).run()


class _ShellScanner:
    """Walks shell text tracking quotes, `$( )` and backticks well enough to quote a value."""

    def __init__(self, text: str, bindings: ShellBindings) -> None:
        self.text = text
        self.bindings = bindings
        self.out: list[str] = []
        self.stack: list[str] = []  # open contexts: '"', '(' or '`'
        self.at = 0

    def run(self) -> str:
        while self.at < len(self.text):
            if not self._reference():
                self._step()
        return "".join(self.out)

    @property
    def _quoted(self) -> bool:
        return bool(self.stack) and self.stack[-1] == '"'

    def _reference(self) -> bool:
        match = REFERENCE.match(self.text, self.at)
        if match is None:
            return False
        variable = self.bindings.variable(match.group(1), match.group(2))
        self.out.append(f"${{{variable}}}" if self._quoted else f'"${{{variable}}}"')
        self.at = match.end()
        return True

    def _step(self) -> None:
        text, at = self.text, self.at
        char = text[at]
        if char == "\\":
            self._copy(at + 2)
        elif self._quoted:
            self._inside_double(char)
        elif char == "'" or text.startswith("$'", at):
            self._single_quoted(ansi=char == "$")
        elif char == "#" and (at == 0 or text[at - 1] in " \t\n;&|()"):
            end = text.find("\n", at)
            self._copy(len(text) if end < 0 else end)
        else:
            self._outside_double(char)

    def _inside_double(self, char: str) -> None:
        width = 1
        if char == '"':
            self.stack.pop()
        elif char == "`":
            self.stack.append("`")
        elif self.text.startswith("$(", self.at):
            self.stack.append("(")
            width = 2
        self._copy(self.at + width)

    def _outside_double(self, char: str) -> None:
        if char == '"':
            self.stack.append('"')
        elif char == "(":
            self.stack.append("(")
        elif char == ")" and self.stack and self.stack[-1] == "(":
            self.stack.pop()
        elif char == "`":
            if self.stack and self.stack[-1] == "`":
                self.stack.pop()
            else:
                self.stack.append("`")
        self._copy(self.at + 1)

    def _single_quoted(self, *, ansi: bool) -> None:
        """Up to the closing quote; a reference inside closes the quotes around its value."""
        text = self.text
        opening = "$'" if ansi else "'"
        self.at += len(opening)
        pieces: list[str] = []  # quoted runs and carrier references, in order
        run: list[str] = []
        while self.at < len(text) and text[self.at] != "'":
            match = REFERENCE.match(text, self.at)
            width = 2 if ansi and text[self.at] == "\\" else 1
            if match is None:
                run.append(text[self.at : self.at + width])
                self.at += width
                continue
            if run:
                pieces.append(opening + "".join(run) + "'")
                run = []
            variable = self.bindings.variable(match.group(1), match.group(2))
            pieces.append(f'"${{{variable}}}"')
            self.at = match.end()
        if self.at >= len(text):
            pieces.append(opening + "".join(run))  # unterminated: bash reports it as written
        elif run or not pieces:
            pieces.append(opening + "".join(run) + "'")
        self.at += 1
        self.out.extend(pieces)

    def _copy(self, end: int) -> None:
        self.out.append(self.text[self.at : end])
        self.at = min(end, len(self.text))


def resolve_json_strings(text: str, scopes: Mapping[str, Mapping[str, str]]) -> str:
    """JSON text with references resolved inside its parsed string values, never in its text.

    Raises ValueError when `text` is not JSON: a reference outside a JSON string is refused.
    """
    document = json.loads(text)
    return json.dumps(_resolve_strings(document, scopes))


def _resolve_strings(value: Any, scopes: Mapping[str, Mapping[str, str]]) -> Any:
    if isinstance(value, str):
        return resolve(value, scopes)
    if isinstance(value, list):
        return [_resolve_strings(item, scopes) for item in value]
    if isinstance(value, dict):
        return {key: _resolve_strings(item, scopes) for key, item in value.items()}
    return value


_COMMAND_LISTS = ("commands", "finally")


def resolve_buildspec(text: str, bindings: ShellBindings) -> str:
    """An inline buildspec with references resolved in its parsed YAML, never in its text.

    Phase commands follow the shell rule (bind_shell); every other string gets the plain
    value. Raises ValueError when `text` is not YAML.
    """
    import yaml  # loaded only when an inline buildspec is resolved: CLI start-up stays lean

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"not YAML: {error}") from error
    resolved = _resolve_node(document, (), bindings)
    return yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True)


def _resolve_node(value: Any, path: tuple[Any, ...], bindings: ShellBindings) -> Any:
    if isinstance(value, str):
        is_command = len(path) == 4 and path[0] == "phases" and path[2] in _COMMAND_LISTS
        if is_command:
            return bind_shell(value, bindings)
        return resolve(value, bindings.scopes)
    if isinstance(value, list):
        return [_resolve_node(item, (*path, index), bindings) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _resolve_node(item, (*path, key), bindings) for key, item in value.items()}
    return value
