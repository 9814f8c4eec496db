"""Tolerant readers of a raw JSON document, and the paths problems are reported at."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from domain.errors import Problem

ROOT = "pipeline"

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_TOKEN = re.compile(r"\[(\d+)\]|[^.\[\]]+|\[[^\]]*\]")


def obj(value: Any) -> Mapping[str, Any]:
    """The value if it is an object, else an empty one: rules read bad shapes without failing."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def integer(value: Any) -> int | None:
    """The value if it is a whole number (JSON's true and false are not)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def short(text: str, width: int = 40) -> str:
    """The text cut to a width for quoting in a message."""
    return text if len(text) <= width else text[: width - 3] + "..."


def kind(value: Any) -> str:
    """What a JSON value is, in words, for 'must be X, not Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ('{short(value, 20)}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def key(name: str) -> str:
    """A member's path step: `.name` when it is a plain name, else `["na me"]`."""
    return f".{name}" if _PLAIN_KEY.fullmatch(name) else f"[{json.dumps(name)}]"


def path_of(loc: tuple[str | int, ...]) -> str:
    """The path of a pydantic location, rooted at `pipeline`."""
    path = ROOT
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else key(part)
    return path


def ordered(problems: list[Problem]) -> list[Problem]:
    """Problems without repeats, sorted by path (list indices compared as numbers)."""

    def sort_key(problem: Problem) -> list[tuple[int, int, str]]:
        tokens = []
        for match in _PATH_TOKEN.finditer(problem.path):
            index = match.group(1)
            tokens.append((1, int(index), "") if index is not None else (0, 0, match.group(0)))
        return tokens

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=sort_key)
