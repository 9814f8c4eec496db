"""Running commands for providers: bash in its own process group, output streamed to the log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from engine.groups import AttemptGroups, Watchdog, current_attempt
from engine.providers.base import JOB_FAILED, ActionFailure

# After SIGTERM, how long a timed-out process group gets to exit before SIGKILL.
_TERM_GRACE_SECONDS = 0.5


class ActionLog:
    """Append-only action log; each line written by Conveyor itself starts with a [tag]."""

    def __init__(self, path: Path, tag: str) -> None:
        self.path = path
        self.tag = tag
        # Secret values the action resolved: written as *** wherever they would appear.
        self.masks: tuple[str, ...] = ()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def line(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"[{self.tag}] {self.mask(text)}\n")

    def mask(self, text: str) -> str:
        for secret in sorted(self.masks, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class Deadline:
    """The action's time budget, shared by every process the provider starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


class AttemptAbandoned(ActionFailure):
    """The attempt was cancelled (engine.groups): its commands were killed, no more start."""

    def __init__(self) -> None:
        super().__init__(JOB_FAILED, "abandoned: the attempt was stopped and its processes killed")


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


def _expire(process: subprocess.Popen[bytes], expired: threading.Event, grace: float) -> None:
    """The deadline passed: terminate the whole group, then kill what ignored SIGTERM."""
    expired.set()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM:
            time.sleep(grace)


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

    On timeout the whole process group is killed and Completed.timed_out is set. When the
    thread runs for an attempt (engine.groups), the group is registered with it while it runs,
    and AttemptAbandoned is raised if the attempt is cancelled before or while it runs.
    """
    attempt = current_attempt()
    if attempt is not None and attempt.cancelled:
        raise AttemptAbandoned()
    expired = threading.Event()
    masking = bool(log.masks) and not capture
    with log.path.open("ab") as sink:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture or masking else sink,
            stderr=subprocess.STDOUT if masking else sink,
            start_new_session=True,
        )
        copier = _MaskedCopy(process, sink, log.masks) if masking else None
        try:
            with _guarded(process, attempt):
                out = _wait(process, deadline, expired, streamed=copier is not None)
        finally:
            if copier is not None:
                copier.finish()
    if attempt is not None and attempt.cancelled:
        raise AttemptAbandoned()
    if expired.is_set():
        return Completed(returncode=-signal.SIGKILL, timed_out=True)
    text = out.decode("utf-8", "replace") if out else ""
    return Completed(returncode=process.returncode, timed_out=False, stdout=text)


@contextlib.contextmanager
def _guarded(process: subprocess.Popen[bytes], attempt: AttemptGroups | None) -> Iterator[None]:
    """While the command runs, a watchdog and the attempt know its group; then it is killed."""
    try:
        watchdog = Watchdog(process.pid)
    except BaseException:
        _kill_and_reap(process)
        raise
    try:
        if attempt is not None and not attempt.adopt(process.pid):
            raise AttemptAbandoned()  # cancelled while it started: it never gets to run
        yield
    finally:
        # Background jobs a command left behind would otherwise outlive the action.
        _kill_and_reap(process)
        if attempt is not None:
            attempt.release(process.pid)
        watchdog.stand_down()


class _MaskedCopy:
    """Copies a process's output into the log line by line, secret values replaced by ***."""

    def __init__(self, process: subprocess.Popen[bytes], sink: IO[bytes], masks: Sequence[str]):
        assert process.stdout is not None
        self._source = process.stdout
        self._sink = sink
        encoded = sorted({m.encode() for m in masks if m}, key=len, reverse=True)
        # A value's own lines too: a multi-line secret is printed one line at a time.
        lines = {part for m in encoded for part in m.splitlines() if len(part) >= 3}
        self._masks = encoded + sorted(lines - set(encoded), key=len, reverse=True)
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        for line in iter(self._source.readline, b""):
            for secret in self._masks:
                line = line.replace(secret, b"***")
            self._sink.write(line)
            self._sink.flush()

    def finish(self) -> None:
        # The group is killed by now, so the pipe closes; a process that left the group
        # and kept it open is not waited for.
        self._thread.join(timeout=5)
        self._source.close()


def _wait(
    process: subprocess.Popen[bytes],
    deadline: Deadline,
    expired: threading.Event,
    *,
    streamed: bool = False,
) -> bytes | None:
    # A timer enforces the deadline so the wait below blocks in waitpid: Popen's own
    # timeout polls with sleeps, which cost milliseconds on every short action.
    timer = threading.Timer(
        deadline.remaining(), _expire, args=(process, expired, _TERM_GRACE_SECONDS)
    )
    timer.daemon = True
    timer.start()
    try:
        if streamed:
            process.wait()
            out = None
        else:
            out, _ = process.communicate()
    finally:
        timer.cancel()
    if expired.is_set():
        timer.join()
    return out


def _kill_and_reap(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
