"""Views on real databases: incremental equals rebuilt, state equals the aggregates, time travel."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from engine.settings import Settings
from projections.audit import audit_records, chained_lines, verify_lines
from projections.codepipeline import execution_summary, pipeline_state
from projections.history import list_action_executions, list_executions
from projections.runtime import Projections
from projections.state import current_state
from projections.timetravel import (
    check_decisions,
    check_decisions_in,
    family_events,
    state_at,
)
from projections.views import open_projections
from tests.harness import (
    Harness,
    approval_action,
    definition,
    shell_action,
    source_action,
)
from tests.support.views import dump


def gated(name: str = "demo", mode: str = "SUPERSEDED") -> dict[str, Any]:
    return definition(
        [
            ("Source", [source_action()]),
            ("Build", [shell_action("Compile"), shell_action("Lint")]),
            ("Gate", [approval_action()]),
            ("Deploy", [shell_action("Ship", category="Deploy")]),
        ],
        name=name,
        mode=mode,
    )


def sqlite_harness(tmp_path: Path) -> tuple[Harness, str]:
    database = tmp_path / "conveyor.db"
    harness = Harness(
        tmp_path,
        persistence={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(database)},
    )
    return harness, Settings(home=tmp_path).sqlalchemy_url()


def postgres_harness(tmp_path: Path, url: str) -> tuple[Harness, str]:
    settings = Settings(home=tmp_path, database_url=url)
    return Harness(tmp_path, persistence=settings.event_store_env()), settings.sqlalchemy_url()


def _start(harness: Harness, name: str, rng: random.Random) -> None:
    harness.start(name)


def _report(harness: Harness, name: str, rng: random.Random) -> None:
    running = [w for w in harness.running() if w.pipeline_name == name]
    if running:
        harness.report(rng.choice(running), succeeded=rng.random() > 0.2)


def _approve(harness: Harness, name: str, rng: random.Random) -> None:
    harness.app.put_approval_result(
        name, "Gate", "Approve", status="Approved", summary="ok", by="alice"
    )
    harness.advance(name)


def _toggle(harness: Harness, name: str, rng: random.Random) -> None:
    pipeline = harness.app.pipeline(name)
    if pipeline.transition_enabled("Deploy"):
        harness.app.disable_stage_transition(name, "Deploy", reason="freeze", by="bob")
    else:
        harness.app.enable_stage_transition(name, "Deploy", by="bob")
    harness.advance(name)


def _stop(harness: Harness, name: str, rng: random.Random) -> None:
    active = harness.app.pipeline(name).active
    if active:
        harness.app.stop_pipeline_execution(
            name, rng.choice(active), abandon=True, reason="enough", by="carol"
        )
        harness.advance(name)


MOVES = {"start": _start, "report": _report, "approve": _approve, "toggle": _toggle, "stop": _stop}


def random_walk(harness: Harness, projections: Projections, seed: int, steps: int = 60) -> None:
    """Random commands through the real application, catching the views up after each one."""
    rng = random.Random(seed)
    harness.create(gated("demo"), start=True)
    harness.create(gated("queue", mode="QUEUED"), start=True)
    for _ in range(steps):
        name = rng.choice(["demo", "queue"])
        move = rng.choice(["start", "report", "report", "report", "approve", "toggle", "stop"])
        harness.later(seconds=rng.randint(1, 600))
        try:
            MOVES[move](harness, name, rng)
        except Exception as error:  # refusals (nothing to approve) are part of a random walk
            if type(error).__module__ != "domain.errors":
                raise
        if rng.random() < 0.5:
            projections.catch_up()
    projections.catch_up()


def assert_views_match_aggregates(harness: Harness, projections: Projections) -> None:
    with projections.engine.connect() as conn:
        for name in harness.app.pipeline_names():
            pipeline = harness.app.pipeline(name)
            assert current_state(conn, name) == pipeline_state(pipeline, harness.app.execution)
            listed = list_executions(conn, name)["pipelineExecutionSummaries"]
            expected = [execution_summary(harness.app.execution(e)) for e in harness.started[name]]
            key = lambda s: (s["startTime"], s["pipelineExecutionId"])  # noqa: E731
            assert listed == sorted(expected, key=key, reverse=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_views_caught_up_incrementally_equal_views_rebuilt_from_zero_on_sqlite(
    tmp_path: Path, seed: int
) -> None:
    harness, url = sqlite_harness(tmp_path)
    projections = open_projections(harness.app, url)
    projections.batch = 7  # many batch boundaries inside one command's events
    random_walk(harness, projections, seed)
    incremental = dump(projections)
    assert_views_match_aggregates(harness, projections)
    projections.batch = 5000
    projections.rebuild()
    assert dump(projections) == incremental
    assert all(s.position == s.head for s in projections.status())
    for name in ("demo", "queue"):
        for execution in harness.started[name][-4:]:
            check = check_decisions(harness.app, execution)
            assert check.ok, check.divergence


@pytest.mark.postgres
def test_views_caught_up_incrementally_equal_views_rebuilt_from_zero_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    harness, url = postgres_harness(tmp_path, postgres_url)
    projections = open_projections(harness.app, url)
    projections.batch = 11
    random_walk(harness, projections, seed=7, steps=40)
    incremental = dump(projections)
    assert_views_match_aggregates(harness, projections)
    projections.rebuild("state")
    projections.rebuild("history")
    assert dump(projections) == incremental
    harness.app.close()
    projections.engine.dispose()


def test_a_view_rebuilt_alone_catches_up_with_the_others_and_they_move_on_together(
    tmp_path: Path,
) -> None:
    harness, url = sqlite_harness(tmp_path)
    projections = open_projections(harness.app, url)
    execution = harness.create(gated(), start=True)
    assert execution is not None
    projections.catch_up()
    projections.drop("history")
    harness.pass_stage(execution, "Source")
    status = {s.view: s for s in projections.status()}
    assert status["history"].position == 0 and status["state"].behind > 0
    done = projections.catch_up()
    assert done.applied["history"] > done.applied["state"] > 0
    assert {s.position for s in projections.status()} == {projections.head()}


def test_state_at_an_instant_shows_the_transition_before_it_was_disabled(
    tmp_path: Path,
) -> None:
    harness, _ = sqlite_harness(tmp_path)
    execution = harness.create(gated(), start=True)
    assert execution is not None
    harness.pass_stage(execution, "Source")
    harness.later(minutes=5)
    before = harness.clock.now()
    harness.later(minutes=5)
    harness.app.disable_stage_transition("demo", "Deploy", reason="change freeze", by="bob")
    harness.later(minutes=5)
    harness.pass_stage(execution, "Build")
    then = state_at(harness.app.events, "demo", before)
    now = state_at(harness.app.events, "demo", harness.clock.now())
    deploy_then = then["stageStates"][3]["inboundTransitionState"]
    deploy_now = now["stageStates"][3]["inboundTransitionState"]
    assert deploy_then == {"enabled": True}
    assert deploy_now["enabled"] is False and deploy_now["disabledReason"] == "change freeze"
    assert then["stageStates"][1]["latestExecution"]["status"] == "InProgress"
    assert now == pipeline_state(harness.app.pipeline("demo"), harness.app.execution)


def test_audit_verify_names_the_line_of_an_exported_trail_that_was_edited(tmp_path: Path) -> None:
    harness, url = sqlite_harness(tmp_path)
    harness.create(gated(), start=True)
    harness.app.disable_stage_transition("demo", "Deploy", reason="freeze", by="bob")
    projections = open_projections(harness.app, url)
    projections.catch_up()
    with projections.engine.connect() as conn:
        records = list(audit_records(conn, pipeline="demo"))
        by_bob = list(audit_records(conn, actor="bob"))
    assert [r["summary"] for r in by_bob] == ["disabled the transition into Deploy: freeze"]
    lines = list(chained_lines(records))
    assert verify_lines(lines).ok
    edited = json.loads(lines[3])
    edited["actor"] = "mallory"
    tampered = [*lines[:3], json.dumps(edited), *lines[4:]]
    result = verify_lines(tampered)
    assert not result.ok and result.broken_line == 4
    assert not verify_lines(lines[:2] + lines[3:]).ok  # a deleted line breaks the link


def test_history_pages_newest_first_and_filters_by_stage_succeeded(tmp_path: Path) -> None:
    harness, url = sqlite_harness(tmp_path)
    first = harness.create(gated(), start=True)
    assert first is not None
    for _ in range(4):
        harness.later(minutes=1)
        for work in harness.running():
            harness.report(work)
        harness.start()
    projections = open_projections(harness.app, url)
    projections.catch_up()
    with projections.engine.connect() as conn:
        page = list_executions(conn, "demo", max_results=2)
        rest = list_executions(conn, "demo", max_results=2, next_token=page["nextToken"])
        ids = [s["pipelineExecutionId"] for s in page["pipelineExecutionSummaries"]]
        ids += [s["pipelineExecutionId"] for s in rest["pipelineExecutionSummaries"]]
        assert ids == list(reversed(harness.started["demo"]))[:4]
        built = list_executions(conn, "demo", succeeded_in_stage="Build")
        assert first in [s["pipelineExecutionId"] for s in built["pipelineExecutionSummaries"]]
        actions = list_action_executions(conn, "demo", execution_id=first)
        assert {a["actionName"] for a in actions["actionExecutionDetails"]} >= {"Checkout"}


def test_history_older_than_the_retention_is_dropped_from_the_view_but_not_the_log(
    tmp_path: Path,
) -> None:
    harness, url = sqlite_harness(tmp_path)
    old = harness.create(gated(), start=True)
    harness.later(days=400)
    harness.start()
    projections = open_projections(harness.app, url)
    projections.catch_up()
    with projections.engine.connect() as conn:
        ids = [
            s["pipelineExecutionId"]
            for s in list_executions(conn, "demo")["pipelineExecutionSummaries"]
        ]
    assert old not in ids and len(ids) == 1
    assert harness.app.execution(str(old)).execution_id == old  # still in the event log


def test_the_planner_re_derives_every_decision_of_a_run_and_notices_a_missing_one(
    tmp_path: Path,
) -> None:
    harness, _ = sqlite_harness(tmp_path)
    first = harness.create(gated(), start=True)
    assert first is not None
    harness.pass_stage(first, "Source")
    second = harness.start()
    harness.pass_stage(second, "Source")
    third = harness.start()
    harness.pass_stage(third, "Source")
    harness.pass_stage(first, "Build")
    for execution in (first, second, third):
        check = check_decisions(harness.app, execution)
        assert check.ok, check.divergence
        assert check.decisions > 0
    events = family_events(harness.app, first)
    entered_build = next(
        index
        for index, (_, event) in enumerate(events)
        if type(event).__name__ == "StageEntered" and event.stage == "Build"
    )
    without = events[:entered_build] + events[entered_build + 1 :]
    check = check_decisions_in(without, first)
    assert not check.ok and "EnterStage" in (check.divergence or "")
