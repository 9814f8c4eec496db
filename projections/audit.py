"""The audit view: every event as who did what when, exported as a hash-chained JSON Lines file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.registry import PipelineRegistry
from projections.history import from_micros
from projections.runtime import Positioned, Replica, dumps_sorted, insert_rows, metadata, micros

audit_table = sa.Table(
    "view_audit",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
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

CATEGORIES = {
    "PipelineCreated": "definition",
    "PipelineUpdated": "definition",
    "PipelineDeleted": "definition",
    "TransitionDisabled": "transition",
    "TransitionEnabled": "transition",
    "RevisionDetected": "revision",
    "ApprovalRequested": "approval",
    "ApprovalGranted": "approval",
    "ApprovalRejected": "approval",
    "ActionStarted": "action",
    "ActionSucceeded": "action",
    "ActionFailed": "action",
    "ActionAbandoned": "action",
    "StageEntered": "stage",
    "StageSucceeded": "stage",
    "StageFailed": "stage",
    "StageRetried": "stage",
    "ExecutionHeld": "stage",
}
SKIPPED_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def event_fields(event: Any) -> dict[str, Any]:
    data = dict(vars(event))
    for key in SKIPPED_FIELDS:
        data.pop(key, None)
    return data


def _json(value: Any) -> str:
    return dumps_sorted(value)


class AuditView:
    """One row per event (gate bookkeeping included), with its actor and a readable summary."""

    name = "audit"
    tables = (audit_table,)

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        insert_rows(conn, audit_table, [audit_row(item) for item in batch])


def audit_row(item: Positioned) -> dict[str, Any]:
    kind = item.kind
    aggregate = item.aggregate
    data = event_fields(item.event)
    pipeline_id = pipeline_name = execution_id = None
    if isinstance(aggregate, PipelineExecution):
        pipeline_id, pipeline_name = aggregate.pipeline_id, aggregate.pipeline_name
        execution_id = item.key
        category = CATEGORIES.get(kind, "execution")
    elif isinstance(aggregate, Pipeline):
        pipeline_id, pipeline_name = item.key, aggregate.name
        category = CATEGORIES.get(kind, "gate")
        execution_id = data.get("execution_id")
    elif isinstance(aggregate, PipelineRegistry):
        pipeline_name = data.get("name")
        pipeline_id = data.get("pipeline_id")
        category = "registry"
    else:
        category = "other"
    return {
        "position": item.position,
        "at_us": item.at_us,
        "pipeline_id": pipeline_id,
        "pipeline_name": pipeline_name,
        "execution_id": execution_id,
        "actor": str(data.get("by") or SYSTEM),
        "category": category,
        "event": kind,
        "summary": describe(kind, data, aggregate),
        "detail": _json(data),
    }


def _run(aggregate: Any, data: dict[str, Any]) -> dict[str, Any]:
    runs = getattr(aggregate, "actions", {})
    found: dict[str, Any] = runs.get(data.get("action_execution_id"), {})
    return found


def describe(kind: str, data: dict[str, Any], aggregate: Any) -> str:
    """One sentence a person reads in an audit trail."""
    run = _run(aggregate, data)
    where = f"{run.get('stage')}/{run.get('action')}" if run else ""
    short = str(data.get("execution_id") or getattr(aggregate, "id", ""))[:8]
    match kind:
        case "PipelineCreated":
            return f"created pipeline {data['name']} (version 1)"
        case "PipelineUpdated":
            version = data["definition"].get("version")
            cancelled = len(data.get("cancelled") or [])
            return f"updated the definition to version {version}" + (
                f", cancelling {cancelled} execution(s)" if cancelled else ""
            )
        case "PipelineDeleted":
            return "deleted the pipeline"
        case "TransitionDisabled":
            return f"disabled the transition into {data['stage']}: {data['reason']}"
        case "TransitionEnabled":
            return f"enabled the transition into {data['stage']}"
        case "RevisionDetected":
            fresh = "new" if data["new"] else "seen before"
            return f"{data['action']} saw revision {data['revision_id'][:12]} ({fresh})"
        case "ExecutionStarted":
            trigger = data["trigger"]
            return f"started execution (trigger {trigger['triggerType']}) on version " + str(
                data["pipeline_version"]
            )
        case "StageEntered":
            return f"entered stage {data['stage']}"
        case "ExecutionHeld":
            holder = f", held by {str(data['holder'])[:8]}" if data.get("holder") else ""
            return f"waits to enter {data['stage']} ({data['reason']}{holder})"
        case "ActionStarted":
            return f"started {data['stage']}/{data['action']} attempt {data['attempt']}"
        case "ActionSucceeded":
            return f"{where} succeeded" + (f": {data['summary']}" if data.get("summary") else "")
        case "ActionFailed":
            return f"{where} failed: {data['error_code']}: {data['error_message']}"
        case "ActionAbandoned":
            return f"{where} abandoned: {data['reason']}"
        case "ApprovalRequested":
            return f"approval requested at {where} (token {data['token']})"
        case "ApprovalGranted":
            return f"approved {where}" + (f": {data['summary']}" if data.get("summary") else "")
        case "ApprovalRejected":
            return f"rejected {where}" + (f": {data['summary']}" if data.get("summary") else "")
        case "StageSucceeded" | "StageFailed":
            return f"stage {data['stage']} {kind.removeprefix('Stage').lower()}"
        case "StageRetried":
            return f"retried stage {data['stage']} ({data['retry_mode']}, {data['trigger']})"
        case "ExecutionSucceeded":
            return "execution succeeded"
        case "ExecutionFailed":
            return f"execution failed in {data['stage']}: {data['summary']}"
        case "ExecutionStopRequested":
            how = "abandoning" if data["abandon"] else "letting actions finish"
            return f"stop requested ({how})" + (f": {data['reason']}" if data["reason"] else "")
        case "ExecutionStopped":
            return "execution stopped" + (f": {data['reason']}" if data["reason"] else "")
        case "ExecutionSuperseded":
            return f"superseded at {data['stage']} by {str(data['superseded_by'])[:8]}"
        case "ExecutionCancelled":
            return f"execution cancelled: {data['reason']}"
        case "StageLocked":
            return f"{str(data['execution_id'])[:8]} holds stage {data['stage']}"
        case "StageUnlocked":
            return f"{str(data['execution_id'])[:8]} released stage {data['stage']}"
        case "ExecutionQueued":
            return f"{str(data['execution_id'])[:8]} queued in front of {data['stage']}"
        case "ExecutionDequeued":
            return f"{str(data['execution_id'])[:8]} left the line in front of {data['stage']}"
        case "ExecutionActivated":
            return f"execution {short} is in progress"
        case "ExecutionDeactivated":
            return f"execution {short} is no longer in progress"
        case "PipelineRegistered":
            return f"name {data['name']} registered"
        case "PipelineUnregistered":
            return f"name {data['name']} released"
    return kind


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
    return hashlib.sha256((previous + canonical(record)).encode()).hexdigest()


def chained_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSON Lines; each record carries prevHash and hash = sha256(prevHash + canonical record)."""
    previous = GENESIS
    for record in records:
        digest = chain_hash(previous, record)
        yield canonical({**record, "prevHash": previous, "hash": digest})
        previous = digest


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    broken_line: int | None = None
    problem: str | None = None
    last_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "brokenLine": self.broken_line,
            "problem": self.problem,
            "lastHash": self.last_hash,
        }


def verify_lines(lines: Iterable[str]) -> Verification:
    """Check every line's hash and its link to the line before; name the first broken line."""
    previous = GENESIS
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            claimed = record.pop("hash")
            linked = record.pop("prevHash")
        except (ValueError, KeyError, AttributeError):
            return Verification(False, count, number, "not a chained audit record")
        if linked != previous:
            return Verification(
                False, count, number, "prevHash does not match the hash of the line before"
            )
        if chain_hash(previous, record) != claimed:
            return Verification(False, count, number, "the record does not match its hash")
        previous = claimed
        count += 1
    return Verification(True, count, last_hash=previous)


def verify_file(path: Path) -> Verification:
    with path.open(encoding="utf-8") as handle:
        return verify_lines(handle)
