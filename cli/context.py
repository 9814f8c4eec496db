"""What every CLI command shares: the system it talks to, who is acting, and error handling."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from domain.errors import ConveyorError, InvalidDefinition

if TYPE_CHECKING:  # the engine loads when a command opens the system, not at import
    from engine.bootstrap import System

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def actor() -> str:
    """Who is acting: CONVEYOR_USER, else the operating-system user."""
    name = os.environ.get("CONVEYOR_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@contextmanager
def system() -> Iterator[System]:
    from engine.bootstrap import build

    built = build()
    try:
        yield built
    finally:
        built.close()


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=False) + "\n")


def report_error(error: ConveyorError, as_json: bool) -> None:
    if as_json:
        sys.stderr.write(json.dumps(error.to_dict(), indent=2) + "\n")
        return
    if isinstance(error, InvalidDefinition):
        err.print(f"[bold red]error[/] {error.code}: {error.message.splitlines()[0]}")
        for problem in error.problems:
            err.print(f"  [yellow]{problem.path}[/]: {problem.message} [dim]\\[{problem.rule}][/]")
        return
    err.print(f"[bold red]error[/] {error.code}: {error.message}")


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """Turn refusals into a clear message and exit code 2; never a traceback for bad input."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except ConveyorError as error:
            report_error(error, as_json)
            raise typer.Exit(2) from None
        except OSError as error:
            err.print(f"[bold red]error[/] {error}")
            raise typer.Exit(1) from None
        except Exception as error:
            # The store being unreachable (a wrong CONVEYOR_DATABASE_URL) is the common case.
            # The store's own connection (engine/schema.py) is a bare sqlite3 one.
            store_modules = ("eventsourcing", "psycopg", "sqlalchemy", "sqlite3")
            if type(error).__module__.startswith(store_modules):
                err.print(f"[bold red]error[/] the event store failed: {error}")
                raise typer.Exit(1) from None
            raise

    return wrapper
