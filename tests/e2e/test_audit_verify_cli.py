"""`conveyor audit verify` as a user runs it: tampered exports, a tampered store, bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from projections.audit import chain_hash, chained_lines
from tests.e2e.cli import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.json"
FIRST = next(chained_lines([{"position": 1, "summary": "a record"}])).encode() + b"\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.run("pipeline", "create", str(EXAMPLE), "--no-start")
    freeze = ("transition", "disable", "hello-site", "Deploy", "--reason", "freeze")
    ws.run(*freeze, CONVEYOR_USER="bob")
    ws.run("transition", "enable", "hello-site", "Deploy", CONVEYOR_USER="alice")
    # Write commands leave the views, and so the checkpoints, to the next read: this one.
    ws.run("state", "hello-site")
    return ws


def _export(ws: Workspace) -> list[str]:
    ws.run("audit", "--all", "-o", "trail.jsonl")
    return (ws.root / "trail.jsonl").read_text().splitlines()


def _verify(ws: Workspace, lines: list[str], *options: str, expect: int = 1) -> str:
    (ws.root / "tampered.jsonl").write_text("".join(line + "\n" for line in lines))
    done = ws.run("audit", "verify", "tampered.jsonl", *options, expect=expect)
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


def test_an_untouched_export_verifies_signed(workspace: Workspace) -> None:
    lines = _export(workspace)
    assert "chain intact, signed by key" in _verify(workspace, lines, expect=0)


def test_dropping_the_last_lines_is_reported_as_truncation(workspace: Workspace) -> None:
    output = _verify(workspace, _export(workspace)[:-3])
    assert "truncated: the last 3 record(s) were dropped" in output


def test_a_record_appended_with_a_valid_link_is_reported_as_appended(workspace: Workspace) -> None:
    lines = _export(workspace)
    last = json.loads(lines[-1])
    forged = {k: v for k, v in last.items() if k not in ("hash", "prevHash")}
    forged["summary"] = "approved the release"
    forged["actor"] = "mallory"
    link = {"prevHash": last["hash"], "hash": chain_hash(last["hash"], forged)}
    output = _verify(workspace, [*lines, json.dumps({**forged, **link})])
    assert f"broken at line {len(lines) + 1}: appended: 1 record(s)" in output


def test_an_edit_with_the_chain_recomputed_is_reported_as_rechained(workspace: Workspace) -> None:
    lines = _export(workspace)
    records = [json.loads(line) for line in lines[1:]]
    for record in records:
        del record["hash"], record["prevHash"]
        record["actor"] = "alice" if record["actor"] == "bob" else record["actor"]
    output = _verify(workspace, [lines[0], *chained_lines(records)])
    assert "re-chained: records were changed and the chain recomputed" in output


def test_an_event_edited_with_sql_then_rebuilt_and_exported_fails_and_is_named(
    workspace: Workspace,
) -> None:
    database = workspace.root / ".conveyor" / "conveyor.db"
    with sqlite3.connect(database) as connection:
        rowid, version = connection.execute(
            "SELECT rowid, originator_version FROM stored_events "
            "WHERE topic LIKE '%.TransitionDisabled'"
        ).fetchone()
        connection.execute(
            "UPDATE stored_events SET state = "
            """CAST(replace(CAST(state AS TEXT), '"by":"bob"', '"by":"eve"') AS BLOB) """
            "WHERE rowid = ?",
            (rowid,),
        )
    workspace.run("projections", "rebuild")
    lines = _export(workspace)
    assert '"actor":"eve"' in "\n".join(lines)
    output = _verify(workspace, lines)
    assert "did not match its signed checkpoints when this trail was exported" in output
    done = workspace.run("audit", "verify", "--store", "--json", expect=1)
    mismatch = json.loads(done.stdout)["firstMismatch"]
    assert mismatch["notificationId"] == rowid and mismatch["originatorVersion"] == version
    assert mismatch["eventType"] == "TransitionDisabled"
    text = workspace.run("audit", "verify", "--store", expect=1).stdout
    assert f"tampered: event TransitionDisabled #{rowid}" in text


def test_events_not_yet_checkpointed_are_counted_then_covered_by_audit_checkpoint(
    workspace: Workspace,
) -> None:
    done = workspace.run("audit", "verify", "--store")
    assert "stored events match 1 signed checkpoint(s)" in done.stdout
    workspace.run("transition", "disable", "hello-site", "Deploy", "--reason", "again")
    done = workspace.run("audit", "verify", "--store")
    assert "; 1 newer event(s) not yet checkpointed" in done.stdout
    assert json.loads(workspace.run("audit", "checkpoint", "--json").stdout) == {"covered": 1}
    done = workspace.run("audit", "verify", "--store")
    assert "match 2 signed checkpoint(s)" in done.stdout and "not yet" not in done.stdout


def test_an_export_checks_outside_the_workspace_with_its_public_key(
    workspace: Workspace, tmp_path: Path
) -> None:
    _export(workspace)
    pem = workspace.run("audit", "public-key").stdout
    (tmp_path / "conveyor.pub").write_text(pem)
    elsewhere = {"CONVEYOR_HOME": str(tmp_path / "nowhere")}
    trail = str(workspace.root / "trail.jsonl")
    done = workspace.run("audit", "verify", trail, expect=1, **elsewhere)
    assert "no public key to check it with" in done.stdout
    key = str(tmp_path / "conveyor.pub")
    done = workspace.run("audit", "verify", trail, "--public-key", key, **elsewhere)
    assert "chain intact, signed by key" in done.stdout


def test_an_unsigned_export_fails_unless_accepted_with_a_plain_warning(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    records = [{"position": n, "actor": "a", "summary": str(n), "detail": {}} for n in range(3)]
    lines = list(chained_lines(records))
    assert "unsigned: truncation and re-chaining cannot be detected" in _verify(ws, lines)
    output = _verify(ws, lines, "--allow-unsigned", expect=0)
    assert "warning unsigned: truncation and re-chaining cannot be detected" in output
    assert "chain intact" in output


# ----- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (Path("/bin/ls").read_bytes(), "is not UTF-8 text; not an audit export"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1: JSON nested too deeply"),
        (FIRST + b'{"x":' * 50_000 + b"1" + b"}" * 50_000 + b"\n", "line 2: JSON nested"),
    ],
    ids=["a binary file", "a deeply nested array", "a deeply nested object on line 2"],
)
def test_a_file_that_is_no_audit_export_gets_a_clear_message_and_exit_2(
    tmp_path: Path, content: bytes, message: str
) -> None:
    ws = Workspace(tmp_path, init=False)
    (tmp_path / "input").write_bytes(content)
    done = ws.run("audit", "verify", "input", expect=2)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_verify_without_a_file_or_store_and_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, init=False)
    assert "give an exported FILE, --store, or both" in ws.run("audit", "verify", expect=2).stderr
    assert "no such file" in ws.run("audit", "verify", "missing.jsonl", expect=2).stderr


def test_a_signing_key_readable_by_others_is_an_environment_fault_exit_1(
    workspace: Workspace,
) -> None:
    key = workspace.root / ".conveyor" / "keys" / "signing.key"
    assert key.exists()
    key.chmod(0o644)

    done = workspace.run("audit", "--all", "-o", "trail.jsonl", expect=1)

    assert "signing.key" in done.stderr
    assert "Traceback" not in done.stderr
