"""A real `conveyor server` serving the API on a free loopback port, and boto3 clients for it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from tests.e2e.cli import CONVEYOR, Workspace
from tests.support.processes import kill_groups_mentioning

STARTED_WITHIN_SECONDS = 60.0
STOPPED_WITHIN_SECONDS = 30.0
BANNER = re.compile(r"API on (http://\S+)")
REGION = "us-east-1"


class ApiServer:
    """One `conveyor server` process: its URL once the banner names it, its output so far."""

    def __init__(self, ws: Workspace, args: list[str], env: dict[str, str]) -> None:
        self.ws = ws
        self.process = subprocess.Popen(
            [CONVEYOR, "server", *args],
            cwd=ws.root,
            env=ws.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own group, so stopping it reaches everything it ran
        )
        # The key `client()` signs with by default (set in signed mode; any key in insecure mode).
        self.credentials = ("local", "local-secret")
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._url: str | None = None
        self._announced = threading.Event()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout, True)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr, False)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str], banner: bool) -> None:
        for line in stream:
            lines.append(line)
            found = BANNER.search(line) if banner else None
            if found:
                self._url = found.group(1)
                self._announced.set()
        self._announced.set()  # the process ended: whoever waits learns it at once

    @property
    def url(self) -> str:
        """The API's URL from the start-up banner; fails if the server ends or stays silent."""
        if not self._announced.wait(STARTED_WITHIN_SECONDS) or self._url is None:
            raise AssertionError(
                f"conveyor server did not announce its API within {STARTED_WITHIN_SECONDS} s"
                f"\nstdout:\n{''.join(self.stdout)}\nstderr:\n{''.join(self.stderr)}"
            )
        return self._url

    def client(self, key_id: str | None = None, secret: str | None = None) -> Any:
        """A boto3 CodePipeline client for this server, signing with the given key or else
        `credentials` (insecure mode takes any)."""
        import boto3
        from botocore.config import Config

        from tests.support.shape_walk import checked  # every response checked on arrival

        return checked(
            boto3.client(
                "codepipeline",
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=key_id or self.credentials[0],
                aws_secret_access_key=secret or self.credentials[1],
                # One attempt: a refusal must reach the test, not be retried behind its back.
                config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
            )
        )

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; the exit code. Kills the group if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOPPED_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(timeout=STOPPED_WITHIN_SECONDS)
        for reader in self._readers:
            reader.join(timeout=STOPPED_WITHIN_SECONDS)
        return code

    def kill(self) -> None:
        """Whatever is left of the server and the actions it ran, at once."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOPPED_WITHIN_SECONDS)
        kill_groups_mentioning(str(self.ws.root))


def create_key(ws: Workspace, name: str, role: str) -> tuple[str, str]:
    """`conveyor access-key create` as a user runs it: the key id and the secret it prints once."""
    made = ws.json("access-key", "create", "--name", name, "--role", role, "--json")
    key = made["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


@contextmanager
def signed_api_server(ws: Workspace, *args: str, **options: Any) -> Iterator[ApiServer]:
    """A server checking signatures, whose `client()` signs with a new admin key by default."""
    credentials = create_key(ws, "e2e-admin", "admin")
    with api_server(ws, *args, insecure=False, **options) as server:
        server.credentials = credentials
        yield server


@contextmanager
def api_server(
    ws: Workspace,
    *args: str,
    insecure: bool = True,
    interval: float = 0.2,
    env: dict[str, str] | None = None,
) -> Iterator[ApiServer]:
    """`conveyor server --port 0` in the workspace; always stopped (and its group killed).

    Signed mode: `insecure=False`, with the key's settings in `env` or `args`.
    """
    argv = ["--port", "0", "--interval", str(interval), *args]
    if insecure:
        argv.append("--insecure-local")
    server = ApiServer(ws, argv, env or {})
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()
