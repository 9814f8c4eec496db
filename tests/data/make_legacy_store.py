"""Write `legacy-store.db`: a SQLite store and its caught-up views, made by a past release.

Run once, on the release whose stored format must stay loadable (it was run on commit f879cd6,
before events were versioned); the file is committed and `tests/integration/test_legacy_store.py`
opens it with today's code. Running it again on today's code makes a *current* store instead.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.settings import Settings
from projections.runtime import Projections
from projections.views import open_projections
from tests.harness import (
    Harness,
    approval_action,
    definition,
    shell_action,
    source_action,
)


def gated(name: str, mode: str = "SUPERSEDED", *, retry: bool = False) -> dict:
    build = {"name": "Build", "actions": [shell_action("Compile"), shell_action("Lint")]}
    if retry:
        build["onFailure"] = {
            "result": "RETRY",
            "retryConfiguration": {"retryMode": "FAILED_ACTIONS"},
        }
    document = definition(
        [
            ("Source", [source_action()]),
            ("Build", build["actions"]),
            ("Gate", [approval_action(minutes=60)]),
            ("Deploy", [shell_action("Ship", category="Deploy")]),
        ],
        name=name,
        mode=mode,
    )
    if retry:
        document["pipelineType"] = "V2"
        document["stages"][1]["onFailure"] = build["onFailure"]
    return document


def _approved_release(harness: Harness) -> None:
    """Three pipelines created; a release approved and deployed."""
    app = harness.app
    harness.create(gated("demo"), start=True)
    harness.create(gated("queue", mode="QUEUED", retry=True), start=True)
    harness.create(gated("wide", mode="PARALLEL"), start=True)
    first = app.pipeline("demo").active[0]
    harness.pass_stage(first, "Source")
    harness.later(minutes=2)
    harness.pass_stage(first, "Build")
    app.put_approval_result("demo", "Gate", "Approve", status="Approved", summary="ok", by="alice")
    harness.advance("demo")
    harness.later(minutes=3)
    harness.pass_stage(first, "Deploy")


def _failed_then_retried(harness: Harness) -> None:
    """A failed build, a manual retry, then a rejected approval."""
    app = harness.app
    second = harness.start("demo")
    harness.pass_stage(second, "Source")
    harness.report(harness.find(second, "Build", "Compile"), succeeded=False)
    harness.report(harness.find(second, "Build", "Lint"))
    app.retry_stage_execution("demo", "Build", second, retry_mode="FAILED_ACTIONS", by="bob")
    harness.advance("demo")
    harness.pass_stage(second, "Build")
    app.put_approval_result("demo", "Gate", "Approve", status="Rejected", summary="no", by="carol")
    harness.advance("demo")


def _held_superseded_stopped(harness: Harness) -> None:
    """Superseded, held at a disabled transition, stopped and abandoned."""
    app = harness.app
    app.disable_stage_transition("demo", "Deploy", reason="release freeze", by="dave")
    third = harness.start("demo")
    harness.pass_stage(third, "Source")
    fourth = harness.start("demo")
    harness.pass_stage(fourth, "Source")
    harness.pass_stage(third, "Build")
    harness.later(minutes=61)
    harness.advance("demo")  # the approval times out
    harness.pass_stage(fourth, "Build")
    app.enable_stage_transition("demo", "Deploy", by="dave")
    harness.advance("demo")
    fifth = harness.start("demo")
    harness.pass_stage(fifth, "Source")
    app.stop_pipeline_execution("demo", fifth, abandon=True, reason="enough", by="erin")
    harness.advance("demo")
    sixth = harness.start("demo")
    app.stop_pipeline_execution("demo", sixth, abandon=False, reason="wait", by="erin")
    harness.pass_stage(sixth, "Source")
    harness.advance("demo")


def _retried_then_cancelled(harness: Harness) -> None:
    """Automatic retry on the QUEUED pipeline, then an update cancelling what is in flight."""
    app = harness.app
    for execution_id in app.pipeline("queue").active:
        harness.pass_stage(execution_id, "Source")
    for execution_id in app.pipeline("queue").active:
        for work in harness.running(execution_id):
            harness.report(work, succeeded=work.action != "Compile")
    harness.start("queue")
    harness.later(minutes=5)
    app.update_pipeline(gated("queue", mode="QUEUED"), by="frank")
    harness.advance("queue")


def _start(harness: Harness, name: str, rng: random.Random) -> None:
    harness.start(name)


def _report(harness: Harness, name: str, rng: random.Random) -> None:
    running = [w for w in harness.running() if w.pipeline_name == name]
    if running:
        harness.report(rng.choice(running), succeeded=rng.random() > 0.15)


def _approve(harness: Harness, name: str, rng: random.Random) -> None:
    status = "Approved" if rng.random() > 0.2 else "Rejected"
    harness.app.put_approval_result(
        name, "Gate", "Approve", status=status, summary="ok", by="alice"
    )
    harness.advance(name)


def _toggle(harness: Harness, name: str, rng: random.Random) -> None:
    app = harness.app
    if app.pipeline(name).transition_enabled("Deploy"):
        app.disable_stage_transition(name, "Deploy", reason="freeze", by="bob")
    else:
        app.enable_stage_transition(name, "Deploy", by="bob")
    harness.advance(name)


def _stop(harness: Harness, name: str, rng: random.Random) -> None:
    active = harness.app.pipeline(name).active
    if active:
        harness.app.stop_pipeline_execution(
            name, rng.choice(active), abandon=rng.random() > 0.5, reason="enough", by="carol"
        )
        harness.advance(name)


MOVES = {"start": _start, "report": _report, "approve": _approve, "toggle": _toggle, "stop": _stop}


def _random_walk(harness: Harness, views: Projections) -> None:
    """A random walk over every pipeline, long enough that snapshots are taken."""
    rng = random.Random(7)
    for step in range(900):
        name = rng.choice(["demo", "queue", "wide"])
        move = rng.choice(
            ["start", "report", "report", "report", "report", "approve", "toggle", "stop"]
        )
        harness.later(seconds=rng.randint(1, 900))
        try:
            MOVES[move](harness, name, rng)
        except Exception as error:  # refusals are part of a random walk
            if type(error).__module__ != "domain.errors":
                raise
        if step % 50 == 0:
            views.catch_up()


def main(target: Path) -> None:
    if target.exists():
        target.unlink()
    home = target.parent / ".legacy-home"
    home.mkdir(exist_ok=True)
    harness = Harness(
        home,
        persistence={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(target)},
    )
    app = harness.app
    url = Settings(home=home).sqlalchemy_url().replace(str(home / "conveyor.db"), str(target))
    views = open_projections(app, url)

    _approved_release(harness)
    _failed_then_retried(harness)
    _held_superseded_stopped(harness)
    _retried_then_cancelled(harness)
    views.catch_up()
    _random_walk(harness, views)
    harness.create(gated("doomed"), start=True)
    app.delete_pipeline("doomed", by="grace")
    views.catch_up()
    views.engine.dispose()
    app.close()


if __name__ == "__main__":
    main(Path(__file__).resolve().parent / "legacy-store.db")
