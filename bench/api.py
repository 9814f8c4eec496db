"""The API's cost: GetPipelineState and StartPipelineExecution through boto3 vs in process.

Run: `make bench` (or `.venv/bin/python bench/api.py [--calls N] [--rounds R]`).
On one fresh SQLite workspace; each side has its own copy of a three-stage SUPERSEDED pipeline
(an S3 source, two Shell `true` actions), so each starts from the same history: starts first,
then reads of the state those starts left. The baseline is each operation's own handler called
in this process (the same application-layer calls and the same response document, without HTTP,
JSON or signatures). Against it: the request's bytes through the API's dispatcher in this
process (JSON and the input-shape check, no HTTP or threads); then the same operation sent to a
real `conveyor server` on a free loopback port by a bare keep-alive HTTP client (the server's
share), by a boto3 client in `--insecure-local` mode, and by a boto3 client signing with an
admin access key (when this checkout has access keys). The server runs no embedded worker
(`--workers 0`), so the executions it records wait as jobs and take no CPU from the requests;
the in-process side records the same executions the same way. Each figure is the median of R
rounds of N calls made one after another by one client; the ratio is each side's rate over the
in-process rate, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from engine.bootstrap import System, init_workspace
from engine.settings import Settings
from server.identity import Principal
from server.operation import Call
from server.operations import OPERATIONS

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
BANNER = re.compile(r"API on (http://\S+)")
# Starts first: the reads then see the executions they recorded, the same on every side.
MEASURED = ("StartPipelineExecution", "GetPipelineState")


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def definition(name: str, bucket: Path) -> dict[str, Any]:
    def shell(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "actionTypeId": _type("Build", "Shell"),
            "configuration": {"Commands": "true"},
            "inputArtifacts": [{"name": "Src"}],
        }

    return {
        "name": name,
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Object",
                        "actionTypeId": _type("Source", "S3"),
                        "configuration": {"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {"name": "Build", "actions": [shell("Compile")]},
            {"name": "Test", "actions": [shell("Check")]},
        ],
    }


def body(operation: str, pipeline: str) -> dict[str, Any]:
    """What boto3 sends: a start carries a fresh idempotency token (botocore makes one per
    call), which the application records, so every side pays for it."""
    if operation == "StartPipelineExecution":
        return {"name": pipeline, "clientRequestToken": str(uuid.uuid4())}
    return {"name": pipeline}


def in_process(system: System, operation: str) -> Callable[[], Any]:
    """One call of the operation's own handler, as the dispatcher makes it."""
    handler = OPERATIONS[operation]
    principal = Principal("bench", "admin")
    return lambda: handler(Call(operation, principal, body(operation, "in-process"), system))


def dispatched(system: System, operation: str) -> Callable[[], Any]:
    """The request's bytes through the API's dispatcher, in this process: the body parsed and
    checked against the input shape, the handler run, the answer made; no HTTP, no threads."""
    from server.app import Dispatcher
    from server.identity import SignedRequest

    dispatcher = Dispatcher(system, None)
    headers = {
        "x-amz-target": f"CodePipeline_20150709.{operation}",
        "content-type": "application/x-amz-json-1.1",
    }

    def once() -> None:
        sent = json.dumps(body(operation, "dispatcher")).encode()
        status, _ = dispatcher.dispatch(SignedRequest("POST", "local", "/", "", headers, sent))
        assert status == 200, status

    return once


def through_boto3(client: Any, operation: str, pipeline: str) -> Callable[[], Any]:
    method = getattr(client, _snake(operation))
    return lambda: method(name=pipeline)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def rate(call: Callable[[], Any], calls: int, rounds: int) -> float:
    """Calls per second: the median of `rounds` rounds of `calls` calls, after one warm-up."""
    call()
    rates = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(calls):
            call()
        rates.append(calls / (time.perf_counter() - began))
    return statistics.median(rates)


class ServerProcess:
    """`conveyor server --port 0 --workers 0` in the workspace, its URL read from its banner."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        with log.open("w") as sink:  # a pipe nobody reads would fill and block the server
            self.process = subprocess.Popen(
                [CONVEYOR, "server", "--port", "0", "--workers", "0", *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.url = _until(self._announced, 60)

    def _announced(self) -> str | None:
        if self.process.poll() is not None:
            raise SystemExit(f"conveyor server ended:\n{self.log.read_text()}")
        found = BANNER.search(self.log.read_text())
        return found.group(1) if found else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def client(url: str, key_id: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "codepipeline",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def admin_key(env: dict[str, str]) -> tuple[str, str] | None:
    """A new admin access key (id, secret), or None when this checkout has no access keys."""
    made = subprocess.run(
        [CONVEYOR, "access-key", "create", "--name", "bench", "--role", "admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        return None
    key = json.loads(made.stdout)["AccessKey"]  # IAM's CreateAccessKey shape
    return key["AccessKeyId"], key["SecretAccessKey"]


def _until(found: Callable[[], Any], within: float) -> Any:
    deadline = time.monotonic() + within
    while not (value := found()):
        if time.monotonic() > deadline:
            raise SystemExit("gave up waiting")
        time.sleep(0.02)
    return value


def through_http(url: str, operation: str, pipeline: str) -> Callable[[], Any]:
    """The same request as a bare keep-alive HTTP client sends it: the server's share alone."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port)
    headers = {
        "X-Amz-Target": f"CodePipeline_20150709.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }

    def once() -> None:
        sent = json.dumps(body(operation, pipeline)).encode()
        connection.request("POST", "/", body=sent, headers=headers)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status

    return once


def measure_api(
    label: str,
    env: dict[str, str],
    root: Path,
    args: list[str],
    key: tuple[str, str],
    n: int,
    r: int,
) -> dict[str, dict[str, float]]:
    """Rates through boto3 (and, unsigned, through bare HTTP) to a server of its own."""
    server = ServerProcess(env, root / f"server-{label}.log", *args)
    try:
        api = client(server.url, *key)
        found = {label: {op: rate(through_boto3(api, op, label), n, r) for op in MEASURED}}
        if label == "insecure":
            found["http"] = {
                op: rate(through_http(server.url, op, "http"), n, r) for op in MEASURED
            }
        return found
    finally:
        server.stop()


SIDES = ("in-process", "dispatcher", "http", "insecure", "signed")
LABELS = {"dispatcher": "dispatcher", "http": "bare HTTP"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, r = args.calls, args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bucket = root / "bucket"
        bucket.mkdir()
        (bucket / "source.txt").write_text("hello\n")
        home = root / ".conveyor"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "AWS_"))},
            "CONVEYOR_HOME": str(home),
        }
        system = init_workspace(Settings(home=home), env={})
        try:
            for side in SIDES:
                system.app.create_pipeline(definition(side, bucket), by="bench", start=False)
            results = {
                "in-process": {op: rate(in_process(system, op), n, r) for op in MEASURED},
                "dispatcher": {op: rate(dispatched(system, op), n, r) for op in MEASURED},
            }
        finally:
            system.close()
        unsigned = ["--insecure-local"]
        results.update(measure_api("insecure", env, root, unsigned, ("local", "local"), n, r))
        key = admin_key(env)
        if key is None:
            print("signed: skipped (this checkout has no `conveyor access-key`)")
        else:
            try:
                results.update(measure_api("signed", env, root, [], key, n, r))
            except SystemExit as ended:  # a checkout whose server cannot check signatures yet
                print(f"signed: skipped ({str(ended).splitlines()[0]})")
        report(results, n, r)


def report(results: dict[str, dict[str, float]], n: int, r: int) -> None:
    print(f"requests/s, median of {r} rounds of {n} calls by one client, one SQLite workspace")
    for operation in MEASURED:
        local = results["in-process"][operation]
        line = f"{operation:<23} in-process {local:7.1f}/s"
        for side in SIDES[1:]:
            if side in results:
                api = results[side][operation]
                name = LABELS.get(side, f"boto3 {side}")
                line += f"   {name} {api:6.1f}/s ({api / local:4.2f}x)"
        print(line)


if __name__ == "__main__":
    main()
