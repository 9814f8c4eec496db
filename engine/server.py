"""The server: the clock that acts without anyone asking (timeouts, lapsed leases), and workers."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from domain.errors import ConveyorError
from engine.board import JobBoard
from engine.heartbeats import Heartbeats
from engine.worker import worker_id

if TYPE_CHECKING:
    from engine.bootstrap import System
    from engine.worker import Worker

# Seconds between two heartbeats of the server's row.
BEAT_SECONDS = 5.0
# Rows of processes stopped or silent this long are deleted, so the table holds the fleet of
# the last week rather than every process that ever ran.
FORGET_AFTER_SECONDS = 7 * 86400.0
# Seconds between two catch-ups of the views, each of which first signs a checkpoint over the
# events recorded since the last one: a store nobody reads is still checkpointed this often.
VIEWS_SECONDS = 30.0


class Server:
    """Ticks the clock for every pipeline and expires lapsed leases; runs embedded workers.

    Every write is an optimistic-concurrency transaction retried on conflict, so several
    servers on one PostgreSQL store tick the same pipelines safely: a decision already made by
    one is simply not made again by the next.
    """

    def __init__(
        self, system: System, *, interval: float = 1.0, workers: Sequence[Worker] = ()
    ) -> None:
        self.system = system
        self.app: Any = system.app
        self.interval = interval
        self.workers = list(workers)
        self.id = worker_id()
        self.board = JobBoard(self.app)
        self.ticks = 0
        self.expired = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def tick(self) -> None:
        """One turn of the clock: every pipeline's timers, then every lapsed lease."""
        for name in self.app.pipeline_names():
            try:
                self.app.advance(name)
            except ConveyorError as error:  # deleted meanwhile, or an invalid state: next time
                self._say(f"cannot advance {name}: {error}")
        self.app.take_work()  # workers find started actions on the board; nothing to hand out
        self.board.refresh()
        self.expired += self.app.expire_leases(self.board.lapsed(self.app.clock.now()))
        self.app.take_work()
        self.ticks += 1

    def run(self, stop: threading.Event) -> None:
        """Tick every `interval` seconds until `stop`; then stop the workers (with their grace)."""
        beats = Heartbeats.of(self.app)
        beat_id = beats.register("server", {"server": self.id, "workers": len(self.workers)})
        self._forget(beats)
        self._catch_up()
        since_views = 0.0
        for worker in self.workers:
            thread = threading.Thread(
                target=worker.run, args=(self._stop,), name=f"worker-{worker.id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        since_beat = 0.0
        try:
            while not stop.is_set() and not self._stop.is_set():
                try:
                    self.tick()
                except Exception as error:  # the store may be briefly unreachable
                    self._say(f"tick failed: {error}")
                since_beat += self.interval
                since_views += self.interval
                if since_views >= VIEWS_SECONDS:
                    self._catch_up()
                    since_views = 0.0
                if since_beat >= BEAT_SECONDS:
                    with contextlib.suppress(Exception):
                        beats.beat(beat_id)
                    self._forget(beats)
                    since_beat = 0.0
                stop.wait(self.interval)
        finally:
            self._stop.set()  # each worker's run() ends with its own shutdown (its grace)
            for thread in self._threads:
                thread.join()
            with contextlib.suppress(Exception):
                beats.stop(beat_id)

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop ticking; the embedded workers hand back their attempts (at once with `kill`)."""
        self._stop.set()
        for worker in self.workers:
            worker.shutdown(0.0 if kill else worker.grace, kill=kill)

    def _catch_up(self) -> None:
        try:
            self.system.views()
        except Exception as error:  # a read model or the key may be broken: keep ticking
            self._say(f"cannot catch the views up and checkpoint the log: {error}")

    def _forget(self, beats: Heartbeats) -> None:
        try:
            beats.forget(FORGET_AFTER_SECONDS)
        except Exception as error:  # housekeeping: the next beat tries again
            self._say(f"cannot prune old process rows: {error}")

    def _say(self, message: str) -> None:
        print(f"conveyor server {self.id}: {message}", file=sys.stderr, flush=True)
