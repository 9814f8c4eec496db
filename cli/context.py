"""What every CLI command shares: the system it talks to, who is acting, and error handling."""

from __future__ import annotations

import errno
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
from rich.markup import escape
from typer.exceptions import TyperException

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
        err.print(f"[bold red]error[/] {error.code}: {escape(error.message.splitlines()[0])}")
        for problem in error.problems:
            err.print(
                f"  [yellow]{escape(problem.path)}[/]: {escape(problem.message)} "
                f"[dim]\\[{escape(problem.rule)}][/]"
            )
        return
    err.print(f"[bold red]error[/] {error.code}: {escape(error.message)}")


def handled(func: Callable[P, R]) -> Callable[P, R]:
    """Turn refusals into a clear message and exit code 2; never a traceback for bad input."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except ConveyorError as error:
            report_error(error, as_json)
            raise typer.Exit(error.exit_code) from None
        except (typer.Exit, typer.Abort, TyperException):  # usage errors, exits: typer's own
            raise
        except Exception as error:
            raise typer.Exit(report_fault(error, as_json)) from None

    return wrapper


# The store's drivers: eventsourcing's, psycopg, SQLAlchemy, and the bare sqlite3 connection the
# store's set-up (engine/schema.py) opens.
_STORE_MODULES = ("eventsourcing", "psycopg", "sqlalchemy", "sqlite3")
# Exit code of a tool the shell saw killed by SIGPIPE (128 + 13), as `yes | head -1` reports.
BROKEN_PIPE_EXIT = 141


# The API's name for a failure that is not the request's fault, which --json mode reports too.
INTERNAL_FAILURE = "InternalFailure"


def report_fault(error: Exception, as_json: bool | None = None) -> int:
    """Say what failed outside the request itself (the environment, the store, a bug) in one
    line, never a traceback; the exit code. CONVEYOR_TRACEBACK=1 re-raises, for debugging.
    Outside a command (`as_json` None) the command line says whether --json was asked for."""
    if as_json is None:
        as_json = "--json" in sys.argv[1:]
    if isinstance(error, ConveyorError):
        report_error(error, as_json)
        return error.exit_code
    if isinstance(error, BrokenPipeError):
        # The reader went away (`conveyor audit --json | head -1`): stop quietly, as Unix tools
        # do; stdout goes to /dev/null so the interpreter's last flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE_EXIT
    if os.environ.get("CONVEYOR_TRACEBACK") == "1":
        raise error
    if isinstance(error, OSError):
        message = describe_os_error(error)
    elif type(error).__module__.startswith(_STORE_MODULES):
        message = f"the event store {_store_label()}failed: {error}{_store_hint(error)}"
    else:
        message = (
            f"internal error ({type(error).__name__}: {error}); this is a bug in Conveyor, "
            "run again with CONVEYOR_TRACEBACK=1 to see where"
        )
    if as_json:
        sys.stderr.write(json.dumps({"__type": INTERNAL_FAILURE, "message": message}) + "\n")
    else:
        err.print(f"[bold red]error[/] {escape(message)}")
    return 1


def describe_os_error(error: OSError) -> str:
    """An operating-system failure as the path and the problem, without Python's `[Errno N]`."""
    problem = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        problem += " (the disk is full, or a file-size limit was reached)"
    if error.filename is None:
        return problem
    if error.filename2 is not None:
        return f"{error.filename} -> {error.filename2}: {problem}"
    return f"{error.filename}: {problem}"


def _store_label() -> str:
    from engine.settings import load_settings

    try:
        return f"({load_settings().store_label()}) "
    except Exception:  # the settings themselves may be what is wrong
        return ""


def _store_hint(error: Exception) -> str:
    text = str(error).lower()
    if "disk i/o error" in text or "disk is full" in text:
        return " (is the disk holding the store full, or a file-size limit reached?)"
    if "not a database" in text or "malformed" in text:
        return " (the store's file is damaged: restore it from a backup)"
    return ""
