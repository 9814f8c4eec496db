"""Reports over the views: billing, audit, projection upkeep, simulation and definition diffs."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.audit import audit_app as audit_app
from cli.context import handled, out, print_json, system
from cli.lookup import find_execution
from domain.errors import ValidationException

# The engine, the views (SQLAlchemy) and rich.table load inside the commands that use them:
# `cli.main` imports this module, and `--help` or a read command must not pay for them.
if TYPE_CHECKING:
    from engine.bootstrap import System
    from engine.simulation import Scenario, SimulationResult
    from projections.billing import BillingReport, BillingRules
    from projections.runtime import Projections

billing_app = typer.Typer(help="Monthly cost and usage per pipeline.", no_args_is_help=True)
projections_app = typer.Typer(help="The read models: status and rebuild.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def views(sys_: System, *, catch_up: bool = True) -> Projections:
    """The views beside this system's events, caught up with every event first."""
    return sys_.views(catch_up=catch_up)


def instant(text: str | None, option: str) -> datetime | None:
    from engine.clock import parse_instant

    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        raise ValidationException(f"{option}: '{text}' is not an ISO 8601 instant") from None


# ----- state (for the lead's `state` command) -----------------------------------------------


def state_document(sys_: System, name: str, at: str | None = None) -> dict[str, Any]:
    """GetPipelineState from the view, or as it was at an instant (from the events up to it)."""
    from projections.state import current_state
    from projections.timetravel import state_at

    when = instant(at, "--at")
    if when is not None:
        return state_at(sys_.app.events, name, when)
    projections = views(sys_)
    with projections.engine.connect() as conn:
        return current_state(conn, name)


# ----- billing ------------------------------------------------------------------------------


def _rules(
    rules_file: Path | None, rule: str | None, any_execution: bool, free_tier: bool
) -> BillingRules:
    from projections.billing import BillingRules

    values: dict[str, Any] = {}
    if rules_file is not None:
        values.update(read_rules_file(rules_file))
    if rule:
        values["v1_age_rule"] = rule
    if any_execution:
        values["v1_any_execution_counts"] = True
    if free_tier:
        values["v1_free_tier"] = True
        values["v2_free_tier"] = True
    return BillingRules.from_mapping(values)


def read_rules_file(path: Path) -> dict[str, Any]:
    """A billing rules file's object; a refusal naming the file and what is wrong with it."""
    from domain.validation.jsontext import loads
    from engine.inputs import read_input

    try:
        document = loads(read_input(path, "--rules"))
    except ValueError as error:
        raise ValidationException(f"--rules: {path} cannot be used: {error}") from None
    if not isinstance(document, dict):
        raise ValidationException(f"--rules: {path} must hold a JSON object of rules")
    return document


def render_billing(report: BillingReport) -> None:
    from rich.table import Table

    for month in report.months:
        table = Table(title=f"{month.month}", show_header=True, header_style="bold")
        for column in ("pipeline", "type", "plan", "executions", "action-min", "charge", "why"):
            table.add_column(column)
        for line in month.lines:
            table.add_row(
                line.pipeline,
                line.pipeline_type,
                line.plan,
                str(line.executions),
                str(line.action_minutes),
                f"${line.charge:.3f}",
                line.reason,
            )
        out.print(table)
        credits = []
        if month.v1_free_tier_credit:
            credits.append(f"V1 free tier -${month.v1_free_tier_credit:.2f}")
        if month.v2_free_tier_credit:
            credits.append(
                f"V2 free minutes ({month.v2_free_minutes_used}) -${month.v2_free_tier_credit:.3f}"
            )
        out.print(
            f"  total ${month.total:.3f}"
            + (f" (after {', '.join(credits)})" if credits else "")
            + f"; usage: {month.executions} executions, {month.action_minutes} action-minutes, "
            f"{month.active_pipelines} active V1 pipelines"
        )
    if len(report.months) > 1:
        out.print(f"[bold]total for {len(report.months)} months: ${report.total:.3f}[/]")


@billing_app.command("report")
@handled
def billing_report_command(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    from_month: Annotated[str | None, typer.Option("--from", help="First month YYYY-MM.")] = None,
    to_month: Annotated[str | None, typer.Option("--to", help="Last month YYYY-MM.")] = None,
    plan: Annotated[
        str, typer.Option(help="auto (each pipeline's type), v1, v2 or both.")
    ] = "auto",
    rule: Annotated[str | None, typer.Option(help="V1 age rule: strict or lenient.")] = None,
    any_execution: Annotated[
        bool, typer.Option("--any-execution", help="Any execution makes a V1 pipeline active.")
    ] = False,
    free_tier: Annotated[
        bool, typer.Option("--free-tier", help="Apply the V1 and V2 free tiers.")
    ] = False,
    rules_file: Annotated[
        Path | None, typer.Option("--rules", help="JSON file of billing rules and prices.")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Cost per pipeline per calendar month (UTC), with the reason each is charged or not."""
    from projections.billing import billing_report, months_between

    rules = _rules(rules_file, rule, any_execution, free_tier)
    with system() as sys_:
        if from_month or to_month:
            months = months_between(from_month or to_month or "", to_month or from_month or "")
        else:
            months = months_between(
                month or sys_.app.clock.now().strftime("%Y-%m"),
                month or sys_.app.clock.now().strftime("%Y-%m"),
            )
        projections = views(sys_)
        with projections.engine.connect() as conn:
            report = billing_report(conn, months, rules, plan)
    if as_json:
        print_json(report.to_dict())
    elif as_csv:
        sys.stdout.write(report.to_csv())
    else:
        render_billing(report)


# ----- projections --------------------------------------------------------------------------


@projections_app.command("status")
@handled
def projections_status_command(as_json: JsonFlag = False) -> None:
    """Each view's position against the head of the event log."""
    with system() as sys_:
        statuses = views(sys_, catch_up=False).status()
    if as_json:
        print_json({"views": [s.to_dict() | {"behind": s.behind} for s in statuses]})
        return
    for status in statuses:
        behind = f"{status.behind} behind" if status.behind else "up to date"
        out.print(f"{status.view:10} {status.position:>10} / {status.head:<10} {behind}")


@projections_app.command("rebuild")
@handled
def projections_rebuild_command(
    view: Annotated[str | None, typer.Argument(help="One view (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Drop a view (or all) and replay the whole event log into it."""
    with system() as sys_:
        done = views(sys_, catch_up=False).rebuild(view)
    rate = done.events / done.seconds if done.seconds else 0.0
    if as_json:
        print_json(
            {"views": done.applied, "seconds": round(done.seconds, 3), "eventsPerSecond": rate}
        )
    else:
        out.print(
            f"rebuilt {', '.join(done.applied)} from {done.events} events in "
            f"{done.seconds:.2f}s ({rate:,.0f} events/s)"
        )


# ----- replay (for the lead's `executions replay`) ------------------------------------------


def replay_command(execution_id: str, check: bool = True, as_json: bool = False) -> None:
    """An execution's timeline from its events; with check, the planner's decisions re-derived."""
    from projections.timetravel import check_decisions, timeline

    with system() as sys_:
        execution = find_execution(sys_, execution_id)
        steps = timeline(sys_.app.events, execution.execution_id)
        verdict = check_decisions(sys_.app, execution.execution_id) if check else None
    if as_json:
        body: dict[str, Any] = {"pipelineExecutionId": execution.execution_id, "steps": steps}
        if verdict is not None:
            body["decisions"] = verdict.to_dict()
        print_json(body)
    else:
        for step in steps:
            out.print(
                f"{step['at'][:19].replace('T', ' ')}  +{step['offset']:>9}s  {step['text']}",
                markup=False,
            )
        if verdict is not None:
            if verdict.ok:
                out.print(
                    f"[green]decisions unchanged[/]: {verdict.decisions} re-derived by the planner"
                )
            else:
                out.print(f"[red]decisions differ[/] {verdict.divergence}")
    if verdict is not None and not verdict.ok:
        raise typer.Exit(1)


# ----- simulation ---------------------------------------------------------------------------


def _scenario_months(result: SimulationResult) -> list[tuple[int, int]]:
    from projections.billing import months_between

    first = result.scenario.steps[0].at.strftime("%Y-%m")
    last = result.ended_at.strftime("%Y-%m")
    return months_between(first, last)


def run_scenario(
    scenario: Scenario, rules: BillingRules | None = None, plan: str = "auto"
) -> dict[str, Any]:
    """Run a scenario and read its views: state, history, billing and which revisions got where."""
    from engine.simulation import simulate
    from projections.billing import BillingRules, billing_report
    from projections.history import list_executions
    from projections.state import current_state
    from projections.views import open_projections

    result = simulate(scenario)
    projections = open_projections(result.app, "sqlite://")
    projections.catch_up()
    rules = rules or BillingRules.from_mapping(scenario.billing)
    with projections.engine.connect() as conn:
        states = {}
        for name in result.app.pipeline_names():
            states[name] = current_state(conn, name)
        history = list_executions(conn, max_results=100)["pipelineExecutionSummaries"]
        report = billing_report(conn, _scenario_months(result), rules, plan)
    return {
        "scenario": scenario.name,
        "endedAt": result.ended_at.isoformat(),
        "refused": result.errors,
        "state": states,
        "history": history,
        "reach": result.reach(),
        "billing": report.to_dict(),
        "_report": report,
    }


def _comparison(base: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    def index(run: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
        return {(r["pipeline"], r["revision"]): r for r in run["reach"]}

    left, right = index(base), index(other)
    rows = []
    for key in sorted(set(left) | set(right), key=lambda k: (k[0], str(k[1]))):
        a, b = left.get(key, {}), right.get(key, {})
        rows.append(
            {
                "pipeline": key[0],
                "revision": key[1],
                "base": {"status": a.get("status"), "stagesSucceeded": a.get("stagesSucceeded")},
                "variant": {"status": b.get("status"), "stagesSucceeded": b.get("stagesSucceeded")},
            }
        )
    return rows


@handled
def simulate_command(
    scenario_file: Annotated[Path, typer.Argument(help="A scenario JSON file.")],
    mode: Annotated[
        str | None, typer.Option(help="Re-run with every pipeline in this execution mode.")
    ] = None,
    plan: Annotated[
        str | None, typer.Option(help="Re-run with every pipeline of this type (v1 or v2).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a what-if scenario under a virtual clock in a throw-away store; compare variants."""
    from rich.table import Table

    from engine.simulation import Scenario

    scenario = Scenario.load(scenario_file)
    base = run_scenario(scenario)
    variant = None
    if mode or plan:
        other = scenario.variant(
            mode=mode.upper() if mode else None, pipeline_type=plan.upper() if plan else None
        )
        variant = run_scenario(other)
    if as_json:
        body = {k: v for k, v in base.items() if not k.startswith("_")}
        if variant is not None:
            body = {
                "base": body,
                "variant": {k: v for k, v in variant.items() if not k.startswith("_")},
                "comparison": _comparison(base, variant),
            }
        print_json(body)
        return
    _render_run(base, "scenario " + scenario.name)
    if variant is not None:
        label = ", ".join(
            x for x in (f"mode {mode}" if mode else "", f"plan {plan}" if plan else "") if x
        )
        _render_run(variant, f"variant ({label})")
        table = Table(title="which revision reached which stage", header_style="bold")
        for column in ("pipeline", "revision", "base", "variant"):
            table.add_column(column)
        for row in _comparison(base, variant):
            table.add_row(
                row["pipeline"],
                str(row["revision"]),
                f"{row['base']['status']} {row['base']['stagesSucceeded'] or ''}",
                f"{row['variant']['status']} {row['variant']['stagesSucceeded'] or ''}",
            )
        out.print(table)
        out.print(
            f"cost: base ${base['_report'].total:.3f}, variant ${variant['_report'].total:.3f}"
        )


def _render_run(run: dict[str, Any], title: str) -> None:
    from cli import render

    out.print(f"[bold]== {title}[/] (virtual time ended {run['endedAt']})")
    for problem in run["refused"]:
        out.print(f"[yellow]refused[/] {problem}")
    for document in run["state"].values():
        render.state(document)
    render.executions(run["history"])
    render_billing(run["_report"])


# ----- pipeline diff ------------------------------------------------------------------------


@handled
def pipeline_diff_command(
    name: Annotated[str, typer.Argument(help="The pipeline.")],
    first: Annotated[int, typer.Argument(help="The older version.")],
    second: Annotated[int, typer.Argument(help="The newer version.")],
    as_json: JsonFlag = False,
) -> None:
    """What changed between two versions of a pipeline's definition."""
    from projections.diff import pipeline_diff

    with system() as sys_:
        diff = pipeline_diff(sys_.app.pipeline(name), first, second)
    if as_json:
        print_json(diff)
        return
    out.print(f"[bold]{name}[/]: version {first} -> {second}")
    for change in diff["changes"] or ["no changes"]:
        out.print(f"  • {change}", markup=False)
    for line in diff["diff"]:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        out.print(line, style=style, markup=False)
