"""Orchestration overhead per action: ten `true` actions through Conveyor vs a bare loop.

Run: `make bench` (or `.venv/bin/python bench/orchestration.py [--runs N] [--no-postgres]`,
or `python -m bench.orchestration` from the repository root).
Both sides run in this process on this machine: the baseline is the same provider work done
directly (the S3 source copy and ten `bash -c true` processes); the difference, divided by the
eleven actions Conveyor orchestrates, is its overhead per action (events, planning, artifact
store, threads), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# `python bench/X.py` puts the script's folder first on sys.path, where a bench script's name
# can shadow a package (bench/projections.py once hid `projections`): the repository root
# takes that place, so imports never depend on what else the bench folder holds.
if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from engine.bootstrap import build, init_workspace
from engine.providers import provider_for
from engine.providers.base import ActionRequest
from engine.settings import Settings

ACTIONS = 10


def definition(bucket: Path) -> dict[str, Any]:
    def shell(index: int) -> dict[str, Any]:
        return {
            "name": f"True{index}",
            "runOrder": index,
            "actionTypeId": {
                "category": "Build",
                "owner": "AWS",
                "provider": "Shell",
                "version": "1",
            },
            "configuration": {"Commands": "true"},
        }

    return {
        "name": "bench",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Object",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "S3",
                            "version": "1",
                        },
                        "configuration": {"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {"name": "Run", "actions": [shell(i) for i in range(1, ACTIONS + 1)]},
        ],
    }


def bare_loop(bucket: Path, scratch: Path) -> float:
    """The providers' own work without Conveyor: the source copy and ten processes."""
    began = time.perf_counter()
    request = ActionRequest(
        action_execution_id=str(uuid.uuid4()),
        pipeline_name="bench",
        execution_id="x",
        stage="Source",
        action="Object",
        category="Source",
        owner="AWS",
        provider="S3",
        version="1",
        configuration={"S3Bucket": str(bucket), "S3ObjectKey": "source.txt"},
        commands=(),
        input_artifacts={},
        output_artifacts={"Src": ()},
        output_variable_names=(),
        environment={},
        workdir=scratch / uuid.uuid4().hex,
        log_path=scratch / "source.log",
        timeout_seconds=60,
        workspace_root=scratch,
        buckets_root=scratch,
    )
    request.workdir.mkdir(parents=True)
    provider_for("s3-source").run(request)
    for _ in range(ACTIONS):
        subprocess.run(["bash", "-c", "true"], check=True)
    return time.perf_counter() - began


def conveyor_run(settings: Settings) -> Callable[[], float]:
    system = build(settings)
    runner = system.runner()

    def once() -> float:
        began = time.perf_counter()
        execution_id = system.app.start_pipeline_execution("bench", by="bench")
        runner.drive("bench")
        elapsed = time.perf_counter() - began
        status = system.app.execution(execution_id).status
        assert status == "Succeeded", status
        return elapsed

    return once


def measure(label: str, settings: Settings, bucket: Path, scratch: Path, runs: int) -> None:
    system = init_workspace(settings)
    system.app.create_pipeline(definition(bucket), by="bench", start=False)
    system.close()
    run = conveyor_run(settings)
    run()  # warm up: imports, caches, first connections
    bare_loop(bucket, scratch)
    ours, bare = [], []
    for _ in range(runs):
        ours.append(run())
        bare.append(bare_loop(bucket, scratch))
    t_ours, t_bare = statistics.median(ours), statistics.median(bare)
    overhead_ms = (t_ours - t_bare) / (ACTIONS + 1) * 1000
    print(
        f"{label:<11} conveyor {t_ours * 1000:7.1f} ms   bare loop {t_bare * 1000:6.1f} ms   "
        f"ratio {t_ours / t_bare:4.2f}x   overhead {overhead_ms:5.2f} ms/action "
        f"(median of {runs})"
    )


def postgres_database() -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg

        admin = psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
        )
    except Exception as error:
        print(f"postgresql  skipped: no server on 127.0.0.1:5432 ({error})")
        return None
    name = f"conveyor_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bucket = root / "bucket"
        bucket.mkdir()
        (bucket / "source.txt").write_text("hello\n")
        scratch = root / "scratch"
        scratch.mkdir()
        print(f"{ACTIONS} actions running `true` (plus the S3 source), {args.runs} runs each")
        measure("sqlite", Settings(home=root / "sqlite" / ".conveyor"), bucket, scratch, args.runs)
        if not args.no_postgres:
            database = postgres_database()
            if database:
                url, drop = database
                try:
                    measure(
                        "postgresql",
                        Settings(home=root / "pg" / ".conveyor", database_url=url),
                        bucket,
                        scratch,
                        args.runs,
                    )
                finally:
                    drop()


if __name__ == "__main__":
    main()
