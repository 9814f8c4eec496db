"""`conveyor tag`, `action-types` and `start`'s token and source revisions, as users run them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def pipeline(check: str = "true") -> dict[str, Any]:
    return {
        "name": "demo",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Checkout",
                        "actionTypeId": _type("Source", "Git"),
                        "configuration": {"RepositoryUrl": "app", "BranchName": "main"},
                        "outputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Check",
                        "actionTypeId": _type("Build", "Shell"),
                        "configuration": {"Commands": check},
                        "inputArtifacts": [{"name": "Src"}],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write("app/app.txt", "one\n")
    workspace.git("app", "init", "-q", "-b", "main")
    workspace.git("app", "add", ".")
    workspace.git("app", "commit", "-q", "-m", "first")
    workspace.write("app/app.txt", "two\n")
    workspace.git("app", "commit", "-q", "-am", "second")
    return workspace


def create(ws: Workspace, check: str = "true") -> None:
    ws.write("pipeline.json", pipeline(check))
    ws.run("pipeline", "create", "pipeline.json", "--no-start")


def error_of(done: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(done.stderr)
    return found


def started_id(done: Any) -> str:
    found = re.search(r"started execution ([0-9a-f-]{36})", done.stdout)
    assert found, done.stdout
    return found.group(1)


def test_tags_are_added_listed_and_removed_and_appear_in_the_audit_trail(ws: Workspace) -> None:
    create(ws)
    ws.run("tag", "add", "demo", "team=web", "tier=1", "empty=")
    assert ws.json("tag", "list", "demo") == {
        "tags": [
            {"key": "team", "value": "web"},
            {"key": "tier", "value": "1"},
            {"key": "empty", "value": ""},
        ]
    }
    ws.run("tag", "remove", "demo", "team", "empty")
    assert ws.run("tag", "list", "demo").stdout.strip() == "tier=1"
    audit = ws.run("audit", "--pipeline", "demo").stdout
    assert "tagged the pipeline: team=web, tier=1, empty=" in audit
    assert "removed tags team, empty" in audit


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("tag", "add", "demo", "aws:owner=me"), "InvalidTagsException"),
        (("tag", "add", "demo", "a=1", "a=2"), "InvalidTagsException"),
        (("tag", "add", "demo", "no-equals-sign"), "ValidationException"),
        (("tag", "add", "demo", "k" * 129 + "=v"), "ValidationException"),
        (("tag", "add", "ghost", "a=1"), "ResourceNotFoundException"),
        (("tag", "remove", "demo", "aws:owner"), "InvalidTagsException"),
        (("tag", "list", "ghost"), "ResourceNotFoundException"),
    ],
)
def test_a_refused_tag_request_exits_2_with_codepipelines_error_and_changes_nothing(
    ws: Workspace, args: tuple[str, ...], code: str
) -> None:
    create(ws)
    ws.run("tag", "add", "demo", "keep=me")
    done = ws.run(*args, "--json", expect=2)
    assert error_of(done)["__type"] == code
    assert ws.json("tag", "list", "demo") == {"tags": [{"key": "keep", "value": "me"}]}


def test_fifty_one_tags_are_too_many(ws: Workspace) -> None:
    create(ws)
    done = ws.run("tag", "add", "demo", *[f"k{i}=v" for i in range(51)], "--json", expect=2)
    assert error_of(done)["__type"] == "TooManyTagsException"


def test_the_same_client_request_token_twice_starts_one_execution(ws: Workspace) -> None:
    create(ws)
    first = started_id(ws.run("start", "demo", "--client-request-token", "ci-run-7"))
    again = started_id(ws.run("start", "demo", "--client-request-token", "ci-run-7"))
    other = started_id(ws.run("start", "demo", "--client-request-token", "ci-run-8"))
    assert again == first and other != first
    listed = ws.json("executions", "list", "demo")
    ids = [e["pipelineExecutionId"] for e in listed["pipelineExecutionSummaries"]]
    assert sorted(ids) == sorted([first, other])
    bad = ws.run("start", "demo", "--client-request-token", "not valid!", "--json", expect=2)
    assert error_of(bad)["__type"] == "ValidationException"


def test_a_commit_id_source_revision_runs_that_commit_instead_of_the_branch_tip(
    ws: Workspace,
) -> None:
    create(ws, check='test "$(cat app.txt)" = one')
    first = ws.git("app", "rev-list", "--max-parents=0", "HEAD")
    done = ws.run("start", "demo", "--source-revision", f"Checkout=COMMIT_ID:{first}", "--wait")
    execution = started_id(done)
    shown = ws.run("executions", "show", execution, "--json").stdout
    assert json.loads(shown)["pipelineExecution"]["status"] == "Succeeded"
    assert first in shown
    # Without it the tip ("two") runs, and the check fails.
    ws.run("start", "demo", "--wait", expect=1)


def test_a_commit_that_is_not_on_the_branch_fails_the_source_action(ws: Workspace) -> None:
    create(ws)
    ws.git("app", "checkout", "-q", "-b", "elsewhere")
    ws.write("app/app.txt", "elsewhere\n")
    ws.git("app", "commit", "-q", "-am", "not on main")
    stray = ws.git("app", "rev-parse", "HEAD")
    ws.git("app", "checkout", "-q", "main")
    done = ws.run(
        "start", "demo", "--source-revision", f"Checkout=COMMIT_ID:{stray}", "--wait", expect=1
    )
    execution = started_id(done)
    shown = json.loads(ws.run("executions", "show", execution, "--json").stdout)
    assert shown["pipelineExecution"]["status"] == "Failed"
    log = ws.run("logs", execution, "Source", "Checkout").stdout
    assert f"FAILED (RevisionUnavailable): COMMIT_ID {stray}: no such commit" in log


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("Checkout=COMMIT_ID:main", "revisionValue"),
        ("Checkout=COMMIT_ID:--upload-pack=touch", "revisionValue"),
        ("Check=COMMIT_ID:" + "a" * 40, "actionName"),
        ("Checkout=IMAGE_DIGEST:sha256:abc", "revisionType"),
        ("no-type-here", "--source-revision"),
    ],
)
def test_a_source_revision_the_pipeline_cannot_run_exits_2_and_starts_nothing(
    ws: Workspace, value: str, names: str
) -> None:
    create(ws)
    done = ws.run("start", "demo", "--source-revision", value, "--json", expect=2)
    error = error_of(done)
    assert error["__type"] == "ValidationException" and names in error["message"]
    assert ws.json("executions", "list", "demo")["pipelineExecutionSummaries"] == []


def test_action_types_lists_the_catalogue_as_list_action_types_does(ws: Workspace) -> None:
    listed = ws.json("action-types")["actionTypes"]
    assert {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"} in [
        t["id"] for t in listed
    ]
    third = ws.json("action-types", "--owner", "ThirdParty")["actionTypes"]
    assert {t["id"]["provider"] for t in third} == {"Git", "GitHub"}
    assert "CodeBuild" in ws.run("action-types").stdout
