"""Process groups of an action attempt: killed together on demand, and by a watchdog if we die."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

# After SIGTERM, how long the groups of a killed attempt get to exit before SIGKILL.
DEFAULT_GRACE_SECONDS = 0.5

# The watchdog's name in `ps` (its $0), so people and tests can tell it from other shells.
WATCHDOG_NAME = "conveyor-watchdog"
# It blocks reading its stdin, a pipe whose only write end this process holds: "done" means the
# group ended normally; end of file without it means this process died, so it kills the group.
# The group id is an argument ($1), never part of the script's text.
_WATCHDOG_SCRIPT = 'read -r word; [ "$word" = done ] || kill -s KILL -- "-$1"'
# sh rather than bash: one starts for every command, and dash starts in a fraction of the time.
_WATCHDOG_SHELL = "/bin/sh"
# A watchdog told "done" exits at once; this only bounds the wait if something is badly wrong.
_WATCHDOG_EXIT_SECONDS = 5.0

_current: ContextVar[AttemptGroups | None] = ContextVar("conveyor_attempt_groups", default=None)


class AttemptGroups:
    """The process groups one action attempt's commands run in, while they run.

    Whoever runs an attempt makes one and sets it for the thread that runs the provider
    (`attempt_groups`); every command started there registers its group here. `kill` may be
    called from any thread: it cancels the attempt, so no further command starts, and kills
    every group still running.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._live: set[int] = set()
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        with self._changed:
            return self._cancelled

    def live(self) -> frozenset[int]:
        """The process group ids of the commands running now."""
        with self._changed:
            return frozenset(self._live)

    def adopt(self, pgid: int) -> bool:
        """Register a group just started; False once cancelled: the caller must kill it.

        Checking and registering under one lock closes the race with `kill`: either kill sees
        the group, or the group's starter sees the cancellation.
        """
        with self._changed:
            if self._cancelled:
                return False
            self._live.add(pgid)
            return True

    def release(self, pgid: int) -> None:
        """The group's command has ended and its group has been killed."""
        with self._changed:
            self._live.discard(pgid)
            self._changed.notify_all()

    def kill(self, grace: float = DEFAULT_GRACE_SECONDS) -> None:
        """Cancel the attempt: SIGTERM every live group, SIGKILL what is left after `grace`.

        Returns once every group it signalled has been released by its command's runner, or
        right after the SIGKILL; a command's runner releases its group only after killing it.
        """
        with self._changed:
            self._cancelled = True
            targets = set(self._live)
        if not targets:
            return
        signal_groups(targets, signal.SIGTERM)
        with self._changed:
            self._changed.wait_for(lambda: not (self._live & targets), timeout=grace)
            left = self._live & targets
        signal_groups(left, signal.SIGKILL)


def signal_groups(pgids: Iterable[int], sig: signal.Signals) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def current_attempt() -> AttemptGroups | None:
    """The attempt the running thread works for, if its runner set one."""
    return _current.get()


@contextlib.contextmanager
def attempt_groups(groups: AttemptGroups) -> Iterator[AttemptGroups]:
    """Make `groups` the current attempt's for the code run inside (this thread only)."""
    token = _current.set(groups)
    try:
        yield groups
    finally:
        _current.reset(token)


class Watchdog:
    """A tiny process that kills one process group if this process dies while it runs.

    It runs in a session of its own, so killing the group it watches does not take it. Its
    stdin is a pipe whose write end only this process holds (pipes are created
    non-inheritable, and children are started with close_fds), so the end of file it waits for
    comes exactly when this process exits, however it exits, SIGKILL included.
    """

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        read_end, self._write_end = os.pipe()
        try:
            self.process = subprocess.Popen(
                [_WATCHDOG_SHELL, "-c", _WATCHDOG_SCRIPT, WATCHDOG_NAME, str(pgid)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                close_fds=True,
                start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    def stand_down(self) -> None:
        """The group ended normally: let the watchdog exit without killing anything.

        It is reaped by a background thread: waiting here for a shell to wake up and exit
        would add a millisecond or more to every command.
        """
        try:
            os.write(self._write_end, b"done\n")
        except BrokenPipeError:
            pass  # it is gone already (someone killed it); nothing to tell
        finally:
            os.close(self._write_end)
        _reaper.reap(self.process)


class _Reaper:
    """One daemon thread that waits for the watchdogs told to stand down, so none is a zombie."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def reap(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            return
        self._queue.put(process)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="watchdog-reaper", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            process = self._queue.get()
            try:
                process.wait(timeout=_WATCHDOG_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()  # told "done", yet still there: something is badly wrong
                process.wait()


_reaper = _Reaper()
