"""Running commands for providers: bash in its own process group, output streamed to the log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# After SIGTERM, how long a timed-out process group gets to exit before SIGKILL.
_TERM_GRACE_SECONDS = 0.5


class ActionLog:
    """Append-only action log; each line written by Conveyor itself starts with a [tag]."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path = path
        self.tag = tag
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def line(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"[{self.tag}] {text}\n")


class Deadline:
    """The action's time budget, shared by every process the provider starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


@dataclass(frozen=True)
class Completed:
    returncode: int
    timed_out: bool
    stdout: str = ""


def base_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The machine's environment plus the action's; git must never wait for a password."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.update(extra)
    return env


def _kill_group(process: subprocess.Popen[bytes], grace: float) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    # Children that ignored SIGTERM, or outlived their parent, still belong to the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: ActionLog,
    deadline: Deadline,
    capture: bool = False,
) -> Completed:
    """Run argv in a new session; stderr (and stdout unless captured) is appended to the log.

    On timeout the whole process group is killed and Completed.timed_out is set.
    """
    with log.path.open("ab") as sink:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else sink,
            stderr=sink,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=deadline.remaining())
        except subprocess.TimeoutExpired:
            _kill_group(process, _TERM_GRACE_SECONDS)
            # Reap whatever the pipe still holds so the child's pipe end is closed.
            if process.stdout is not None:
                process.stdout.close()
            return Completed(returncode=-signal.SIGKILL, timed_out=True)
        # Background jobs a command left behind would otherwise outlive the action.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    text = out.decode("utf-8", "replace") if out else ""
    return Completed(returncode=process.returncode, timed_out=False, stdout=text)


def run_bash(
    script: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: ActionLog,
    deadline: Deadline,
    errexit: bool = True,
) -> Completed:
    """Run a bash script with pipefail (and errexit unless told otherwise)."""
    options = ["-e", "-o", "pipefail"] if errexit else ["-o", "pipefail"]
    return run(["bash", *options, "-c", script], cwd=cwd, env=env, log=log, deadline=deadline)
