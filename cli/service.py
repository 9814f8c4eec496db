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
    from server.identity import Authenticator

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


# The API's port by default: free on most machines, and easy to remember beside 8080.
DEFAULT_PORT = 8089


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
    host: Annotated[str, typer.Option("--host", help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="The API's port (0: any free one).")
    ] = DEFAULT_PORT,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local",
            help="Serve the API without signatures (everyone is admin); loopback addresses only.",
        ),
    ] = False,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="Run the clock and workers only, no API.")
    ] = False,
) -> None:
    """The always-on part: the clock (timeouts, lapsed leases), workers and the CodePipeline API."""
    from engine.bootstrap import build
    from engine.server import Server

    if insecure_local and not _loopback(host):
        err.print(
            f"[bold red]error[/] --insecure-local serves requests without signatures, so it "
            f"listens on loopback addresses only (127.0.0.1, ::1, localhost), not '{host}'"
        )
        raise typer.Exit(2)
    system = build()
    embedded: list[tuple[Worker, System]] = []
    api: Api | None = None
    try:
        if not no_api:
            api = Api(build(), host, port, insecure_local)  # its own store connections
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
        if api is not None:
            api.start()
            out.print(f"conveyor server {server.id}: API on {api.url}")
            if insecure_local:
                out.print(f"conveyor server {server.id}: INSECURE: requests are not authenticated")
        server.run(stop)
        out.print(f"conveyor server {server.id}: stopped; {server.ticks} ticks")
    finally:
        if api is not None:
            api.stop()
        for _, own in embedded:
            own.close()
        system.close()


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authenticator(system: System, insecure_local: bool) -> Authenticator | None:
    """Who may call the API: nobody checked in insecure local mode, else signed access keys."""
    if insecure_local:
        return None
    from server.auth import KeyAuthenticator

    if not any(not key.revoked for key in system.app.list_access_keys()):
        out.print(
            "conveyor server: no live access keys, so every API request is refused until one "
            "is created (conveyor access-key create --name NAME --role ROLE)"
        )
    return KeyAuthenticator(system)


class Api:
    """The CodePipeline API served by uvicorn on a thread of its own, on a socket bound first
    (so `--port 0` is known before anyone connects, and a taken port fails at start)."""

    def __init__(self, system: System, host: str, port: int, insecure_local: bool) -> None:
        import socket

        import uvicorn

        from server.app import create_app

        self.system = system
        try:
            app = create_app(system, authenticator=_authenticator(system, insecure_local))
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto
            # says TCP, and without it every response waited 40 ms for a delayed ACK.
            self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(128)
        except BaseException:
            system.close()
            raise
        bound = self.socket.getsockname()[1]
        self.url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="api", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Finish the requests in flight, close the socket and the API's store connections."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join()
        self.socket.close()
        self.system.close()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("server")(server_command)
