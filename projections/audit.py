"""The audit view: every event as who did what when, exported as a hash-chained JSON Lines file."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.access_key import AccessKey, AccessKeyRegistry
from domain.errors import ValidationException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry
from projections import events
from projections.checkpoints import Checks, Signs
from projections.history import from_micros
from projections.runtime import (
    Positioned,
    Replica,
    dumps_sorted,
    insert_tuples,
    metadata,
    micros,
)

audit_table = sa.Table(
    "view_audit",
    metadata,
    # On SQLite an INTEGER primary key is the rowid itself: one B-tree less per row.
    sa.Column(
        "position",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("at_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("pipeline_id", sa.String(36), nullable=True),
    sa.Column("pipeline_name", sa.String(100), nullable=True, index=True),
    sa.Column("execution_id", sa.String(36), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False, index=True),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("event", sa.String(60), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

# Decisions the engine takes on its own are attributed to it, not to a person.
SYSTEM = "conveyor"
GENESIS = "0" * 64

CATEGORIES: dict[type, str] = {
    events.PipelineCreated: "definition",
    events.PipelineUpdated: "definition",
    events.PipelineDeleted: "definition",
    events.TransitionDisabled: "transition",
    events.TransitionEnabled: "transition",
    events.RevisionDetected: "revision",
    events.ApprovalRequested: "approval",
    events.ApprovalGranted: "approval",
    events.ApprovalRejected: "approval",
    events.ActionStarted: "action",
    events.ActionSucceeded: "action",
    events.ActionFailed: "action",
    events.ActionAbandoned: "action",
    events.StageEntered: "stage",
    events.StageSucceeded: "stage",
    events.StageFailed: "stage",
    events.StageRetried: "stage",
    events.ExecutionHeld: "stage",
    AccessKey.AccessKeyCreated: "access",
    AccessKey.AccessKeyRevoked: "access",
    events.PipelineTagged: "tags",
    events.PipelineUntagged: "tags",
}
# `cause` (events of class_version 2) is left out too: the first release's events get theirs
# only when loaded, so keeping it would make a rebuilt trail differ from the one recorded then,
# and the trail's JSON output stays as it was.
SKIPPED_FIELDS = (
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "cause",
)


# Shown masked, as the secrets store's values are: an access key's secret is recorded only
# encrypted, and even the ciphertext has no business in a trail that is exported and shared.
MASKED_FIELDS = ("encrypted_secret",)
MASK = "***"
# Fields added to an event later (ExecutionStarted v2) are left out while they hold the value
# an upcast older event gets, so a trail rebuilt from old events is the one recorded then.
ABSENT_WHEN_EMPTY = ("client_request_token", "revision_overrides")


def event_fields(event: Any) -> dict[str, Any]:
    data = dict(vars(event))
    for key in SKIPPED_FIELDS:
        data.pop(key, None)
    for key in MASKED_FIELDS:
        if key in data:
            data[key] = MASK
    for key in ABSENT_WHEN_EMPTY:
        if key in data and not data[key]:
            del data[key]
    return data


class AuditView:
    """One row per event (gate bookkeeping included), with its actor and a readable summary."""

    name = "audit"
    tables = (audit_table,)

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        insert_tuples(conn, audit_table, [audit_values(item) for item in batch])


# Where each aggregate's events sit: (pipeline id, pipeline name, execution id, category if the
# event class has none of its own).
_Context = Callable[[Positioned, dict[str, Any]], tuple[Any, Any, Any, str]]


def _execution_context(item: Positioned, data: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    execution: PipelineExecution = item.aggregate
    return execution.pipeline_id, execution.pipeline_name, item.key, "execution"


def _pipeline_context(item: Positioned, data: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    return item.key, item.aggregate.name, data.get("execution_id"), "gate"


def _registry_context(item: Positioned, data: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    return data.get("pipeline_id"), data.get("name"), None, "registry"


def _access_key_context(item: Positioned, data: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    return None, None, None, "access"


def _key_registry_context(item: Positioned, data: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    return None, None, None, "registry"


_CONTEXTS: dict[type, _Context] = {
    PipelineExecution: _execution_context,
    Pipeline: _pipeline_context,
    PipelineRegistry: _registry_context,
    AccessKey: _access_key_context,
    AccessKeyRegistry: _key_registry_context,
}


def audit_values(item: Positioned) -> tuple[Any, ...]:
    """The audit row of one event, in the table's column order."""
    kind = item.kind
    aggregate = item.aggregate
    data = event_fields(item.event)
    context = _CONTEXTS.get(type(aggregate))
    if context is None:
        pipeline_id = pipeline_name = execution_id = None
        category = "other"
    else:
        pipeline_id, pipeline_name, execution_id, category = context(item, data)
        if category != "registry":
            category = CATEGORIES.get(kind, category)
    return (
        item.position,
        item.at_us,
        pipeline_id,
        pipeline_name,
        execution_id,
        str(data.get("by") or SYSTEM),
        category,
        events.name_of(kind),
        describe(kind, data, aggregate),
        dumps_sorted(data),
    )


def audit_row(item: Positioned) -> dict[str, Any]:
    """The audit row of one event by column name."""
    return dict(zip(audit_table.c.keys(), audit_values(item), strict=True))


def _where(data: dict[str, Any], aggregate: Any) -> str:
    """stage/action of the run the event is about."""
    runs = getattr(aggregate, "actions", {})
    run: dict[str, Any] = runs.get(data.get("action_execution_id"), {})
    return f"{run.get('stage')}/{run.get('action')}" if run else ""


def _short(data: dict[str, Any], aggregate: Any) -> str:
    return str(data.get("execution_id") or getattr(aggregate, "id", ""))[:8]


def _colon(data: dict[str, Any], key: str) -> str:
    return f": {data[key]}" if data.get(key) else ""


def _updated(data: dict[str, Any], _: Any) -> str:
    version = data["definition"].get("version")
    cancelled = len(data.get("cancelled") or [])
    return f"updated the definition to version {version}" + (
        f", cancelling {cancelled} execution(s)" if cancelled else ""
    )


def _revision(data: dict[str, Any], _: Any) -> str:
    fresh = "new" if data["new"] else "seen before"
    return f"{data['action']} saw revision {data['revision_id'][:12]} ({fresh})"


def _started(data: dict[str, Any], _: Any) -> str:
    trigger = data["trigger"]
    return f"started execution (trigger {trigger['triggerType']}) on version " + str(
        data["pipeline_version"]
    )


def _held(data: dict[str, Any], _: Any) -> str:
    holder = f", held by {str(data['holder'])[:8]}" if data.get("holder") else ""
    return f"waits to enter {data['stage']} ({data['reason']}{holder})"


def _stop_requested(data: dict[str, Any], _: Any) -> str:
    how = "abandoning" if data["abandon"] else "letting actions finish"
    return f"stop requested ({how})" + (f": {data['reason']}" if data["reason"] else "")


Describe = Callable[[dict[str, Any], Any], str]

# One sentence per event class, from the event's fields and its aggregate after the event.
DESCRIPTIONS: dict[type, Describe] = {
    events.PipelineCreated: lambda d, _: f"created pipeline {d['name']} (version 1)",
    events.PipelineUpdated: _updated,
    events.PipelineDeleted: lambda d, _: "deleted the pipeline",
    events.TransitionDisabled: lambda d, _: (
        f"disabled the transition into {d['stage']}: {d['reason']}"
    ),
    events.TransitionEnabled: lambda d, _: f"enabled the transition into {d['stage']}",
    events.RevisionDetected: _revision,
    events.ExecutionStarted: _started,
    events.StageEntered: lambda d, _: f"entered stage {d['stage']}",
    events.ExecutionHeld: _held,
    events.ActionStarted: lambda d, _: f"started {d['stage']}/{d['action']} attempt {d['attempt']}",
    events.ActionSucceeded: lambda d, a: f"{_where(d, a)} succeeded" + _colon(d, "summary"),
    events.ActionFailed: lambda d, a: (
        f"{_where(d, a)} failed: {d['error_code']}: {d['error_message']}"
    ),
    events.ActionAbandoned: lambda d, a: f"{_where(d, a)} abandoned: {d['reason']}",
    events.ApprovalRequested: lambda d, a: (
        f"approval requested at {_where(d, a)} (token {d['token']})"
    ),
    events.ApprovalGranted: lambda d, a: f"approved {_where(d, a)}" + _colon(d, "summary"),
    events.ApprovalRejected: lambda d, a: f"rejected {_where(d, a)}" + _colon(d, "summary"),
    events.StageSucceeded: lambda d, _: f"stage {d['stage']} succeeded",
    events.StageFailed: lambda d, _: f"stage {d['stage']} failed",
    events.StageRetried: lambda d, _: (
        f"retried stage {d['stage']} ({d['retry_mode']}, {d['trigger']})"
    ),
    events.ExecutionSucceeded: lambda d, _: "execution succeeded",
    events.ExecutionFailed: lambda d, _: f"execution failed in {d['stage']}: {d['summary']}",
    events.ExecutionStopRequested: _stop_requested,
    events.ExecutionStopped: lambda d, _: (
        "execution stopped" + (f": {d['reason']}" if d["reason"] else "")
    ),
    events.ExecutionSuperseded: lambda d, _: (
        f"superseded at {d['stage']} by {str(d['superseded_by'])[:8]}"
    ),
    events.ExecutionCancelled: lambda d, _: f"execution cancelled: {d['reason']}",
    events.StageLocked: lambda d, _: f"{str(d['execution_id'])[:8]} holds stage {d['stage']}",
    events.StageUnlocked: lambda d, _: f"{str(d['execution_id'])[:8]} released stage {d['stage']}",
    events.ExecutionQueued: lambda d, _: (
        f"{str(d['execution_id'])[:8]} queued in front of {d['stage']}"
    ),
    events.ExecutionDequeued: lambda d, _: (
        f"{str(d['execution_id'])[:8]} left the line in front of {d['stage']}"
    ),
    events.ExecutionActivated: lambda d, a: f"execution {_short(d, a)} is in progress",
    events.ExecutionDeactivated: lambda d, a: f"execution {_short(d, a)} is no longer in progress",
    events.PipelineTagged: lambda d, _: (
        "tagged the pipeline: " + ", ".join(f"{key}={value}" for key, value in d["tags"].items())
    ),
    events.PipelineUntagged: lambda d, _: "removed tags " + ", ".join(d["keys"]),
    events.RequestTokenRecorded: lambda d, a: (
        f"execution {_short(d, a)} started for client request token {d['token']}"
    ),
    events.PipelineRegistered: lambda d, _: f"name {d['name']} registered",
    events.PipelineUnregistered: lambda d, _: f"name {d['name']} released",
    AccessKey.AccessKeyCreated: lambda d, _: (
        f"created access key {d['name']} ({d['key_id']}, role {d['role']})"
    ),
    AccessKey.AccessKeyRevoked: lambda d, a: f"revoked access key {a.name} ({a.key_id})",
    AccessKeyRegistry.AccessKeyNameRegistered: lambda d, _: (
        f"access key name {d['name']} registered"
    ),
    AccessKeyRegistry.AccessKeyNameReleased: lambda d, _: f"access key name {d['name']} released",
}


def describe(kind: type, data: dict[str, Any], aggregate: Any) -> str:
    """One sentence a person reads in an audit trail."""
    found = DESCRIPTIONS.get(kind)
    return found(data, aggregate) if found is not None else events.name_of(kind)


# ----- queries ------------------------------------------------------------------------------


def audit_records(
    conn: Connection,
    *,
    pipeline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    categories: Iterable[str] | None = None,
    include_gates: bool = True,
) -> Iterator[dict[str, Any]]:
    """Audit records in log order; `until` is inclusive."""
    t = audit_table
    query = sa.select(t)
    if pipeline:
        query = query.where(t.c.pipeline_name == pipeline)
    if since:
        query = query.where(t.c.at_us >= micros(since))
    if until:
        query = query.where(t.c.at_us <= micros(until))
    if actor:
        query = query.where(t.c.actor == actor)
    if categories:
        query = query.where(t.c.category.in_(list(categories)))
    if not include_gates:
        query = query.where(t.c.category.not_in(["gate", "registry"]))
    for row in conn.execute(query.order_by(t.c.position)):
        yield {
            "position": row.position,
            "at": from_micros(row.at_us).isoformat(),
            "actor": row.actor,
            "pipeline": row.pipeline_name,
            "pipelineId": row.pipeline_id,
            "executionId": row.execution_id,
            "category": row.category,
            "event": row.event,
            "summary": row.summary,
            "detail": json.loads(row.detail),
        }


# ----- the hash chain -----------------------------------------------------------------------


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(previous: str, record: dict[str, Any]) -> str:
    # surrogatepass: a lone surrogate (possible in a hand-edited file) hashes instead of
    # raising; valid UTF-8 text encodes exactly as before.
    text = previous + canonical(record)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def chained_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSON Lines; each record carries prevHash and hash = sha256(prevHash + canonical record)."""
    previous = GENESIS
    for record in records:
        digest = chain_hash(previous, record)
        yield canonical({**record, "prevHash": previous, "hash": digest})
        previous = digest


# ----- the signed head ----------------------------------------------------------------------
# An export's first line is a head signed with the workspace's key: how many records follow,
# their range, the hash the chain ends in, and whether the store matched its signed
# checkpoints when it was exported. Truncation, appended records and a recomputed chain each
# contradict it; changing it breaks its signature.

HEAD_KEY = "auditHead"
HEAD_VERSION = 1
HEAD_CONTEXT = b"conveyor audit head v1\x00"
UNSIGNED = "unsigned: truncation and re-chaining cannot be detected"


def _head_message(head: dict[str, Any]) -> bytes:
    body = {key: value for key, value in head.items() if key != "signature"}
    return HEAD_CONTEXT + canonical(body).encode()


def signed_export(
    records: Sequence[dict[str, Any]],
    signer: Signs,
    *,
    scope: dict[str, Any],
    exported_at: str,
    store: dict[str, Any],
) -> list[str]:
    """The export's lines: the signed head, then the chained records."""
    lines = list(chained_lines(records))
    last = json.loads(lines[-1])["hash"] if lines else GENESIS
    head: dict[str, Any] = {
        HEAD_KEY: HEAD_VERSION,
        "records": len(records),
        "firstPosition": records[0]["position"] if records else None,
        "lastPosition": records[-1]["position"] if records else None,
        "firstAt": records[0]["at"] if records else None,
        "lastAt": records[-1]["at"] if records else None,
        "lastHash": last,
        "scope": scope,
        "exportedAt": exported_at,
        "store": store,
        "keyId": signer.key_id,
    }
    head["signature"] = signer.sign(_head_message(head)).hex()
    return [canonical(head), *lines]


# ----- verifying an export ------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    broken_line: int | None = None
    problem: str | None = None
    last_hash: str | None = None
    signed: bool = False
    key_id: str | None = None
    warning: str | None = None
    head: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "brokenLine": self.broken_line,
            "problem": self.problem,
            "lastHash": self.last_hash,
            "signed": self.signed,
            "keyId": self.key_id,
            "warning": self.warning,
        }


def _load(number: int, line: str) -> Any:
    """The line's JSON value; None if it is not JSON. Nesting too deep to parse is bad input."""
    try:
        return json.loads(line)
    except RecursionError:
        raise ValidationException(
            f"line {number}: JSON nested too deeply to be an audit record; not an audit export"
        ) from None
    except ValueError:
        return None


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


def _verify_chain(numbered: Iterable[tuple[int, str]]) -> tuple[Verification, list[int]]:
    """Each line's hash and link to the line before; the line number of each record."""
    previous = GENESIS
    at: list[int] = []
    for number, line in numbered:
        record = _load(number, line)
        try:
            claimed = record.pop("hash")
            linked = record.pop("prevHash")
        except (KeyError, AttributeError, TypeError):
            return Verification(False, len(at), number, "not a chained audit record"), at
        if linked != previous:
            problem = "prevHash does not match the hash of the line before"
            return Verification(False, len(at), number, problem), at
        if chain_hash(previous, record) != claimed:
            return Verification(False, len(at), number, "the record does not match its hash"), at
        previous = claimed
        at.append(number)
    return Verification(True, len(at), last_hash=previous), at


def verify_lines(lines: Iterable[str]) -> Verification:
    """Check every line's hash and its link to the line before; name the first broken line."""
    return _verify_chain(_numbered(lines))[0]


def verify_trail(
    lines: Iterable[str], key: Checks | None, *, allow_unsigned: bool = False
) -> Verification:
    """An export checked whole: its chain, then its signed head against the chain's end.

    Without a signed head only the chain can be checked; that fails unless `allow_unsigned`,
    since removing the head is all it takes to make a truncated or re-chained trail unsigned.
    """
    numbered = _numbered(lines)
    first = next(numbered, None)
    head: dict[str, Any] | None = None
    rest: Iterable[tuple[int, str]] = numbered
    if first is not None:
        parsed = _load(*first)
        if isinstance(parsed, dict) and HEAD_KEY in parsed:
            head = parsed
        else:
            rest = itertools.chain([first], numbered)
    chain, at = _verify_chain(rest)
    if not chain.ok:
        return chain
    if head is None:
        if allow_unsigned:
            return replace(chain, warning=UNSIGNED)
        return replace(chain, ok=False, problem=UNSIGNED)
    assert first is not None
    return _check_head(head, first[0], chain, at, key)


def _check_head(
    head: dict[str, Any], line: int, chain: Verification, at: list[int], key: Checks | None
) -> Verification:
    key_id = str(head.get("keyId"))
    signed = replace(chain, signed=True, key_id=key_id, head=head)

    def broken(problem: str, number: int | None = line) -> Verification:
        return replace(signed, ok=False, problem=problem, broken_line=number)

    if key is None:
        return broken(
            f"signed by key {key_id[:16]}, but there is no public key to check it with: "
            "run this inside the workspace or pass --public-key"
        )
    if key_id != key.key_id:
        return broken(f"signed by another key ({key_id[:16]}), not this one ({key.key_id[:16]})")
    signature = head.get("signature")
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if not key.verify(raw, _head_message(head)):
        return broken("the signed head was altered: its signature does not match it")
    claimed = int(head["records"])
    if chain.records < claimed:
        return broken(
            f"truncated: the last {claimed - chain.records} record(s) were dropped "
            f"(the signed head counts {claimed}, the file holds {chain.records})",
            None,
        )
    if chain.records > claimed:
        return broken(
            f"appended: {chain.records - claimed} record(s) follow the {claimed} "
            "the signed head counts",
            at[claimed],
        )
    if chain.last_hash != head["lastHash"]:
        return broken(
            "re-chained: records were changed and the chain recomputed (the chain ends in "
            f"{str(chain.last_hash)[:16]}, the signed head signs {str(head['lastHash'])[:16]})",
            None,
        )
    store = head.get("store") or {}
    if store.get("verified") is False:
        return broken(
            "the store did not match its signed checkpoints when this trail was exported: "
            + str(store.get("problem")),
            None,
        )
    return signed


def read_lines(path: Path) -> list[str]:
    """The file's lines as text; a file that is not UTF-8 text is refused as bad input."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationException(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValidationException(f"{path}: is a directory, not an audit export") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        number = data.count(b"\n", 0, error.start) + 1
        raise ValidationException(
            f"{path}: line {number} is not UTF-8 text; not an audit export"
        ) from None
    return text.splitlines()


def verify_file(
    path: Path, key: Checks | None = None, *, allow_unsigned: bool = False
) -> Verification:
    return verify_trail(read_lines(path), key, allow_unsigned=allow_unsigned)
