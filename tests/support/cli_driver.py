"""Runs `conveyor` commands one after another in one process: one JSON argv per stdin line.

Each command goes through the CLI's own entry (`cli.main.app`, as the console script calls
it) and opens and closes its own store, as a separate `conveyor` process does; only the
interpreter's start-up is shared. For each line, one JSON line comes back on stdout:
{"argv": [...], "code": exit code or "crash", "stdout": ..., "stderr": ...}. A "crash" is an
exception the CLI let through (its traceback is in "stderr").

Run as `python -m tests.support.cli_driver` from the repository root.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 240


def run(argv: list[str]) -> dict[str, Any]:
    from cli.main import app
    from domain.errors import ConveyorError

    out, err = io.StringIO(), io.StringIO()
    code: int | str
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            # Not standalone: an exit status comes back as the return value, usage errors
            # as exceptions (a command's own return value is None).
            returned = app(argv, standalone_mode=False)
            code = returned if isinstance(returned, int) else 0
        except ConveyorError as error:  # what cli.main.main reports for errors outside commands
            err.write(f"error {error.code}: {error.message}\n")
            code = 2
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except Exception as error:
            exit_code = getattr(error, "exit_code", None)
            if hasattr(error, "show") and isinstance(exit_code, int):
                error.show()  # a usage error, as the console script prints it
                code = exit_code
            else:
                err.write(traceback.format_exc())
                code = "crash"
    return {"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


class Driver:
    """The test's end of a driver process: send commands, receive their results."""

    def __init__(self, env: Mapping[str, str], cwd: Path = REPO) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cli_driver"],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    def send(self, argv: list[str]) -> None:
        self.stdin.write(json.dumps(argv) + "\n")
        self.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the driver died (exit {self.process.poll()})"
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self, *argv: str) -> dict[str, Any]:
        self.send(list(argv))
        return self.receive()

    def finish(self) -> list[dict[str, Any]]:
        """Every result not yet received, once the driver has run out of commands."""
        assert self.process.stdout is not None
        if not self.stdin.closed:
            self.stdin.close()
        out = self.process.stdout.read()
        assert self.process.wait(timeout=DEADLINE_SECONDS) == 0
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def main() -> None:
    real_stdout = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        result = run(json.loads(line))
        real_stdout.write(json.dumps(result) + "\n")
        real_stdout.flush()


if __name__ == "__main__":
    main()
