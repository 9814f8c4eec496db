"""`--wait`: the CLI runs one execution's jobs itself until that execution settles."""

from __future__ import annotations

import signal
import threading
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
    from engine.board import JobSummary
    from engine.bootstrap import System
    from engine.runner import Listener

# A stop lets running actions finish: Stopping is not settled, Stopped is.
SETTLED_STATUSES = {
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.STOPPED,
    ExecutionStatus.SUPERSEDED,
    ExecutionStatus.CANCELLED,
}
# How often `logs --follow` looks for new lines.
FOLLOW_POLL_SECONDS = 0.3


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


class Waiter:
    """Runs one execution's jobs here (and, alone, what blocks it) until that execution settles.

    The running is the worker's (`engine.worker.Worker`: claims, leases, process groups,
    fencing, hand-back); the waiter only chooses which jobs it takes, decides when the
    execution has settled, streams the running actions' logs, and handles Ctrl-C.
    """

    def __init__(self, sys_: System, execution_id: str, listener: Listener | None) -> None:
        from engine.worker import Worker, worker_id

        self.sys = sys_
        self.app = sys_.app
        self.execution_id = execution_id
        self.pipeline_name = self.app.execution(execution_id).pipeline_name
        self.listener = listener
        self.interrupted = threading.Event()
        # Another execution's jobs are taken only while ours waits on them and nobody else
        # runs the queue: recomputed at every look.
        self.blocked = False
        self.logs: dict[str, tuple[ActionWork, int]] = {}  # action execution id -> (work, offset)
        self.logs_lock = threading.Lock()
        self.worker = Worker(
            sys_,
            name=f"cli-wait:{worker_id().split(':', 1)[1]}",
            concurrency=sys_.settings.workers,
            accept=self._accept,
            listener=self._on_work,
            grace=0.0,
            kind="cli-wait",
            info={"execution": execution_id},
        )

    def run(self) -> PipelineExecution:
        """Run until the execution settles; exits 130 with directions on Ctrl-C."""
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            # On Ctrl-C the worker stops: it kills what runs and hands the claims back.
            self.worker.run(self.interrupted, until=self._settled)
        finally:
            signal.signal(signal.SIGINT, previous)
        execution = self.app.execution(self.execution_id)
        if self.interrupted.is_set():
            err.print(f"\ninterrupted: {where(execution)}")
            err.print(
                "its actions were stopped and handed back; to continue, run "
                "`conveyor worker` or `conveyor server`, "
                f"or give up with `conveyor stop {execution.execution_id} --abandon`."
            )
            raise typer.Exit(130)
        return execution

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted.set()

    def _settled(self) -> bool:
        """Asked by the worker before each look at the board."""
        # Strike deadlines (timeouts) and admit what a finished action unlocked: with no
        # server running, nobody else does it for this execution.
        self.app.advance(self.pipeline_name)
        self.app.take_work()
        self._stream_logs()
        execution = self.app.execution(self.execution_id)
        if settled(self.sys, execution):
            self.blocked = False
            return True
        now = self.app.clock.now()
        ours = any(job.claimable(now) for job in open_jobs(self.sys, execution).values())
        self.blocked = not ours and not self.worker.held() and not workers_alive(self.sys)
        return False

    def _accept(self, job: JobSummary) -> bool:
        if job.execution_id == self.execution_id:
            return True
        return self.blocked and job.pipeline_name == self.pipeline_name

    # ----- logs -----------------------------------------------------------------------------

    def _on_work(self, what: str, work: ActionWork, result: ActionResult | None) -> None:
        """The worker's news of an attempt: follow its log while it runs, then pass it on."""
        aeid = work.action_execution_id
        if what == "started":
            with self.logs_lock:
                self.logs[aeid] = (work, 0)
        else:
            with self.logs_lock:
                self._stream_one(aeid)
                self.logs.pop(aeid, None)
        if self.listener is not None:
            self.listener("started" if what == "started" else "finished", work, result)

    def _stream_logs(self) -> None:
        with self.logs_lock:
            for aeid in list(self.logs):
                self._stream_one(aeid)

    def _stream_one(self, aeid: str) -> None:
        from engine.runner import log_path

        found = self.logs.get(aeid)
        if self.listener is None or found is None:
            return
        work, offset = found
        path = log_path(self.sys.settings, work.execution_id, aeid)
        offset = print_new_lines(path, offset, prefix=f"    {work.action} │ ")
        self.logs[aeid] = (work, offset)


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
