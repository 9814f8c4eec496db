"""A worker: claims jobs from the board, runs them with their process groups, keeps their leases."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidJobStateException, InvalidNonceException, JobNotFoundException
from engine.app import ActionResult, ActionWork
from engine.board import Accept, JobBoard, JobSummary
from engine.groups import AttemptGroups, attempt_groups
from engine.heartbeats import Heartbeats
from engine.runner import Listener, log_path
from engine.safepath import private_dir, private_file
from engine.wakeup import open_waker

if TYPE_CHECKING:
    from engine.application.jobs import Claimed
    from engine.bootstrap import System

# How long a worker holding jobs waits between looks at the board: a job abandoned under it
# (stop --abandon, a timeout) is killed within this, even on SQLite where nothing notifies.
HOLDING_POLL_SECONDS = 0.25
# How long an idle worker waits at most: lapsed leases become claimable by time alone.
IDLE_POLL_SECONDS = 1.0
# How often a worker's heartbeat row is refreshed.
BEAT_SECONDS = 5.0
# After SIGTERM, how long the groups of an attempt being killed get before SIGKILL.
KILL_GRACE_SECONDS = 0.5
# What the store answers when a claim no longer counts (as opposed to being unreachable).
_REFUSED = (InvalidNonceException, InvalidJobStateException, JobNotFoundException)


def worker_id() -> str:
    """hostname:pid:random, so people can find the process and two runs never share an id."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class _Attempt:
    """One claimed job this worker runs now."""

    claimed: Claimed
    groups: AttemptGroups = field(default_factory=AttemptGroups)
    thread: threading.Thread | None = None
    # Set once this worker knows its claim no longer counts (lost, abandoned, released):
    # its result is not reported, since it would only be refused.
    given_up: str | None = None
    # The provider has returned: from here on only the report is left, nothing to kill.
    finished: bool = False

    @property
    def job_id(self) -> str:
        return self.claimed.job_id


class Worker:
    """Claims jobs, runs each in a thread with its own process groups, and reports results.

    A lease-renewal thread keeps every held claim alive; the moment renewal is refused (the
    claim was lost, the job abandoned) or the board shows the job ended under it, the
    attempt's process groups are killed, so a lost worker never runs on beside its successor.
    """

    def __init__(
        self,
        system: System,
        *,
        name: str | None = None,
        concurrency: int = 4,
        categories: Iterable[str] = (),
        providers: Iterable[str] = (),
        accept: Accept | None = None,
        listener: Listener | None = None,
        grace: float = 10.0,
        kind: str = "worker",
        info: dict[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency: must be at least 1")
        self.system = system
        self.app: Any = system.app
        self.id = name or worker_id()
        self.concurrency = concurrency
        self.categories = frozenset(categories)
        self.providers = frozenset(providers)
        self.accept = accept
        self.listener = listener
        self.grace = grace
        # How the process shows among the store's heartbeats: a `--wait` CLI runs as a worker
        # but must not count as one when commands ask whether anyone runs the queue.
        self.kind = kind
        self.extra_info = dict(info or {})
        self.board = JobBoard(self.app)
        self.runner = system.runner()
        self.lease_seconds = float(self.app.settings.lease_seconds)
        self._held: dict[str, _Attempt] = {}
        self._lock = threading.Lock()
        self._listener_lock = threading.Lock()
        self._stopping = threading.Event()
        self._shut = threading.Event()
        self._kill_now = threading.Event()
        self._shutting = threading.Lock()
        self._changed = threading.Event()
        self.claimed = 0
        self.reported = 0
        self.released = 0

    # ----- public ------------------------------------------------------------------------------

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def run(self, stop: threading.Event, *, until: Callable[[], bool] | None = None) -> None:
        """Claim and run jobs until `stop` is set (or `until()` is true and nothing is held).

        `until` is asked once per look at the board, before claiming: while it is true
        nothing more is claimed. On the way out the running attempts are finished or handed
        back (`shutdown`).
        """
        waker = open_waker(self.app)  # before the first look: no wake-up is lost after it
        beats = Heartbeats.of(self.app)
        beat_id = beats.register(self.kind, self._info())
        renewer = threading.Thread(
            target=self._renew_loop, args=(stop,), name=f"lease-{self.id}", daemon=True
        )
        renewer.start()
        last_beat = time.monotonic()  # real time: a test's pinned clock must not stop beats
        try:
            while not stop.is_set() and not self._stopping.is_set():
                done = until is not None and until()
                if done and not self.held():
                    return
                self._look(claim=not done)
                if time.monotonic() - last_beat >= BEAT_SECONDS:
                    with contextlib.suppress(Exception):
                        beats.beat(beat_id)
                    last_beat = time.monotonic()
                timeout = HOLDING_POLL_SECONDS if self.held() else IDLE_POLL_SECONDS
                if self._changed.is_set():
                    self._changed.clear()
                    continue
                waker.wait(timeout)
        finally:
            self.shutdown(self.grace)
            self._stopping.set()
            renewer.join(timeout=5.0)
            waker.close()
            with contextlib.suppress(Exception):
                beats.stop(beat_id)

    def shutdown(self, grace: float = 10.0, *, kill: bool = False) -> None:
        """Stop claiming; let running attempts finish for up to `grace` seconds, then kill
        their groups and hand their claims back (at once with `kill`).

        Safe from a signal handler while another shutdown waits: `kill` cuts that wait short.
        """
        self._stopping.set()
        if kill:
            self._kill_now.set()
        if not self._shutting.acquire(blocking=False):
            return  # a shutdown is under way; it sees `_kill_now`
        try:
            if self._shut.is_set():
                return
            deadline = time.monotonic() + max(0.0, grace)
            while not self._kill_now.is_set() and time.monotonic() < deadline:
                running = [a.thread for a in self._attempts() if a.thread is not None]
                if not running:
                    break
                running[0].join(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            # Kill first, then release: a successor can claim only once ours runs nothing more.
            left = [a for a in self._attempts() if a.thread is not None and a.thread.is_alive()]
            for attempt in left:
                attempt.given_up = attempt.given_up or "released"
                attempt.groups.kill(KILL_GRACE_SECONDS)
            for attempt in left:
                if attempt.thread is not None:
                    attempt.thread.join(timeout=5.0)
                self._release(attempt, "the worker shut down before the attempt finished")
            self._shut.set()
        finally:
            self._shutting.release()

    # ----- claiming ----------------------------------------------------------------------------

    def _look(self, *, claim: bool = True) -> None:
        try:
            self.board.refresh()
        except Exception as error:  # the store may be briefly unreachable: try again later
            self._say(f"cannot read the job board: {error}")
            return
        # Commands hand started actions to this process's outbox; workers find them on the
        # board instead, so the outbox is emptied rather than left to grow.
        self.app.take_work()
        self._fence_from_board()
        if not claim:
            return
        free = self.concurrency - len(self.held())
        if free <= 0:
            return
        candidates = self.board.claimable(self._now(), self._wanted)
        # Workers that all reach for the oldest job collide on it and lose a transaction
        # each: each takes the oldest few in its own random order, which keeps them
        # roughly first-come first-served without racing for the same one.
        window = candidates[: self.concurrency * 8]
        random.shuffle(window)
        for summary in [*window, *candidates[len(window) :]]:
            if self._stopping.is_set() or free <= 0:
                return
            if summary.job_id in self.held():
                continue
            try:
                claimed = self.app.claim_job(summary.job_id, self.id)
            except Exception as error:
                self._say(f"cannot claim job {summary.job_id}: {error}")
                continue
            if claimed is not None:
                self._start(claimed)
                free -= 1

    def _wanted(self, summary: JobSummary) -> bool:
        if self.categories and summary.category not in self.categories:
            return False
        if self.providers and summary.provider not in self.providers:
            return False
        return self.accept is None or self.accept(summary)

    def _start(self, claimed: Claimed) -> None:
        attempt = _Attempt(claimed)
        attempt.thread = threading.Thread(
            target=self._run_attempt, args=(attempt,), name=f"job-{claimed.job_id}", daemon=True
        )
        with self._lock:
            self._held[claimed.job_id] = attempt
        self.claimed += 1
        attempt.thread.start()

    # ----- running -----------------------------------------------------------------------------

    def _run_attempt(self, attempt: _Attempt) -> None:
        work: ActionWork = attempt.claimed.work
        try:
            self._log(work, f"attempt {attempt.claimed.attempt} claimed by {self.id}")
            # A lost predecessor on this host may have left its workdir: start afresh.
            shutil.rmtree(self.app.settings.work_dir / work.action_execution_id, ignore_errors=True)
            self._notify("started", work, None)
            with attempt_groups(attempt.groups):
                result = self.runner.run_action(work)
            attempt.finished = True
            self._notify("finished" if attempt.given_up is None else "stopped", work, result)
            if attempt.given_up is None:
                self._report(attempt, result)
            else:
                self._log(work, f"attempt {attempt.claimed.attempt} stopped: {attempt.given_up}")
        except Exception as error:  # never let one attempt take the worker down
            self._say(f"attempt of job {attempt.job_id} failed inside the worker: {error!r}")
        finally:
            with self._lock:
                self._held.pop(attempt.job_id, None)
            self._changed.set()

    def _report(self, attempt: _Attempt, result: ActionResult) -> None:
        claimed = attempt.claimed
        accepted = self.app.report_job(claimed.job_id, claimed.nonce, result)
        self.reported += 1
        if not accepted:
            self._log(claimed.work, f"attempt {claimed.attempt}: its result was refused")

    def _release(self, attempt: _Attempt, reason: str) -> None:
        if attempt.given_up not in (None, "released"):
            return  # the claim is lost already: nothing to hand back
        with contextlib.suppress(*_REFUSED):
            self.app.release_job(attempt.job_id, attempt.claimed.nonce, reason)
            self.released += 1
            self._log(attempt.claimed.work, f"attempt {attempt.claimed.attempt} released: {reason}")

    # ----- fencing: a claim this worker no longer holds stops running at once ------------------

    def _renew_loop(self, stop: threading.Event) -> None:
        period = max(0.05, self.lease_seconds / 3)
        expires: dict[str, datetime] = {}
        while not self._shut.wait(period):
            for attempt in self._attempts():
                if attempt.given_up is not None:
                    continue
                job_id, nonce = attempt.job_id, attempt.claimed.nonce
                try:
                    expires[job_id] = self.app.renew_lease(job_id, nonce)
                except _REFUSED as refused:
                    self._give_up(attempt, f"lease renewal refused: {refused}")
                except Exception as error:
                    # The store is unreachable: once our lease has lapsed another worker may
                    # claim the job, so we stop running it ourselves (self-fencing).
                    deadline = expires.get(job_id, attempt.claimed.lease_expires_at)
                    if self._now() >= deadline:
                        self._give_up(attempt, f"lease lapsed while the store was away: {error}")

    def _fence_from_board(self) -> None:
        held = self._attempts()
        ended = self.board.abandoned_or_ended(a.job_id for a in held)
        for attempt in held:
            if attempt.given_up is not None or attempt.finished:
                continue
            if attempt.job_id in ended:
                self._give_up(attempt, "the job ended (abandoned) while it ran")
                continue
            summary = self.board.summary(attempt.job_id)
            # A board that lags shows an earlier attempt; only a state at or past our claim
            # with another nonce (re-queued after a lapse, or claimed anew) means it is lost.
            if (
                summary is not None
                and summary.attempt >= attempt.claimed.attempt
                and summary.nonce != attempt.claimed.nonce
            ):
                self._give_up(attempt, "the claim was lost (lease lapsed or claimed anew)")

    def _give_up(self, attempt: _Attempt, why: str) -> None:
        if attempt.given_up is not None:
            return
        attempt.given_up = why
        threading.Thread(
            target=attempt.groups.kill, args=(KILL_GRACE_SECONDS,), daemon=True
        ).start()

    # ----- plumbing ----------------------------------------------------------------------------

    def _attempts(self) -> list[_Attempt]:
        with self._lock:
            return list(self._held.values())

    def _now(self) -> datetime:
        now: datetime = self.app.clock.now()
        return now

    def _info(self) -> dict[str, Any]:
        return {
            "worker": self.id,
            "concurrency": self.concurrency,
            "categories": sorted(self.categories),
            "providers": sorted(self.providers),
            **self.extra_info,
        }

    def _log(self, work: ActionWork, line: str) -> None:
        path = log_path(self.app.settings, work.execution_id, work.action_execution_id)
        with contextlib.suppress(OSError):
            # Owner-only from the first byte: this line may come before the runner's.
            private_dir(path.parent)
            private_file(path)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"[conveyor] {line}\n")

    def _notify(self, what: str, work: ActionWork, result: ActionResult | None) -> None:
        # A lock of its own: a listener that blocks (a full stdout pipe) must not stop claims.
        if self.listener is not None:
            with self._listener_lock:
                self.listener(what, work, result)

    def _say(self, message: str) -> None:
        print(f"conveyor worker {self.id}: {message}", file=sys.stderr, flush=True)
