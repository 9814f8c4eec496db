"""Tamper evidence for real: signed exports, signed checkpoints of the log, edits made with SQL."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli.audit import export_trail
from engine.bootstrap import System, build, init_workspace
from engine.settings import Settings
from engine.signing import (
    Signer,
    SigningKeyException,
    key_path,
    load_or_create_signer,
    load_signer,
)
from projections.audit import (
    UNSIGNED,
    audit_records,
    chain_hash,
    chained_lines,
    verify_trail,
)
from projections.checkpoints import checkpoints_table, verify_store, witnessed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.json"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(home=tmp_path / ".conveyor", database_url=url)


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    """A store with a pipeline, a frozen transition (by bob) and its reopening (by alice)."""
    made = init_workspace(settings, env={})
    made.app.create_pipeline(EXAMPLE.read_text(), by="tester", start=False)
    made.app.disable_stage_transition("hello-site", "Deploy", reason="freeze", by="bob")
    made.app.enable_stage_transition("hello-site", "Deploy", by="alice")
    made.views()
    try:
        yield made
    finally:
        made.close()


def _export(system: System) -> list[str]:
    projections = system.views()
    with projections.engine.connect() as conn:
        records = list(audit_records(conn, include_gates=True))
    return export_trail(system, records, {"all": True})


def _key(system: System) -> Any:
    signer = load_signer(system.settings.home)
    assert signer is not None
    return signer.verifier


def _sql(settings: Settings, statement: str, *params: Any) -> None:
    """Run one statement on the store behind Conveyor's back, as an attacker with access would."""
    target = settings.postgres_target()
    if target is None:
        with sqlite3.connect(settings.database_path) as connection:
            connection.execute(statement.replace("%s", "?"), params)
        return
    conninfo = f"host={target.host} port={target.port} user={target.user} dbname={target.dbname}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(statement, params)  # type: ignore[arg-type]


def _id_column(settings: Settings) -> str:
    return "rowid" if settings.postgres_target() is None else "notification_id"


def _events_table(system: System) -> str:
    return str(system.app.recorder.events_table_name)


def _rewrite_event(system: System, notification_id: int, old: str, new: str) -> None:
    """Edit the stored bytes of one event's state, keeping the column's type."""
    table = _events_table(system)
    if system.settings.postgres_target() is None:
        statement = (
            f"UPDATE {table} SET state = CAST(replace(CAST(state AS TEXT), %s, %s) AS BLOB) "
            "WHERE rowid = %s"
        )
    else:
        statement = (
            f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "
            "%s, %s), 'UTF8') WHERE notification_id = %s"
        )
    _sql(system.settings, statement, old, new, notification_id)


def _position_of(system: System, event: str) -> int:
    with system.views().engine.connect() as conn:
        return next(
            int(r["position"])
            for r in audit_records(conn, include_gates=True)
            if r["event"] == event
        )


# ----- exports ------------------------------------------------------------------------------


def test_a_signed_export_verifies_with_the_workspace_key(system: System) -> None:
    lines = _export(system)
    head = json.loads(lines[0])
    assert head["records"] == len(lines) - 1 and head["store"]["verified"] is True
    result = verify_trail(lines, _key(system))
    assert result.ok and result.signed and result.records == len(lines) - 1


def test_dropping_the_last_lines_of_a_signed_export_fails_as_truncation(system: System) -> None:
    lines = _export(system)
    result = verify_trail(lines[:-2], _key(system))
    assert not result.ok
    assert result.problem is not None and result.problem.startswith("truncated")
    assert "the last 2 record(s) were dropped" in result.problem


def test_a_record_appended_and_linked_to_the_last_hash_fails_as_appended(system: System) -> None:
    lines = _export(system)
    last = json.loads(lines[-1])
    forged = {**{k: v for k, v in last.items() if k not in ("hash", "prevHash")}}
    forged.update(position=last["position"] + 1, actor="mallory", summary="approved everything")
    digest = chain_hash(last["hash"], forged)
    tampered = [*lines, json.dumps({**forged, "prevHash": last["hash"], "hash": digest})]
    assert verify_trail(tampered[1:], None, allow_unsigned=True).ok  # the chain alone holds
    result = verify_trail(tampered, _key(system))
    assert not result.ok and result.broken_line == len(tampered)
    assert result.problem is not None and result.problem.startswith("appended: 1 record(s)")


def test_an_edit_with_the_whole_chain_recomputed_fails_as_rechained(system: System) -> None:
    lines = _export(system)
    records = [json.loads(line) for line in lines[1:]]
    for record in records:
        del record["hash"], record["prevHash"]
        if record["actor"] == "bob":
            record["actor"] = "alice"
    tampered = [lines[0], *chained_lines(records)]
    assert verify_trail(tampered[1:], None, allow_unsigned=True).ok  # the chain alone holds
    result = verify_trail(tampered, _key(system))
    assert not result.ok
    assert result.problem is not None and result.problem.startswith("re-chained")


def test_a_head_altered_or_signed_by_another_key_fails(system: System, tmp_path: Path) -> None:
    lines = _export(system)
    head = json.loads(lines[0])
    head["records"] -= 1
    altered = [json.dumps(head), *lines[1:-1]]
    result = verify_trail(altered, _key(system))
    assert not result.ok and result.problem is not None and "signature" in result.problem
    (tmp_path / "elsewhere").mkdir()
    other = load_or_create_signer(tmp_path / "elsewhere").verifier
    result = verify_trail(lines, other)
    assert not result.ok and result.problem is not None and "another key" in result.problem


def test_an_export_without_its_head_fails_unless_unsigned_exports_are_accepted(
    system: System,
) -> None:
    lines = _export(system)[1:]
    result = verify_trail(lines, _key(system))
    assert not result.ok and result.problem == UNSIGNED
    accepted = verify_trail(lines, _key(system), allow_unsigned=True)
    assert accepted.ok and not accepted.signed and accepted.warning == UNSIGNED


# ----- the store ----------------------------------------------------------------------------


def test_an_event_edited_in_the_database_then_rebuilt_and_exported_fails_verification(
    system: System, settings: Settings
) -> None:
    position = _position_of(system, "TransitionDisabled")
    _rewrite_event(system, position, '"by":"bob"', '"by":"eve"')
    system.views(catch_up=False).rebuild()
    lines = _export(system)
    assert '"actor":"eve"' in "".join(lines)  # the views now tell the attacker's story
    result = verify_trail(lines, _key(system))
    assert not result.ok and result.problem is not None
    assert "did not match its signed checkpoints" in result.problem
    assert f"TransitionDisabled #{position}" in result.problem


def test_verifying_the_store_names_the_first_event_edited_with_sql(
    system: System, settings: Settings
) -> None:
    views = system.views()
    assert verify_store(system.app, views.engine, _key(system)).ok
    position = _position_of(system, "TransitionDisabled")
    pipeline = system.app.pipeline("hello-site")
    _rewrite_event(system, position, '"reason":"freeze"', '"reason":"thaw!"')
    checked = verify_store(system.app, views.engine, _key(system))
    assert not checked.ok and checked.mismatch is not None
    assert checked.mismatch.to_dict() == {
        "checkpoint": 1,
        "problem": "no longer matches checkpoint 1: it was edited",
        "notificationId": position,
        "originatorId": str(pipeline.id),
        "originatorVersion": 2,
        "eventType": "TransitionDisabled",
    }


def test_verifying_the_store_finds_a_deleted_event(system: System, settings: Settings) -> None:
    position = _position_of(system, "TransitionDisabled")
    table = _events_table(system)
    _sql(settings, f"DELETE FROM {table} WHERE {_id_column(settings)} = %s", position)
    checked = verify_store(system.app, system.views(catch_up=False).engine, _key(system))
    assert not checked.ok and checked.mismatch is not None
    assert checked.mismatch.notification_id == position + 1
    assert "after 1 deleted event(s)" in checked.mismatch.problem


def test_new_events_get_a_new_checkpoint_and_a_rebuild_keeps_the_old_ones(
    system: System,
) -> None:
    views = system.views()
    with views.engine.connect() as conn:
        before = conn.execute(checkpoints_table.select()).all()
    views.rebuild()
    system.app.disable_stage_transition("hello-site", "Deploy", reason="again", by="bob")
    views = system.views()
    with views.engine.connect() as conn:
        after = conn.execute(checkpoints_table.select().order_by("sequence")).all()
    assert after[: len(before)] == before and len(after) == len(before) + 1
    checked = verify_store(system.app, views.engine, _key(system))
    assert checked.ok and checked.through == views.head() and checked.uncovered == 0


def test_checkpoints_deleted_since_an_export_show_against_its_head(
    system: System, settings: Settings
) -> None:
    head = json.loads(_export(system)[0])
    named = head["store"]["checkpoint"]
    _sql(settings, "DELETE FROM audit_checkpoints WHERE sequence = %s", named["sequence"])
    engine = system.views(catch_up=False).engine
    checked = verify_store(system.app, engine, _key(system))
    assert checked.ok and checked.uncovered > 0  # alone, the store cannot tell
    found = witnessed(engine, checked, named)
    assert not found.ok and found.problem is not None and "gone from the store" in found.problem


def test_a_checkpoint_row_edited_with_sql_fails_verification(
    system: System, settings: Settings
) -> None:
    _sql(settings, "UPDATE audit_checkpoints SET events = events - 1 WHERE sequence = 1")
    checked = verify_store(system.app, system.views(catch_up=False).engine, _key(system))
    assert not checked.ok and checked.problem == (
        "checkpoint 1 was altered: it holds the wrong number of hashes"
    )


# ----- the key ------------------------------------------------------------------------------


def test_the_signing_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    home = tmp_path / ".conveyor"
    home.mkdir()
    first = load_or_create_signer(home)
    again = load_or_create_signer(home)
    assert first.key_id == again.key_id
    assert stat.S_IMODE(os.stat(key_path(home)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / "keys").st_mode) == 0o700
    assert sorted(p.name for p in (home / "keys").iterdir()) == ["signing.key"]


def test_a_signing_key_that_is_a_link_or_readable_by_others_is_refused(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "a", tmp_path / "b"
    home.mkdir()
    elsewhere.mkdir()
    made: Signer = load_or_create_signer(elsewhere)
    (home / "keys").mkdir(mode=0o700)
    key_path(home).symlink_to(key_path(elsewhere))
    with pytest.raises(SigningKeyException, match="symbolic link"):
        load_or_create_signer(home)
    assert load_signer(elsewhere) is not None and made.key_id
    os.chmod(key_path(elsewhere), 0o644)
    with pytest.raises(SigningKeyException, match="readable by its owner only"):
        load_signer(elsewhere)


def test_a_store_opened_again_keeps_checking_with_the_same_key(settings: Settings) -> None:
    first = init_workspace(settings, env={})
    first.app.create_pipeline(EXAMPLE.read_text(), by="tester", start=False)
    first.views()
    first.close()
    again = build(settings, env={})
    try:
        again.app.enable_stage_transition("hello-site", "Deploy", by="alice")
        views = again.views()
        checked = verify_store(again.app, views.engine, _key(again))
        assert checked.ok and checked.checkpoints == 2 and checked.through == views.head()
    finally:
        again.close()


def test_a_running_server_checkpoints_events_that_no_command_read(
    system: System, settings: Settings
) -> None:
    import threading

    from engine.server import Server

    system.app.disable_stage_transition("hello-site", "Deploy", reason="unread", by="bob")
    # A separate process's view of the store: nothing has caught up since the write.
    server_side = build(settings, env={})
    try:
        stop = threading.Event()
        stop.set()  # no tick: what is checked happens as the server starts
        Server(server_side).run(stop)
    finally:
        server_side.close()

    engine = system.views(catch_up=False).engine
    checked = verify_store(system.app, engine, _key(system))
    assert checked.ok and checked.uncovered == 0
    assert checked.through == system.app.recorder.max_notification_id()
