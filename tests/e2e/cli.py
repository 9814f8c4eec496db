"""Running the real `conveyor` console script in a workspace, as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
}


@dataclass
class Workspace:
    root: Path
    database_url: str | None = None
    # Only `conveyor init` creates a store: a workspace starts with one unless told not to.
    init: bool = True

    def __post_init__(self) -> None:
        if self.init:
            self.run("init")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env.update({"CONVEYOR_HOME": str(self.root / ".conveyor"), "CONVEYOR_USER": "tester"})
        env.update({"NO_COLOR": "1", "COLUMNS": "200", **GIT_ENV})
        if self.database_url:
            env["CONVEYOR_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def run(
        self, *args: str, expect: int | None = 0, **env: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [CONVEYOR, *args],
            cwd=self.root,
            env=self.env(**env),
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if expect is not None:
            assert done.returncode == expect, (
                f"conveyor {' '.join(args)} exited {done.returncode}, expected {expect}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self.run(*args, "--json", expect=expect).stdout)

    def git(self, repo: str, *args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=self.root / repo,
            env={**os.environ, **GIT_ENV},
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()

    def write(self, relative: str, content: str | dict[str, Any]) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
        return path
