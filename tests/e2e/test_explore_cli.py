"""`conveyor explore` as a user runs it: counterexamples to replay, statistics, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import Workspace

EXAMPLES = Path(__file__).parents[2] / "examples" / "explore"


def shop(workspace: Workspace, mode: str) -> Path:
    document = json.loads((EXAMPLES / "shop.json").read_text())
    document["pipeline"]["executionMode"] = mode
    document["pipeline"]["stages"] = document["pipeline"]["stages"][:4]
    return workspace.write(f"shop-{mode.lower()}.json", document)


def test_a_parallel_counterexample_replays_with_simulate_showing_the_older_revision_last(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    definition = shop(ws, "PARALLEL")
    ws.write("props.yaml", "properties:\n  - kind: never-regresses\n    stage: Deploy\n")

    done = ws.run(
        "explore", str(definition), "--properties", "props.yaml", "--seed", "5",
        "--examples", "100", "--save", "counterexample.json", expect=1,
    )  # fmt: skip

    assert "counterexample after" in done.stdout
    assert "✗ never-regresses stage=Deploy: Deploy ran r" in done.stdout
    assert "== explain" in done.stdout and "== timeline" in done.stdout
    scenario = json.loads((tmp_path / "counterexample.json").read_text())
    assert len([e for e in scenario["events"] if "push" in e]) <= 3
    replay = ws.json("simulate", "counterexample.json")
    # Deploy is the last stage: the execution updated last is the one that deployed last.
    rows = sorted(replay["history"], key=lambda row: row["lastUpdateTime"])
    revisions = [row["sourceRevisions"][0]["revisionId"] for row in rows]
    assert all(row["status"] == "Succeeded" for row in rows)
    assert revisions[-1] != max(revisions, key=lambda r: int(r[1:]))
    assert rows[-1]["lastUpdateTime"] > rows[-2]["lastUpdateTime"]


def test_json_output_carries_the_counterexample_scenario_and_its_explanation(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    definition = shop(ws, "PARALLEL")
    ws.write("props.json", {"properties": [{"kind": "at-most-in-flight", "max": 1}]})

    body = ws.json(
        "explore", str(definition), "--properties", "props.json", "--seed", "1", "--examples",
        "50", expect=1,
    )  # fmt: skip

    assert body["holds"] is False
    found = body["counterexample"]
    assert found["violations"][0]["property"] == "at-most-in-flight max=1"
    assert found["pushes"] == 2
    assert set(found["explain"]) == set(found["violations"][0]["executions"])
    assert found["timeline"][0]["text"] == "r1 pushed"


def test_stats_with_a_fixed_seed_print_the_same_figures_on_every_run(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    args = (
        "explore", str(EXAMPLES / "shop.json"), "--properties", str(EXAMPLES / "properties.yaml"),
        "--seed", "11", "--examples", "20", "--stats",
    )  # fmt: skip

    first = ws.run(*args)
    second = ws.run(*args)

    assert first.stdout == second.stdout
    assert "every property held over 20 histories (seed 11; repeat with --seed 11)" in first.stdout
    for figure in ("lead p50", "superseded:", "never deployed:", "cost per month at 1000 pushes"):
        assert figure in first.stdout


def test_a_bad_properties_file_exits_2_listing_every_problem(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write(
        "bad.yaml",
        "properties:\n"
        "  - kind: never-regress\n"
        "  - kind: lead-time\n    stage: Prodd\n    within: soon\n"
        "inputs:\n  failures: {Compile: 2}\n",
    )

    done = ws.run("explore", str(EXAMPLES / "shop.json"), "--properties", "bad.yaml", expect=2)

    assert "Traceback" not in done.stderr
    assert "the properties file has 4 problems" in done.stderr
    for path in (
        "properties[0].kind",
        "properties[1].stage",
        "properties[1].within",
        "inputs.failures.Compile",
    ):
        assert path in done.stderr


def test_a_bad_definition_or_option_exits_2_without_a_traceback(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("broken.json", {"pipeline": {"name": "x", "stages": []}})

    broken = ws.run("explore", "broken.json", expect=2)
    zero = ws.run("explore", str(EXAMPLES / "shop.json"), "--examples", "0", expect=2)

    assert "InvalidStructureException" in broken.stderr and "Traceback" not in broken.stderr
    assert "--examples: must be from 1 to 100000" in zero.stderr


def test_the_saved_scenario_path_prints_as_given_even_with_brackets(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    definition = shop(ws, "PARALLEL")
    ws.write("props.json", {"properties": [{"kind": "at-most-in-flight", "max": 1}]})

    done = ws.run(
        "explore", str(definition), "--properties", "props.json", "--seed", "1",
        "--examples", "50", "--save", "[run 1].json", expect=1,
    )  # fmt: skip

    assert "(replay: conveyor simulate [run 1].json)" in done.stdout
    assert "written to [run 1].json" in done.stdout
    assert json.loads((tmp_path / "[run 1].json").read_text())["events"]


def test_save_refuses_to_overwrite_the_definition_or_properties_it_explores(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    definition = shop(ws, "PARALLEL")
    props = ws.write("props.json", {"properties": [{"kind": "at-most-in-flight", "max": 1}]})
    before = definition.read_text(), props.read_text()

    for target in (str(definition), "props.json"):
        done = ws.run(
            "explore", str(definition), "--properties", "props.json", "--save", target, expect=2
        )
        assert "--save:" in done.stderr and "is the file being explored" in done.stderr

    assert (definition.read_text(), props.read_text()) == before
