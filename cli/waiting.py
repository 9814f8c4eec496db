"""`--wait`: the CLI runs one execution's jobs itself until that execution settles."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from cli.context import err, out
from domain.vocabulary import ExecutionStatus

if TYPE_CHECKING:
    from domain.execution import PipelineExecution
    from domain.job import Job
    from engine.app import ActionResult, ActionWork
    from engine.application.jobs import Claimed
    from engine.bootstrap import System
    from engine.groups import AttemptGroups
    from engine.runner import Listener

POLL_SECONDS = 0.3
# A stop lets running actions finish: Stopping is not settled, Stopped is.
SETTLED_STATUSES = {
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.STOPPED,
    ExecutionStatus.SUPERSEDED,
    ExecutionStatus.CANCELLED,
}
TAIL_LINES = 5


def workers_alive(sys_: System) -> bool:
    from engine.heartbeats import Heartbeats

    return bool(Heartbeats.of(sys_.app).alive(["worker", "server"]))


def open_jobs(sys_: System, execution: PipelineExecution) -> dict[str, Job]:
    return {aeid: job for aeid, job in sys_.app.jobs_of(execution).items() if job.is_open}


def waiting_on_person(sys_: System, execution: PipelineExecution) -> bool:
    """An approval waits for an answer, or the execution is held at a disabled transition."""
    if any(run["token"] for run in execution.in_progress_runs()):
        return True
    held = execution.waiting
    if held is None:
        return False
    return not sys_.app.pipeline_of(execution).transition_enabled(held["stage"])


def settled(sys_: System, execution: PipelineExecution) -> bool:
    if execution.status in SETTLED_STATUSES:
        return True
    if execution.status == ExecutionStatus.STOPPING:
        return False
    if open_jobs(sys_, execution):
        return False
    if waiting_on_person(sys_, execution):
        return True
    # Held in front of a stage whose holder runs nothing: it waits on a person or the clock.
    if execution.waiting is None:
        return False
    others = sys_.app.pipeline_of(execution).active
    return not any(
        open_jobs(sys_, sys_.app.execution(o)) for o in others if o != execution.execution_id
    )


def report_waiting(sys_: System, pipeline_name: str, command: str) -> None:
    """After a command returned at once: say what now waits, when nobody is there to run it."""
    if workers_alive(sys_):
        return
    now = sys_.app.clock.now()
    waiting = 0
    for execution_id in sys_.app.pipeline(pipeline_name).active:
        execution = sys_.app.execution(execution_id)
        waiting += sum(1 for j in open_jobs(sys_, execution).values() if j.claimable(now))
    if not waiting:
        return
    noun = "action waits" if waiting == 1 else "actions wait"
    err.print(
        f"{waiting} {noun} for a worker and none is running: start one with "
        f"`conveyor server` (or `conveyor worker`) in another terminal, "
        f"or rerun with --wait (`{command} --wait`) to run them here."
    )


@dataclass
class _Running:
    claimed: Claimed
    groups: AttemptGroups
    thread: threading.Thread
    log: Path
    offset: int = 0
    result: ActionResult | None = None
    renewed: float = field(default_factory=time.monotonic)


class Waiter:
    """Claims and runs the jobs of one execution (and, alone, what blocks it) until it settles."""

    def __init__(self, sys_: System, execution_id: str, listener: Listener | None) -> None:
        from engine.heartbeats import Heartbeats

        self.sys = sys_
        self.app = sys_.app
        self.execution_id = execution_id
        self.listener = listener
        self.runner = sys_.runner()
        self.heartbeats = Heartbeats.of(sys_.app)
        self.running: dict[str, _Running] = {}
        self.interrupted = threading.Event()
        self.name = ""

    def run(self) -> PipelineExecution:
        """Run until the execution settles; exits 130 with directions on Ctrl-C."""
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        process_id = self.heartbeats.register("cli-wait", {"execution": self.execution_id})
        self.name = f"cli-wait-{process_id[:8]}"
        beat_at = time.monotonic()
        try:
            while not self.interrupted.is_set():
                self._collect()
                execution = self.app.execution(self.execution_id)
                if not self.running and settled(self.sys, execution):
                    return execution
                self._claim(execution)
                self._stream_logs()
                self._renew()
                if time.monotonic() - beat_at > 5:
                    self.heartbeats.beat(process_id)
                    beat_at = time.monotonic()
                self.interrupted.wait(POLL_SECONDS)
            self._abort()
            raise typer.Exit(130)
        finally:
            signal.signal(signal.SIGINT, previous)
            self.heartbeats.stop(process_id)

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted.set()

    # ----- claiming -------------------------------------------------------------------------

    def _claim(self, execution: PipelineExecution) -> None:
        # Settles deadlines (timeouts) and admits what a finished action unlocked.
        self.app.advance(execution.pipeline_name)
        self.app.take_work()
        now = self.app.clock.now()
        candidates = [
            aeid for aeid, job in open_jobs(self.sys, execution).items() if job.claimable(now)
        ]
        if not candidates and not self.running and not settled(self.sys, execution):
            candidates = self._blockers(execution)
        for aeid in candidates:
            if aeid in self.running or len(self.running) >= self.sys.settings.workers:
                continue
            claimed = self.app.claim_job(aeid, self.name)
            if claimed is not None:
                self._start(claimed)

    def _blockers(self, execution: PipelineExecution) -> list[str]:
        """Other executions' claimable jobs, when no worker is alive to run them."""
        if workers_alive(self.sys):
            return []
        now = self.app.clock.now()
        found: list[str] = []
        for other_id in self.app.pipeline_of(execution).active:
            if other_id == execution.execution_id:
                continue
            other = self.app.execution(other_id)
            found += [a for a, j in open_jobs(self.sys, other).items() if j.claimable(now)]
        return found

    def _start(self, claimed: Claimed) -> None:
        from engine.groups import AttemptGroups
        from engine.runner import log_path

        work = claimed.work
        groups = AttemptGroups()
        slot = _Running(
            claimed=claimed,
            groups=groups,
            thread=threading.Thread(target=lambda: None),
            log=log_path(self.sys.settings, work.execution_id, work.action_execution_id),
        )
        slot.thread = threading.Thread(
            target=self._run_one, args=(slot,), name=f"action-{work.action}", daemon=True
        )
        self.running[claimed.job_id] = slot
        self._notify("started", work, None)
        slot.thread.start()

    def _run_one(self, slot: _Running) -> None:
        from engine.groups import attempt_groups

        with attempt_groups(slot.groups):
            slot.result = self.runner.run_action(slot.claimed.work)

    def _collect(self) -> None:
        for job_id, slot in list(self.running.items()):
            if slot.thread.is_alive():
                continue
            self._stream_one(slot)
            del self.running[job_id]
            assert slot.result is not None
            if not slot.groups.cancelled:
                self.app.report_job(job_id, slot.claimed.nonce, slot.result)
            self._notify("finished", slot.claimed.work, slot.result)

    def _renew(self) -> None:
        every = self.sys.settings.lease_seconds / 3
        for slot in self.running.values():
            if slot.groups.cancelled:
                continue
            if not self.app.job(slot.claimed.job_id).holds(slot.claimed.nonce):
                # Stopped, abandoned or timed out meanwhile: its commands must not run on.
                slot.groups.kill()
            elif time.monotonic() - slot.renewed >= every:
                try:
                    self.app.renew_lease(slot.claimed.job_id, slot.claimed.nonce)
                except Exception:  # the claim is gone (stopped, abandoned): stop its commands
                    slot.groups.kill()
                slot.renewed = time.monotonic()

    def _notify(self, what: str, work: ActionWork, result: ActionResult | None) -> None:
        if self.listener is not None:
            self.listener(what, work, result)

    # ----- logs -----------------------------------------------------------------------------

    def _stream_logs(self) -> None:
        for slot in self.running.values():
            self._stream_one(slot)

    def _stream_one(self, slot: _Running) -> None:
        if self.listener is None:
            return
        slot.offset = print_new_lines(
            slot.log, slot.offset, prefix=f"    {slot.claimed.work.action} │ "
        )

    # ----- Ctrl-C ---------------------------------------------------------------------------

    def _abort(self) -> None:
        """Kill what runs, hand the claims back, and say where the execution stands."""
        for slot in self.running.values():
            slot.groups.kill(grace=0.5)
        for slot in self.running.values():
            slot.thread.join(timeout=5)
            try:
                self.app.release_job(slot.claimed.job_id, slot.claimed.nonce, "interrupted")
            except Exception as error:  # the claim already ended: nothing to hand back
                err.print(f"[dim]could not release {slot.claimed.work.action}: {error}[/]")
        self.running.clear()
        execution = self.app.execution(self.execution_id)
        err.print(f"\ninterrupted: {where(execution)}")
        err.print(
            "its actions were stopped and handed back; to continue, run "
            "`conveyor worker` or `conveyor server`, "
            f"or give up with `conveyor stop {execution.execution_id} --abandon`."
        )


def wait_for(sys_: System, execution_ids: list[str], listener: Listener | None) -> None:
    """Run each execution's jobs here, one after the other, until each settles."""
    for execution_id in execution_ids:
        Waiter(sys_, execution_id, listener).run()


def where(execution: PipelineExecution) -> str:
    """The execution's status and the stage it runs or waits at."""
    text = f"execution {execution.execution_id} is {execution.status}"
    stages = sorted({run["stage"] for run in execution.in_progress_runs()})
    if stages:
        text += f", running {', '.join(stages)}"
    if execution.waiting:
        text += f", waiting at {execution.waiting['stage']} ({execution.waiting['reason']})"
    return text


def print_new_lines(path: Path, offset: int, *, prefix: str = "") -> int:
    """Print the complete lines written to `path` after `offset`; the new offset."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return offset
    for line in chunk[: end + 1].decode(errors="replace").splitlines():
        out.print(f"{prefix}{line}", markup=False, highlight=False)
    return offset + end + 1
