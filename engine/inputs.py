"""Reading a file the user named on the command line: the path and the problem, never errno."""

from __future__ import annotations

from pathlib import Path

from domain.errors import Problem, ValidationException


class UnreadableInput(Exception):
    """A file the user named could not be read as text: the problem, at the document's root."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_input(path: Path, what: str) -> bytes:
    """The bytes of a file the user named; a refusal naming the path and the problem."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValidationException(f"{what}: cannot read {path}: {problem(error)}") from None


def read_text(path: Path, syntax: str) -> str:
    """A UTF-8 file the user named; UnreadableInput names the path and why (rule `file`, or
    `syntax` for text that is not UTF-8), for the caller to raise as its own kind of error."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableInput(
            Problem("$", "file", f"cannot read {path}: {problem(error)}")
        ) from None
    except UnicodeDecodeError as error:
        raise UnreadableInput(
            Problem("$", syntax, f"{path} is not UTF-8 text (byte {error.start}: {error.reason})")
        ) from None


def problem(error: OSError) -> str:
    """Why a file could not be read, in words (no `[Errno N]`, no repeated path)."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
