"""`conveyor explore`: property-test a pipeline definition over random, shrinking histories."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from cli.context import handled, out, print_json
from domain.errors import InvalidDefinition, ValidationException
from engine.inputs import UnreadableInput, read_text

MAX_EXAMPLES = 100_000


def _definition(path: Path) -> dict[str, Any]:
    from domain.validation import parse_definition

    try:
        text = read_text(path, "json")
    except UnreadableInput as error:
        raise InvalidDefinition([error.problem]) from None
    parse_definition(text)
    document = json.loads(text)
    return dict(document.get("pipeline", document))


@handled
def explore_command(
    definition_file: Annotated[Path, typer.Argument(help="A pipeline definition (JSON).")],
    properties: Annotated[
        Path | None,
        typer.Option("--properties", help="Properties to check and input ranges (YAML/JSON)."),
    ] = None,
    examples: Annotated[int, typer.Option(help="How many histories to try.")] = 100,
    seed: Annotated[
        int | None, typer.Option(help="Repeat a run: the same seed draws the same histories.")
    ] = None,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print lead times, losses, queues and cost.")
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Write a counterexample's scenario to this file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Run random histories through the real engine; print a shrunk counterexample (exit 1)."""
    # Hypothesis and the engine load only here: other commands start faster without them.
    from domain.validation import parse_definition
    from engine.explore.report import exploration_document
    from engine.explore.search import explore
    from engine.explore.spec import load_spec

    if not 1 <= examples <= MAX_EXAMPLES:
        raise ValidationException(f"--examples: must be from 1 to {MAX_EXAMPLES}, not {examples}")
    if seed is not None and not 0 <= seed < 2**32:
        raise ValidationException(f"--seed: must be from 0 to {2**32 - 1}, not {seed}")
    _check_save(save, definition_file, properties)
    definition = _definition(definition_file)
    spec = load_spec(properties, parse_definition(definition))
    chosen = seed if seed is not None else random.SystemRandom().randrange(2**32)
    found = explore(definition, spec, examples=examples, seed=chosen)
    body = exploration_document(found, with_stats=stats)
    if save is not None and "counterexample" in body:
        save.write_text(json.dumps(body["counterexample"]["scenario"], indent=2) + "\n")
    if as_json:
        print_json(body)
    else:
        _render(body, save)
    if "counterexample" in body:
        raise typer.Exit(1)


def _check_save(save: Path | None, *inputs: Path | None) -> None:
    """--save overwrites any file except the definition or properties it explores."""
    if save is None:
        return
    for given in inputs:
        if given is not None and save.resolve() == given.resolve():
            raise ValidationException(
                f"--save: {save} is the file being explored; choose another file"
            )


def _render(body: dict[str, Any], save: Path | None) -> None:
    seed = body["seed"]
    if "counterexample" not in body:
        out.print(
            f"[green]every property held[/] over {body['examples']} histories "
            f"(seed {seed}; repeat with --seed {seed})"
        )
        for name in body["properties"]:
            out.print(f"  ✓ {name}", markup=False)
    else:
        _render_counterexample(body, save)
    if "stats" in body:
        _render_stats(body["stats"])


def _render_counterexample(body: dict[str, Any], save: Path | None) -> None:
    found = body["counterexample"]
    seed = body["seed"]
    out.print(
        f"[bold red]counterexample[/] after {body['examples']} passing histories, shrunk to "
        f"{found['pushes']} push{'es' if found['pushes'] != 1 else ''} "
        f"(seed {seed}; repeat with --seed {seed})"
    )
    for violation in found["violations"]:
        out.print(f"  ✗ {violation['property']}: {violation['message']}", markup=False)
    out.print("[bold]== explain[/]")
    for eid, item in found["explain"].items():
        out.print(f"{item['revision']} (execution {eid}):", markup=False)
        for fact in item["facts"]:
            out.print(f"  {fact}", markup=False)
    out.print("[bold]== timeline[/]")
    for step in found["timeline"]:
        out.print(f"  +{step['offset']:>8}  {step['revision']:<5} {step['text']}", markup=False)
    for refusal in found["refused"]:
        out.print(f"  refused: {refusal}", markup=False)
    where = str(save) if save is not None else "counterexample.json"
    # The path is the user's: printed as text, so a '[' in it is not read as markup.
    out.print(Text.assemble(("== scenario", "bold"), f" (replay: conveyor simulate {where})"))
    if save is not None:
        out.print(f"written to {save}", markup=False)
    else:
        out.print(json.dumps(found["scenario"], indent=2), markup=False, highlight=False)


def _render_stats(stats: dict[str, Any]) -> None:
    from engine.explore.properties import duration

    def shown(value: float | None, as_time: bool) -> str:
        if value is None:
            return "-"
        return duration(value) if as_time else f"{value:g}"

    out.print(
        f"[bold]== statistics[/] over {stats['histories']} histories, "
        f"{stats['revisions']} revisions, {stats['executions']} executions"
    )
    # Plain columns, not a table: the figures read the same at any terminal width.
    width = max([len(stage) for stage in stats["leadTimeSeconds"]] + [5])
    out.print(
        f"{'stage':<{width}}  {'reached':>7}  {'lead p50':>9}  {'lead p95':>9}  {'lead max':>9}"
        f"  {'queue p50/p95/max':>17}",
        markup=False,
    )
    for stage, lead in stats["leadTimeSeconds"].items():
        queue = stats["queuePeak"][stage]
        times = "  ".join(f"{shown(lead[k], True):>9}" for k in ("p50", "p95", "max"))
        peaks = "/".join(shown(queue[k], False) for k in ("p50", "p95", "max"))
        out.print(f"{stage:<{width}}  {lead['count']:>7}  {times}  {peaks:>17}", markup=False)
    out.print(f"superseded: {stats['supersededFraction']:.1%} of executions", markup=False)
    out.print(f"never deployed: {stats['neverDeployedFraction']:.1%} of revisions", markup=False)
    cost = stats["costPerMonth"]
    out.print(
        f"cost per month at {cost['pushesPerMonth']:g} pushes "
        f"({cost['actionMinutesPerPush']:g} action-minutes each): "
        f"V1 ${cost['V1']}, V2 ${cost['V2']}",
        markup=False,
    )
