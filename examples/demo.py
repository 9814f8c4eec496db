"""`make run`: a fresh workspace, a git repository, and the example pipeline run end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKSPACE = Path(os.environ.get("CONVEYOR_DEMO_DIR", HERE.parent / "demo-workspace"))
CONVEYOR = str(Path(sys.executable).parent / "conveyor")


def say(text: str) -> None:
    print(f"\n\033[1m# {text}\033[0m", flush=True)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(args)}", flush=True)
    done = subprocess.run(args, cwd=WORKSPACE, text=True, check=False)
    if check and done.returncode != 0:
        sys.exit(f"demo: '{' '.join(args)}' exited {done.returncode}")
    return done


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=WORKSPACE / "app", check=True, capture_output=True)


def main() -> None:
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    WORKSPACE.mkdir(parents=True)
    os.environ.pop("CONVEYOR_HOME", None)
    os.environ.pop("CONVEYOR_DATABASE_URL", None)
    os.environ.setdefault("CONVEYOR_USER", "demo-user")

    say(f"A workspace at {WORKSPACE} with a git repository 'app' (buildspec.yml inside)")
    shutil.copytree(HERE / "app", WORKSPACE / "app")
    git("init", "-q", "-b", "main")
    git("-c", "user.name=Demo", "-c", "user.email=demo@example.com", "add", ".")
    git(
        "-c",
        "user.name=Demo",
        "-c",
        "user.email=demo@example.com",
        "commit",
        "-q",
        "-m",
        "First version of the site",
    )
    shutil.copy(HERE / "pipeline.json", WORKSPACE / "pipeline.json")

    say("Create the store, check the definition, create the pipeline (it starts at once)")
    run(CONVEYOR, "init")
    run(CONVEYOR, "pipeline", "validate", "pipeline.json")
    run(CONVEYOR, "pipeline", "create", "pipeline.json", "--wait")

    say("The execution waits at the manual approval; this is what `state` shows")
    run(CONVEYOR, "state", "hello-site")

    say("Approve with --wait: this terminal runs the Deploy stage as a worker would")
    approve = ["approve", "hello-site", "Approval", "Release", "--comment", "looks good"]
    run(CONVEYOR, *approve, "--wait")

    say("Final state and history")
    run(CONVEYOR, "state", "hello-site")
    run(CONVEYOR, "executions", "list", "hello-site")
    listing = subprocess.run(
        [CONVEYOR, "executions", "list", "hello-site", "--json"],
        cwd=WORKSPACE,
        text=True,
        capture_output=True,
        check=True,
    )
    import json

    latest = json.loads(listing.stdout)["pipelineExecutionSummaries"][0]
    deployed = WORKSPACE / ".conveyor" / "buckets" / "hello-site" / "index.html"
    print(f"\ndeployed: {deployed}")
    print(deployed.read_text() if deployed.exists() else "(missing)")
    print(f"execution {latest['pipelineExecutionId']}: {latest['status']}")
    if latest["status"] != "Succeeded":
        sys.exit(1)
    print(
        f"\nExplore it: cd {WORKSPACE} && {CONVEYOR} executions show "
        f"{latest['pipelineExecutionId'][:8]}"
    )


if __name__ == "__main__":
    main()
