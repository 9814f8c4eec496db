"""Reading JSON text a person handed us: no duplicate keys, a depth limit, no runaway numbers."""

from __future__ import annotations

import json
from typing import Any

from domain.errors import Problem
from domain.validation.raw import key

# CodePipeline's definitions nest about eight levels; anything past this is not a definition,
# rules file or scenario, and deeper documents make Python's own recursion give out.
MAX_DEPTH = 64

# Python refuses to turn a longer digit string into an int (CVE-2020-10735's limit).
_DIGITS_LIMIT = "4300"


class JsonTextError(ValueError):
    """JSON text that cannot be taken as it is; carries each problem with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


class _Duplicated(dict[str, Any]):
    """An object whose text named some member more than once (the names are kept)."""

    duplicates: list[str]


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    duplicates: list[str] = []
    for name, value in pairs:
        if name in members and name not in duplicates:
            duplicates.append(name)
        members[name] = value
    if not duplicates:
        return members
    marked = _Duplicated(members)
    marked.duplicates = duplicates
    return marked


def loads(text: str | bytes) -> Any:
    """The value of JSON text; raises JsonTextError naming every problem and where it is."""
    try:
        value = json.loads(text, object_pairs_hook=_members)
    except json.JSONDecodeError as error:
        message = (
            f"the document is not valid JSON: {error.msg} "
            f"at line {error.lineno}, column {error.colno}"
        )
        raise JsonTextError([Problem("$", "json", message)]) from None
    except UnicodeDecodeError as error:
        raise JsonTextError(
            [Problem("$", "json", f"the document is not UTF-8 text: {error.reason}")]
        ) from None
    except RecursionError:
        raise JsonTextError([_too_deep("$")]) from None
    except ValueError as error:  # an integer longer than Python converts
        if _DIGITS_LIMIT not in str(error):
            raise
        message = f"the document holds a number with more than {_DIGITS_LIMIT} digits"
        raise JsonTextError([Problem("$", "json.number", message)]) from None
    problems = _walk(value)
    if problems:
        raise JsonTextError(problems)
    return value


def _too_deep(path: str) -> Problem:
    return Problem(
        path, "json.depth", f"the document nests more than {MAX_DEPTH} levels of lists and objects"
    )


def _walk(value: Any) -> list[Problem]:
    """Duplicated keys and a depth past the limit, found without recursion."""
    problems: list[Problem] = []
    pending: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while pending:
        here, path, depth = pending.pop()
        if depth >= MAX_DEPTH and isinstance(here, dict | list):  # one level more than allowed
            return [_too_deep(path)]
        if isinstance(here, _Duplicated):
            problems.extend(
                Problem(
                    f"{path}{key(name)}",
                    "json.duplicate-key",
                    f"key '{name}' appears more than once in the same object",
                )
                for name in here.duplicates
            )
        if isinstance(here, dict):
            pending.extend((item, f"{path}{key(name)}", depth + 1) for name, item in here.items())
        elif isinstance(here, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(here))
    return sorted(problems, key=lambda problem: problem.path)
