"""The report commands as a user runs them: simulate a scenario file, verify an audit export."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli.reports import (
    audit_app,
    billing_app,
    pipeline_diff_command,
    projections_app,
    simulate_command,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


def reports_app() -> typer.Typer:
    """The sub-commands wired as cli/main.py is to wire them."""
    app = typer.Typer()
    app.add_typer(billing_app, name="billing")
    app.add_typer(audit_app, name="audit")
    app.add_typer(projections_app, name="projections")
    app.command("simulate")(simulate_command)
    pipeline = typer.Typer()
    pipeline.command("diff")(pipeline_diff_command)
    app.add_typer(pipeline, name="pipeline")
    return app


def run(*args: str, expect: int = 0) -> str:
    done = CliRunner().invoke(reports_app(), list(args))
    assert done.exit_code == expect, done.output
    return done.output


def test_simulating_the_billing_edge_cases_scenario_bills_what_the_scenario_expects() -> None:
    scenario = json.loads((SCENARIOS / "billing-edge-cases.json").read_text())
    body = json.loads(run("simulate", str(SCENARIOS / "billing-edge-cases.json"), "--json"))
    assert body["refused"] == []
    charges = {
        month["month"]: {line["pipeline"]: line["charge"] for line in month["lines"]}
        for month in body["billing"]["months"]
    }
    for month, expected in scenario["expect"].items():
        for pipeline, charge in expected.items():
            assert charges[month][pipeline] == charge, (month, pipeline)
    midmonth = next(
        line
        for month in body["billing"]["months"]
        for line in month["lines"]
        if month["month"] == "2026-11" and line["pipeline"] == "midmonth"
    )
    assert midmonth["reason"].startswith("created 2026-10-20, first billable change 2026-11-21")


def test_simulating_in_queued_mode_shows_the_revision_superseded_mode_dropped() -> None:
    body = json.loads(
        run("simulate", str(SCENARIOS / "superseded-vs-queued.json"), "--mode", "QUEUED", "--json")
    )
    rows = {row["revision"]: row for row in body["comparison"]}
    assert rows["r2"]["base"]["status"] == "Superseded"
    assert rows["r2"]["variant"]["status"] == "Succeeded"
    assert "Deploy" in rows["r2"]["variant"]["stagesSucceeded"]


def test_a_scenario_with_a_broken_event_is_refused_with_the_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"events": [{"at": "soon", "push": "web"}]}))
    output = run("simulate", str(bad), expect=2)
    assert "events[0].at" in output


def test_audit_verify_fails_on_an_exported_file_with_one_edited_line(tmp_path: Path) -> None:
    from projections.audit import chained_lines

    records = [
        {"position": n, "actor": "alice", "summary": f"step {n}", "detail": {}} for n in range(5)
    ]
    trail = tmp_path / "audit.jsonl"
    lines = list(chained_lines(records))
    trail.write_text("\n".join(lines) + "\n")
    # An export without a signed head (as before signed heads): its chain is checked only when
    # the user accepts that truncation and re-chaining cannot be detected.
    assert "unsigned" in run("audit", "verify", str(trail), expect=1)
    assert "chain intact" in run("audit", "verify", str(trail), "--allow-unsigned")
    lines[2] = lines[2].replace("step 2", "step two")
    trail.write_text("\n".join(lines) + "\n")
    output = run("audit", "verify", str(trail), "--json", expect=1)
    assert json.loads(output)["brokenLine"] == 3
