"""Reading a file the user named on the command line: the path and the problem, never errno."""

from __future__ import annotations

from pathlib import Path

from domain.errors import ValidationException


def read_input(path: Path, what: str) -> bytes:
    """The bytes of a file the user named; a refusal naming the path and the problem."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "is a directory, not a file"
    except PermissionError:
        problem = "permission denied"
    except OSError as error:
        problem = error.strerror or str(error)
    raise ValidationException(f"{what}: cannot read {path}: {problem}")
