"""Scale-out: 200 executions of a 5-action no-op pipeline run by 1, 2 and 4 `conveyor worker`s.

Run: `make bench` (or `.venv/bin/python bench/scale_out.py [--executions N]`).
On one fresh PostgreSQL database. The pipeline (an S3 source, then four Shell `true` actions)
runs in PARALLEL mode, so executions never wait for each other and only the workers limit
the rate; PARALLEL admits 50 executions in progress, so the 200 are spread over four
identical pipelines. The executions are recorded (their sources queued) before the workers
start; the rate counts the actions that ended from the moment every worker is up to the last
one, so the workers' start-up is left out. The 1-worker run is the baseline of the speed-up,
in the same run. Then: the time from `kill -9` of a worker holding a job to another worker's
re-claim, with a 5-second lease.
"""

from __future__ import annotations

import argparse
import os
import signal
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

from engine.board import JobBoard
from engine.bootstrap import System, init_workspace
from engine.settings import Settings

CONVEYOR = str(Path(sys.executable).parent / "conveyor")
SHELL_ACTIONS = 4
RECLAIM_LEASE_SECONDS = 5
PER_PIPELINE = 50


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def definition(name: str, bucket: Path, command: str, actions: int) -> dict[str, Any]:
    return {
        "name": name,
        "pipelineType": "V2",
        "executionMode": "PARALLEL",
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
            {
                "name": "Run",
                "actions": [
                    {
                        "name": f"Noop{i}",
                        "actionTypeId": _type("Build", "Shell"),
                        "configuration": {"Commands": command},
                        "inputArtifacts": [{"name": "Src"}],
                    }
                    for i in range(1, actions + 1)
                ],
            },
        ],
    }


class Bench:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")},
            "CONVEYOR_HOME": str(root / ".conveyor"),
            "CONVEYOR_DATABASE_URL": url,
        }
        self.system: System = init_workspace(Settings(home=root / ".conveyor", database_url=url))
        self.bucket = root / "bucket"
        self.bucket.mkdir()
        (self.bucket / "source.txt").write_text("hello\n")
        self.board = JobBoard(self.system.app)
        self.last_cpu = (0.0, 0.0, 0)

    def workers(self, count: int, **env: str) -> list[subprocess.Popen[str]]:
        # Output goes to files: a pipe nobody reads would fill up and block the worker.
        outputs = [self.root / f"worker-{uuid.uuid4().hex[:6]}.out" for _ in range(count)]
        started = []
        for output in outputs:
            with output.open("w") as sink:
                started.append(
                    subprocess.Popen(
                        [CONVEYOR, "worker", "--concurrency", "4", "--grace", "0"],
                        env={**self.env, **env},
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        for output in outputs:  # each prints one line once it is ready to claim
            _until(lambda output=output: "running" in output.read_text(), 60)
        return started

    def throughput(self, workers: int, executions: int) -> float:
        app = self.system.app
        # PARALLEL mode admits at most 50 executions in progress per pipeline: the executions
        # are spread over identical pipelines, 50 each.
        names = [f"scale{workers}-{k}" for k in range(-(-executions // PER_PIPELINE))]
        for index, name in enumerate(names):
            document = definition(name, self.bucket, "true", SHELL_ACTIONS)
            app.create_pipeline(document, by="bench", start=False)
            for _ in range(min(PER_PIPELINE, executions - index * PER_PIPELINE)):
                app.start_pipeline_execution(name, by="bench")
        app.take_work()
        total = executions * (SHELL_ACTIONS + 1)
        processes = self.workers(workers)
        began = time.monotonic()
        before = self._ended(names)
        while (done := self._ended(names)) < total:
            time.sleep(0.05)
        elapsed = time.monotonic() - began
        cpu = sum(_cpu_seconds(p.pid) for p in processes)
        _stop(processes)
        self.last_cpu = (cpu, elapsed, done - before)
        return (done - before) / elapsed

    def _ended(self, pipelines: list[str]) -> int:
        self.board.refresh()
        return sum(self.board.ended_per_pipeline[name] for name in pipelines)

    def reclaim(self) -> float:
        name = "reclaim"
        app = self.system.app
        app.create_pipeline(definition(name, self.bucket, "sleep 30", 1), by="bench", start=False)
        lease = {"CONVEYOR_LEASE_SECONDS": str(RECLAIM_LEASE_SECONDS)}
        processes = self.workers(2, **lease)
        app.start_pipeline_execution(name, by="bench")
        holder = _until(lambda: self._holder(name, attempt=1), 60)
        pid = int(holder.split(":")[1])
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _until(lambda: self._holder(name, attempt=2), 60)
        took = time.monotonic() - killed
        _stop(processes)
        return took

    def _holder(self, pipeline: str, attempt: int) -> str | None:
        self.board.refresh()
        for job in self.board.open.values():
            if job.pipeline_name == pipeline and job.stage == "Run" and job.attempt == attempt:
                return job.worker
        return None


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its reaped children (its builds), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: utime, stime, cutime, cstime are fields 14-17 of stat(5).
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _until(condition: Callable[[], Any], within: float) -> Any:
    deadline = time.monotonic() + within
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise SystemExit("gave up waiting")
        time.sleep(0.02)
    return found


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.communicate(timeout=60)


def postgres_database() -> tuple[str, Callable[[], None]]:
    import psycopg

    admin = psycopg.connect(
        "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
    )
    name = f"conveyor_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    url, drop = postgres_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(Path(tmp), url)
            actions = args.executions * (SHELL_ACTIONS + 1)
            print(f"{args.executions} executions x {SHELL_ACTIONS + 1} no-op actions, PARALLEL")
            baseline = None
            for count in args.workers:
                rate = bench.throughput(count, args.executions)
                baseline = baseline or rate
                cpu, elapsed, ended = bench.last_cpu
                print(
                    f"{count} worker{'s' if count > 1 else ' '}  {rate:7.1f} actions/s  "
                    f"speed-up {rate / baseline:4.2f}x  ({actions} actions)  "
                    f"workers' CPU {1000 * cpu / max(ended, 1):4.0f} ms/action, "
                    f"{cpu / elapsed:4.2f} of {os.cpu_count()} cores"
                )
            took = bench.reclaim()
            print(
                f"kill -9 of a worker holding a job -> re-claim: {took:.2f} s "
                f"(lease {RECLAIM_LEASE_SECONDS} s)"
            )
            bench.system.close()
    finally:
        drop()


if __name__ == "__main__":
    main()
