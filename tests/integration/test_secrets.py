"""Secrets: an encrypted workspace store, resolved when a build runs, masked wherever recorded."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.secrets import SecretsError, SecretStore
from tests.e2e.cli import CONVEYOR, Workspace

SECRET = "s3cr3t-Value-42"
TOKEN = "tok-Xy9-deploy"

BUILDSPEC = """\
version: 0.2
env:
  parameter-store:
    FROM_SPEC: deploy/token
  exported-variables:
    - LEAKED
phases:
  build:
    commands:
      - echo "db=$DB_PASSWORD"
      - echo "spec=$FROM_SPEC"
      - export LEAKED="$DB_PASSWORD"
      - echo "$DB_PASSWORD" >&2
      - echo "length=${#DB_PASSWORD}"
"""


def _set(
    ws: Workspace, name: str, value: str, *, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """`conveyor secrets set NAME` with the value on stdin, as a script would pipe it."""
    done = subprocess.run(
        [CONVEYOR, "secrets", "set", name],
        cwd=ws.root,
        env=ws.env(),
        input=value + "\n",
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def _definition(
    secret_type: str = "SECRETS_MANAGER", secret: str = "db-password"
) -> dict[str, Any]:
    environment = [{"name": "DB_PASSWORD", "value": secret, "type": secret_type}]
    kind = {"owner": "AWS", "version": "1"}
    return {
        "pipeline": {
            "name": "secret",
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Checkout",
                            "actionTypeId": {"category": "Source", "provider": "Git", **kind},
                            "configuration": {"RepositoryUrl": "app", "BranchName": "main"},
                            "outputArtifacts": [{"name": "Src"}],
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Compile",
                            "actionTypeId": {"category": "Build", "provider": "CodeBuild", **kind},
                            "configuration": {"EnvironmentVariables": json.dumps(environment)},
                            "inputArtifacts": [{"name": "Src"}],
                            "namespace": "BuildVariables",
                        }
                    ],
                },
            ],
        }
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write("app/buildspec.yml", BUILDSPEC)
    workspace.git("app", "init", "-q", "-b", "main")
    workspace.git("app", "add", ".")
    workspace.git("app", "commit", "-q", "-m", "first")
    return workspace


def test_secrets_are_set_from_stdin_listed_by_name_and_deleted(ws: Workspace) -> None:
    _set(ws, "db-password", SECRET)
    _set(ws, "deploy/token", TOKEN)

    listed = ws.json("secrets", "list")
    assert listed == {"secrets": ["db-password", "deploy/token"]}
    assert SECRET not in ws.run("secrets", "list").stdout

    ws.run("secrets", "delete", "db-password")
    assert ws.json("secrets", "list") == {"secrets": ["deploy/token"]}
    gone = ws.run("secrets", "delete", "db-password", expect=2)
    assert "db-password" in gone.stderr


def test_the_store_holds_only_ciphertext_under_a_key_only_its_owner_can_read(
    ws: Workspace,
) -> None:
    _set(ws, "db-password", SECRET)

    home = ws.root / ".conveyor"
    key = home / "keys" / "secrets.key"
    assert stat.S_IMODE(key.lstat().st_mode) == 0o600
    assert stat.S_IMODE((home / "keys").lstat().st_mode) == 0o700
    store = home / "secrets.json"
    assert stat.S_IMODE(store.lstat().st_mode) == 0o600
    assert SECRET.encode() not in store.read_bytes()
    assert "db-password" in json.loads(store.read_text())


def test_an_empty_value_and_a_bad_name_are_refused(ws: Workspace) -> None:
    empty = _set(ws, "db-password", "", expect=2)
    assert "empty" in empty.stderr
    bad = _set(ws, "no spaces", SECRET, expect=2)
    assert "secret name 'no spaces'" in bad.stderr
    assert ws.json("secrets", "list") == {"secrets": []}


@pytest.mark.parametrize("secret_type", ["SECRETS_MANAGER", "PARAMETER_STORE"])
def test_a_build_gets_its_secrets_and_every_record_shows_them_masked(
    ws: Workspace, secret_type: str
) -> None:
    _set(ws, "db-password", SECRET)
    _set(ws, "deploy/token", TOKEN)
    ws.write("pipeline.json", _definition(secret_type))
    ws.run("pipeline", "validate", "pipeline.json")
    ws.run("pipeline", "create", "pipeline.json", "--no-start")

    started = ws.run("start", "secret", "--wait")

    execution = ws.json("executions", "list", "secret")["pipelineExecutionSummaries"][0]
    assert execution["status"] == "Succeeded", started.stdout
    execution_id = execution["pipelineExecutionId"]
    log = ws.run("logs", execution_id, "Build", "Compile").stdout
    assert "db=***" in log and "spec=***" in log
    assert f"length={len(SECRET)}" in log
    shown = ws.run("executions", "show", execution_id, "--json").stdout
    assert '"LEAKED": "***"' in shown
    audit = ws.run("audit", "--json").stdout
    for record in (started.stdout, log, shown, audit):
        assert SECRET not in record and TOKEN not in record
    for path in (ws.root / ".conveyor").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_missing_secret_is_refused_at_validate_and_at_start_naming_it(ws: Workspace) -> None:
    ws.write("pipeline.json", _definition(secret="db-password"))

    validated = ws.run("pipeline", "validate", "pipeline.json", expect=2)
    assert "secret 'db-password' is not in the workspace secrets store" in validated.stderr
    assert "EnvironmentVariables[0]" in validated.stderr

    _set(ws, "db-password", SECRET)
    ws.run("pipeline", "create", "pipeline.json", "--no-start")
    ws.run("secrets", "delete", "db-password")
    started = ws.run("start", "secret", expect=2)
    assert "secret 'db-password'" in started.stderr
    assert ws.json("executions", "list", "secret")["pipelineExecutionSummaries"] == []


def test_a_create_that_would_start_with_a_missing_secret_is_refused_and_records_nothing(
    ws: Workspace,
) -> None:
    ws.write("pipeline.json", _definition(secret="db-password"))

    created = ws.run("pipeline", "create", "pipeline.json", expect=2)

    assert "secret 'db-password'" in created.stderr
    assert "Traceback" not in created.stderr
    assert ws.json("pipeline", "list")["pipelines"] == []


def test_a_secret_missing_when_the_build_runs_fails_the_action_naming_it(ws: Workspace) -> None:
    _set(ws, "db-password", SECRET)
    ws.write("pipeline.json", _definition())
    ws.run("pipeline", "create", "pipeline.json", "--no-start")

    # The buildspec in the source names deploy/token, which only the running build reads.
    ws.run("start", "secret", "--wait", expect=1)

    execution = ws.json("executions", "list", "secret")["pipelineExecutionSummaries"][0]
    log = ws.run("logs", execution["pipelineExecutionId"], "Build", "Compile").stdout
    assert "secret 'deploy/token' is not in the workspace secrets store" in log


def test_a_keys_folder_that_is_a_link_is_refused_and_nothing_is_written_through_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / ".conveyor"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "keys").symlink_to(elsewhere)

    with pytest.raises(SecretsError, match="must be a folder, not a link"):
        SecretStore(home).set("db-password", SECRET)

    assert list(elsewhere.iterdir()) == []
    assert not (home / "secrets.json").exists()


def test_a_second_store_on_the_same_workspace_reads_what_the_first_wrote(tmp_path: Path) -> None:
    home = tmp_path / ".conveyor"
    home.mkdir()
    SecretStore(home).set("db-password", SECRET)

    assert SecretStore(home).get("db-password") == SECRET
    assert SecretStore(home).missing(["db-password", "other"]) == ["other"]
