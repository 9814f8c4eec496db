"""Loading the CLI loads none of the heavy packages: each comes with the command that needs it."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "pydantic",
    "yaml",
    "hypothesis",
    "engine.providers",
    "domain.planner",
)


def loaded_after(statement: str) -> list[str]:
    """Which of HEAVY a fresh interpreter holds after running `statement`."""
    probe = f"import sys\n{statement}\nprint(*[m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_importing_the_cli_loads_no_store_views_validation_planner_or_providers() -> None:
    assert loaded_after("import cli.main") == []
