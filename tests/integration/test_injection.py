"""Values never become code: variables reach shell, JSON, YAML and git as values, not as text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Workspace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def _source(configuration: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": "Source",
        "actions": [
            {
                "name": "Checkout",
                "actionTypeId": _type("Source", "Git"),
                "configuration": configuration or {"RepositoryUrl": "app", "BranchName": "main"},
                "outputArtifacts": [{"name": "Src"}],
                "namespace": "SourceVariables",
            }
        ],
    }


def _pipeline(action: dict[str, Any], *, source: dict[str, Any] | None = None) -> dict[str, Any]:
    action.setdefault("inputArtifacts", [{"name": "Src"}])
    return {
        "pipeline": {
            "name": "inject",
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "pipelineType": "V2",
            "variables": [{"name": "Value", "defaultValue": "plain"}],
            "stages": [source or _source(), {"name": "Run", "actions": [action]}],
        }
    }


def _shell(commands: list[str]) -> dict[str, Any]:
    return {
        "name": "Echo",
        "actionTypeId": _type("Build", "Shell"),
        "configuration": {"Commands": "\n".join(commands)},
    }


def _workspace(root: Path, message: str = "first") -> Workspace:
    root.mkdir()
    ws = Workspace(root)
    ws.write("app/app.txt", "the application\n")
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", message)
    return ws


def _run(ws: Workspace, document: dict[str, Any], *variables: str, expect: int = 0) -> str:
    """Create the pipeline, run one execution here, and return that execution's id."""
    ws.write("pipeline.json", document)
    ws.run("pipeline", "create", "pipeline.json", "--no-start")
    args = [arg for value in variables for arg in ("--var", value)]
    ws.run("start", "inject", *args, "--wait", expect=expect)
    listing = ws.json("executions", "list", "inject")
    return str(listing["pipelineExecutionSummaries"][0]["pipelineExecutionId"])


def _log(ws: Workspace, execution_id: str, stage: str = "Run", action: str = "Echo") -> str:
    return ws.run("logs", execution_id, stage, action).stdout


def _printed(log: str) -> list[str]:
    """The lines the commands printed (Conveyor's own lines start with a [tag])."""
    lines = [line.split("│", 1)[-1].strip() for line in log.splitlines()]
    return [line for line in lines if line and not line.startswith(("[", "== ", "attempt "))]


ATTACKS = [
    "$(touch {marker})",
    "`touch {marker}`",
    '"; touch {marker}; echo "',
    "'; touch {marker}; echo '",
    "x && touch {marker}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_pipeline_variable_never_runs_as_a_command_in_the_shipped_example(
    tmp_path: Path, attack: str
) -> None:
    (tmp_path / "ws").mkdir()
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(EXAMPLES / "app", ws.root / "app")
    ws.git("app", "init", "-q", "-b", "main")
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "first")
    shutil.copy(EXAMPLES / "pipeline.json", ws.root / "pipeline.json")
    marker = tmp_path / "pwned"
    ws.run("pipeline", "create", "pipeline.json", "--no-start")

    started = ws.run(
        "start", "hello-site", "--var", "Greeting=" + attack.format(marker=marker), "--wait"
    )

    assert "waiting for approval" in started.stdout
    assert not marker.exists()


def test_echo_prints_a_variable_value_verbatim_bare_in_double_and_in_single_quotes(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path / "ws")
    marker = tmp_path / "pwned"
    value = f'a  b * $(touch {marker}) `touch {marker}` it\'s "q" \\n $HOME'
    commands = [
        "echo #{variables.Value}",
        'echo "#{variables.Value}"',
        "echo '#{variables.Value}'",
        "echo 'before #{variables.Value} after'",
        'echo "<#{variables.Value}>" # it\'s a comment',
    ]

    execution = _run(ws, _pipeline(_shell(commands)), f"Value={value}")

    assert not marker.exists()
    assert _printed(_log(ws, execution)) == [
        value,
        value,
        value,
        f"before {value} after",
        f"<{value}>",
    ]


def test_a_commit_message_never_runs_as_a_command(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    message = f"fix $(touch {marker}) and `touch {marker}`"
    ws = _workspace(tmp_path / "ws", message=message)
    commands = [
        'echo "#{SourceVariables.CommitMessage}"',
        "echo #{SourceVariables.CommitMessage}",
        "echo '#{SourceVariables.CommitMessage}'",
    ]

    execution = _run(ws, _pipeline(_shell(commands)))

    assert not marker.exists()
    assert _printed(_log(ws, execution)) == [message, message, message]


def test_a_variable_cannot_add_entries_to_codebuild_environment_variables(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path / "ws")
    ws.write(
        "app/buildspec.yml",
        'version: 0.2\nphases:\n  build:\n    commands:\n      - echo "tag=$TAG"\n',
    )
    ws.git("app", "add", ".")
    ws.git("app", "commit", "-q", "-m", "buildspec")
    marker = tmp_path / "pwned"
    tag = f'v1","type":"PLAINTEXT"}},{{"name":"BASH_ENV","value":"$(touch {marker})'
    environment = [{"name": "TAG", "value": "#{variables.Value}", "type": "PLAINTEXT"}]
    build = {
        "name": "Echo",
        "actionTypeId": _type("Build", "CodeBuild"),
        "configuration": {"EnvironmentVariables": json.dumps(environment)},
    }

    execution = _run(ws, _pipeline(build), f"Value={tag}")

    assert not marker.exists()
    assert f"tag={tag}" in _printed(_log(ws, execution))


def test_a_variable_in_an_inline_buildspec_stays_one_value(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    marker = tmp_path / "pwned"
    value = f'x"\n      - touch {marker}\n      - echo "$(touch {marker})'
    inline = (
        "version: 0.2\n"
        'env:\n  variables:\n    FROM_ENV: "#{variables.Value}"\n'
        "phases:\n  build:\n    commands:\n"
        '      - echo "cmd=#{variables.Value}"\n'
        '      - echo "env=$FROM_ENV"\n'
    )
    build = {
        "name": "Echo",
        "actionTypeId": _type("Build", "CodeBuild"),
        "configuration": {"BuildSpec": inline},
    }

    execution = _run(ws, _pipeline(build), f"Value={value}")

    assert not marker.exists()
    log = _log(ws, execution)
    first_line = value.splitlines()[0]
    assert f"cmd={first_line}" in _printed(log)
    assert f"env={first_line}" in _printed(log)


def test_a_json_configuration_with_a_reference_outside_its_strings_is_refused(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path / "ws")
    build = {
        "name": "Echo",
        "actionTypeId": _type("Build", "CodeBuild"),
        "configuration": {"EnvironmentVariables": '[{"name": "TAG", "value": #{variables.Value}}]'},
    }

    ws.write("pipeline.json", _pipeline(build))

    # `#{...}` outside a JSON string is not JSON: refused when the definition is validated,
    # long before a value could be spliced into it (the build also refuses it, for old stores).
    refused = ws.run("pipeline", "create", "pipeline.json", "--no-start", expect=2)

    assert "EnvironmentVariables" in refused.stderr
    assert "not valid JSON" in refused.stderr
    assert ws.json("pipeline", "list")["pipelines"] == []


# No '/' and no space, so it passes for an scp-like URL; the marker lands beside the store.
GIT_ATTACK = "--upload-pack=touch${IFS}$CONVEYOR_HOME.pwned;false@x:"


@pytest.mark.parametrize(
    "configuration",
    [
        {"RepositoryName": "#{variables.Value}", "BranchName": "main"},
        {"RepositoryName": GIT_ATTACK, "BranchName": "main"},
        {"RepositoryUrl": GIT_ATTACK, "BranchName": "main"},
    ],
    ids=["from-a-variable", "written-in-the-definition", "as-a-url"],
)
def test_a_repository_location_never_becomes_a_git_option(
    tmp_path: Path, configuration: dict[str, str]
) -> None:
    ws = _workspace(tmp_path / "ws")
    marker = ws.root / ".conveyor.pwned"
    source = _source(configuration)

    execution = _run(
        ws, _pipeline(_shell(["true"]), source=source), f"Value={GIT_ATTACK}", expect=1
    )

    assert not marker.exists()
    key = next(iter(configuration))
    log = _log(ws, execution, "Source", "Checkout")
    assert f"{key} '{GIT_ATTACK}': must not start with '-'" in log


def test_a_branch_name_never_becomes_a_git_option(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    marker = tmp_path / "pwned"
    attack = f"--upload-pack=touch {marker}"
    source = _source(
        {
            "RepositoryUrl": "app",
            "BranchName": attack,
            "OutputArtifactFormat": "CODEBUILD_CLONE_REF",
        }
    )

    execution = _run(ws, _pipeline(_shell(["true"]), source=source), expect=1)

    assert not marker.exists()
    log = _log(ws, execution, "Source", "Checkout")
    assert f"BranchName '{attack}': must not start with '-'" in log
