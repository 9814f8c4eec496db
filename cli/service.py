"""`conveyor worker` and `conveyor server`: the long-running processes that run pipelines."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import err, handled, out

if TYPE_CHECKING:
    from engine.app import ActionResult, ActionWork
    from engine.bootstrap import System
    from engine.worker import Worker

Concurrency = Annotated[
    int, typer.Option("--concurrency", min=1, help="Action attempts run at once.")
]
Categories = Annotated[
    list[str] | None,
    typer.Option("--category", help="Only claim actions of this category (repeatable)."),
]
Providers = Annotated[
    list[str] | None,
    typer.Option("--provider", help="Only claim actions of this provider (repeatable)."),
]
Grace = Annotated[
    float,
    typer.Option(
        "--grace",
        min=0.0,
        help="On SIGTERM/SIGINT, seconds running attempts get to finish before they are "
        "killed and handed back.",
    ),
]


def _announce(what: str, work: ActionWork, result: ActionResult | None) -> None:
    where = f"{work.pipeline_name} {work.stage}/{work.action} ({work.execution_id[:8]})"
    if result is None:
        out.print(f"started  {where}")
    elif what == "stopped":
        out.print(f"stopped  {where}")
    else:
        out.print(f"{'succeeded' if result.succeeded else 'failed':9s}{where}")


def _on_signals(first: Callable[[], None], again: Callable[[], None]) -> None:
    """SIGTERM/SIGINT: `first` the first time (stop claiming, finish or hand back), `again`
    after that (someone insists: kill and hand back at once)."""
    seen = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if seen.is_set():
            again()
            return
        seen.set()
        err.print(f"{signal.Signals(signum).name}: stopping; running attempts finish or go back")
        first()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _worker(
    system: System, concurrency: int, categories: list[str], providers: list[str], grace: float
) -> Worker:
    from engine.worker import Worker

    return Worker(
        system,
        concurrency=concurrency,
        categories=categories,
        providers=providers,
        listener=_announce,
        grace=grace,
    )


@handled
def worker_command(
    concurrency: Concurrency = 4,
    category: Categories = None,
    provider: Providers = None,
    grace: Grace = 10.0,
) -> None:
    """Claim action attempts from the store and run them, until SIGTERM or Ctrl-C."""
    from engine.bootstrap import build

    system = build()
    try:
        worker = _worker(system, concurrency, category or [], provider or [], grace)
        stop = threading.Event()
        _on_signals(stop.set, lambda: worker.shutdown(0.0, kill=True))
        out.print(f"conveyor worker {worker.id}: running (concurrency {concurrency})")
        worker.run(stop)
        out.print(
            f"conveyor worker {worker.id}: stopped; {worker.claimed} claimed, "
            f"{worker.reported} reported, {worker.released} handed back"
        )
    finally:
        system.close()


@handled
def server_command(
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between clock ticks.")
    ] = 1.0,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Embedded workers (0: clock only).")
    ] = 2,
    concurrency: Concurrency = 4,
    grace: Grace = 10.0,
) -> None:
    """The always-on part: the clock (timeouts, lapsed leases) and, by default, workers."""
    from engine.bootstrap import build
    from engine.server import Server

    system = build()
    embedded: list[tuple[Worker, System]] = []
    try:
        for _ in range(workers):
            own = build()  # each worker its own store connections
            embedded.append((_worker(own, concurrency, [], [], grace), own))
        server = Server(system, interval=interval, workers=[w for w, _ in embedded])
        stop = threading.Event()
        _on_signals(stop.set, lambda: server.shutdown(kill=True))
        out.print(
            f"conveyor server {server.id}: clock every {interval:g} s, "
            f"{workers} embedded worker{'s' if workers != 1 else ''}"
        )
        server.run(stop)
        out.print(f"conveyor server {server.id}: stopped; {server.ticks} ticks")
    finally:
        for _, own in embedded:
            own.close()
        system.close()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("server")(server_command)
