"""Reading a file the user named on the command line: the path and the problem, never errno."""

from __future__ import annotations

from pathlib import Path

from domain.errors import ValidationException


def read_input(path: Path, what: str) -> bytes:
    """The bytes of a file the user named; a refusal naming the path and the problem."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValidationException(f"{what}: cannot read {path}: {problem(error)}") from None


def problem(error: OSError) -> str:
    """Why a file could not be read, in words (no `[Errno N]`, no repeated path)."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)
