"""CLI start-up: median wall time of read commands against a bare interpreter, and the targets.

Run: `make bench` (or `.venv/bin/python bench/cli_startup.py [--runs N]`).
Creates a throw-away workspace holding the example pipeline (created with --no-start), then
runs each command as a user does, through the venv's `conveyor` entry point, in rounds (one
run of every command per round, so a burst of load from elsewhere hits all of them alike).
Timings on a shared machine are noisy: the ratio to `python -c pass`, measured in the same
rounds, is the figure to compare between machines; CPU time (user + system of the child) is
printed beside wall time because it moves less with other processes' load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pipeline.json"
CONVEYOR = str(Path(sys.executable).parent / "conveyor")
# The bare interpreter's start-up on these 2-core machines when the targets were set (issue 7);
# the targets divided by it give ratios that hold on a faster or busier machine too.
REFERENCE_BARE_SECONDS = 0.023


@dataclass(frozen=True)
class Probe:
    label: str
    argv: tuple[str, ...]
    target_seconds: float | None


def probes(pipeline: str) -> list[Probe]:
    return [
        Probe("python -c pass", (sys.executable, "-c", "pass"), None),
        Probe("conveyor --help", (CONVEYOR, "--help"), 0.15),
        Probe("conveyor pipeline list", (CONVEYOR, "pipeline", "list"), 0.25),
        Probe(f"conveyor state {pipeline}", (CONVEYOR, "state", pipeline), 0.25),
    ]


def timed(argv: tuple[str, ...], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of the child) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"cli_startup: {' '.join(argv)} exited {done.returncode}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def workspace(root: Path) -> tuple[dict[str, str], str]:
    """A store with the example pipeline in it; the environment that points at it."""
    # Without PYTHONDONTWRITEBYTECODE (set in some sandboxes), as a user runs it: the warm-up
    # round writes the byte-code caches, which the measured rounds then load.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONVEYOR_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update({"CONVEYOR_HOME": str(root / ".conveyor"), "CONVEYOR_USER": "bench"})
    shutil.copy(EXAMPLE, root / "pipeline.json")
    setup = ((CONVEYOR, "init"), (CONVEYOR, "pipeline", "create", "pipeline.json", "--no-start"))
    for argv in setup:
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    name = json.loads(EXAMPLE.read_text())["pipeline"]["name"]
    return env, str(name)


def measure(runs: int) -> dict[Probe, tuple[float, float]]:
    """Each probe's median wall time and median CPU time."""
    with tempfile.TemporaryDirectory(prefix="conveyor-cli-startup-") as tmp:
        root = Path(tmp)
        env, name = workspace(root)
        checks = probes(name)
        for probe in checks:  # warm: byte-code compiled, views caught up, page cache filled
            timed(probe.argv, root, env)
        samples: dict[Probe, list[tuple[float, float]]] = {probe: [] for probe in checks}
        for _ in range(runs):
            for probe in checks:
                samples[probe].append(timed(probe.argv, root, env))
    return {
        probe: (statistics.median(w for w, _ in times), statistics.median(c for _, c in times))
        for probe, times in samples.items()
    }


def report(medians: dict[Probe, tuple[float, float]], runs: int) -> None:
    bare, bare_cpu = next(m for probe, m in medians.items() if probe.target_seconds is None)
    print(f"CLI start-up, median of {runs} runs (subprocess, warm caches)")
    print(f"{'command':<28}{'wall':>8}{'ratio':>8}{'cpu':>8}{'ratio':>8}   target")
    for probe, (seconds, cpu) in medians.items():
        if probe.target_seconds is None:
            verdict = "(baseline)"
        else:
            target = probe.target_seconds
            ratio_target = target / REFERENCE_BARE_SECONDS
            met = "met" if seconds <= target else "over"
            verdict = f"<= {target:.2f} s (~{ratio_target:.1f}x bare)  {met}"
        print(
            f"{probe.label:<28}{seconds:>7.3f}s{seconds / bare:>7.1f}x"
            f"{cpu:>7.3f}s{cpu / bare_cpu:>7.1f}x   {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if not Path(CONVEYOR).exists():
        sys.exit(f"cli_startup: no entry point at {CONVEYOR}; run it with the venv's python")
    report(measure(args.runs), args.runs)


if __name__ == "__main__":
    main()
