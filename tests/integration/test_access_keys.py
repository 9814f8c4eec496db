"""Access keys as a user makes them: the secret printed once, encrypted at rest, audited."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import System, build
from engine.secrets import SecretStore
from server.auth import KeyAuthenticator
from server.errors import ApiError
from tests.e2e.cli import CONVEYOR, Workspace
from tests.support.sigv4 import signed_request

KEY_LINE = re.compile(r"aws_access_key_id\s*=\s*(AKIA[A-Z0-9]{16})")
SECRET_LINE = re.compile(r"aws_secret_access_key\s*=\s*(\S+)")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def create(ws: Workspace, name: str, role: str, **env: str) -> tuple[str, str]:
    done = ws.run("access-key", "create", "--name", name, "--role", role, **env)
    key_id = KEY_LINE.search(done.stdout)
    secret = SECRET_LINE.search(done.stdout)
    assert key_id and secret, done.stdout
    return key_id.group(1), secret.group(1)


def audit(ws: Workspace) -> list[dict[str, Any]]:
    lines = ws.run("audit", "--all", "--json").stdout.splitlines()
    return [json.loads(line) for line in lines[1:]]  # the first line is the signed head


@contextmanager
def opened(ws: Workspace) -> Iterator[System]:
    """The workspace's system, in this process, as `conveyor server` opens it."""
    system = build(env=ws.env())
    try:
        yield system
    finally:
        system.close()


def every_file(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file())


def test_create_prints_the_key_id_and_secret_once_and_list_never_shows_the_secret(
    ws: Workspace,
) -> None:
    key_id, secret = create(ws, "ci-bot", "operator")
    assert len(secret) == 40
    listed = ws.run("access-key", "list").stdout
    assert "ci-bot" in listed and key_id in listed and "operator" in listed
    assert secret not in listed
    document = ws.json("access-key", "list")
    assert document == {
        "AccessKeyMetadata": [
            {
                "UserName": "ci-bot",
                "AccessKeyId": key_id,
                "Status": "Active",
                "Role": "operator",
                "CreateDate": document["AccessKeyMetadata"][0]["CreateDate"],
                "CreatedBy": "tester",
            }
        ]
    }


def test_create_json_prints_the_secret_in_iams_shape(ws: Workspace) -> None:
    created = ws.json("access-key", "create", "--name", "deployer", "--role", "admin")
    key = created["AccessKey"]
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", key["AccessKeyId"])
    assert key["UserName"] == "deployer" and key["Role"] == "admin"
    assert len(key["SecretAccessKey"]) == 40


def test_the_secret_is_nowhere_under_the_workspace_in_plaintext_but_is_there_encrypted(
    ws: Workspace,
) -> None:
    key_id, secret = create(ws, "ci-bot", "viewer")
    ws.run("audit", "--all", "--json")  # the views and checkpoints are written too
    home = ws.root / ".conveyor"
    for path in every_file(home):
        assert secret.encode() not in path.read_bytes(), path
    with opened(ws) as system:
        credentials = system.app.access_key_credentials(key_id)
        key = system.app._access_key(key_id)
    assert credentials is not None and credentials.secret == secret
    assert key is not None and key.encrypted_secret != secret
    assert SecretStore(home).decrypt(key.encrypted_secret, "it") == secret


def test_creating_and_revoking_are_in_the_audit_trail_with_who_did_them_and_no_ciphertext(
    ws: Workspace,
) -> None:
    key_id, _ = create(ws, "ci-bot", "operator")
    ws.run("access-key", "revoke", "ci-bot", CONVEYOR_USER="alice")
    records = audit(ws)
    access = [r for r in records if r["category"] == "access"]
    assert [(r["event"], r["actor"], r["summary"]) for r in access] == [
        ("AccessKeyCreated", "tester", f"created access key ci-bot ({key_id}, role operator)"),
        ("AccessKeyRevoked", "alice", f"revoked access key ci-bot ({key_id})"),
    ]
    assert access[0]["detail"]["encrypted_secret"] == "***"
    trail = ws.run("audit", "--all", "--json").stdout
    assert "gAAAA" not in trail  # no Fernet token, not even encrypted
    shown = ws.run("audit").stdout
    assert "created access key ci-bot" in shown and "revoked access key ci-bot" in shown


def test_a_revoked_key_is_listed_as_revoked_and_its_name_may_be_given_to_a_new_key(
    ws: Workspace,
) -> None:
    old_id, _ = create(ws, "ci-bot", "operator")
    assert ws.json("access-key", "revoke", old_id)["Status"] == "Revoked"
    new_id, _ = create(ws, "ci-bot", "viewer")
    listed = {k["AccessKeyId"]: k for k in ws.json("access-key", "list")["AccessKeyMetadata"]}
    assert listed[old_id]["Status"] == "Revoked" and listed[old_id]["RevokedBy"] == "tester"
    assert listed[new_id]["Status"] == "Active" and "RevokeDate" not in listed[new_id]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--name", "has space", "--role", "admin"], "[access-key.name]"),
        (["--name", "x" * 65, "--role", "admin"], "[access-key.name]"),
        (["--name", "ok", "--role", "root"], "[access-key.role]"),
    ],
)
def test_a_bad_name_or_role_is_refused_naming_the_field_and_the_rule_and_records_nothing(
    ws: Workspace, args: list[str], expected: str
) -> None:
    before = audit(ws)
    done = ws.run("access-key", "create", *args, expect=2)
    assert "ValidationException" in done.stderr and expected in done.stderr
    assert audit(ws) == before


def test_a_second_live_key_with_the_same_name_is_refused(ws: Workspace) -> None:
    create(ws, "ci-bot", "operator")
    done = ws.run("access-key", "create", "--name", "ci-bot", "--role", "admin", expect=2)
    assert "EntityAlreadyExistsException" in done.stderr
    assert len(ws.json("access-key", "list")["AccessKeyMetadata"]) == 1


def test_revoking_a_key_that_does_not_exist_or_twice_is_refused(ws: Workspace) -> None:
    key_id, _ = create(ws, "ci-bot", "operator")
    assert "NoSuchEntityException" in ws.run("access-key", "revoke", "nobody", expect=2).stderr
    ws.run("access-key", "revoke", "ci-bot")
    assert "already revoked" in ws.run("access-key", "revoke", key_id, expect=2).stderr


def test_processes_racing_to_create_one_name_leave_exactly_one_key(ws: Workspace) -> None:
    racers = [
        subprocess.Popen(
            [CONVEYOR, "access-key", "create", "--name", "same", "--role", "viewer"],
            cwd=ws.root,
            env=ws.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    codes = sorted(racer.wait(timeout=120) for racer in racers)
    for racer in racers:
        racer.communicate()
    assert codes == [0, 2, 2, 2]
    assert len(ws.json("access-key", "list")["AccessKeyMetadata"]) == 1


def test_a_running_server_refuses_a_key_from_the_first_request_after_another_process_revokes_it(
    ws: Workspace,
) -> None:
    key_id, secret = create(ws, "ci-bot", "approver")
    with opened(ws) as system:
        authenticator = KeyAuthenticator(system)
        now = datetime.now(UTC)
        principal = authenticator.authenticate(
            signed_request("ListPipelines", {}, key_id, secret, at=now)
        )
        assert (principal.name, principal.role) == ("ci-bot", "approver")
        ws.run("access-key", "revoke", "ci-bot")
        with pytest.raises(ApiError) as refused:
            authenticator.authenticate(signed_request("ListPipelines", {}, key_id, secret, at=now))
    assert refused.value.type == "UnrecognizedClientException"


def test_keys_are_made_listed_revoked_and_checked_the_same_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    ws = Workspace(tmp_path, database_url=postgres_url)
    key_id, secret = create(ws, "ci-bot", "admin")
    with opened(ws) as system:
        authenticator = KeyAuthenticator(system)
        signed = signed_request("ListPipelines", {}, key_id, secret, at=datetime.now(UTC))
        assert authenticator.authenticate(signed).name == "ci-bot"
        ws.run("access-key", "revoke", key_id)
        with pytest.raises(ApiError):
            authenticator.authenticate(signed)
    [listed] = ws.json("access-key", "list")["AccessKeyMetadata"]
    assert (listed["AccessKeyId"], listed["Status"]) == (key_id, "Revoked")
