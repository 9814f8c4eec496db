"""The history view: executions and every action attempt, newest first, 12 months kept."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import PipelineExecutionNotFoundException, ValidationException
from domain.execution import PipelineExecution
from domain.vocabulary import StageStatus
from projections.codepipeline import (
    DEFAULT_REGION,
    action_execution_details,
    execution_document,
    execution_summary,
)
from projections.events import ExecutionStarted
from projections.runtime import (
    Positioned,
    Replica,
    delete_by,
    dumps,
    insert_rows,
    metadata,
    micros,
)

executions_table = sa.Table(
    "view_history_executions",
    metadata,
    sa.Column("execution_id", sa.String(36), primary_key=True),
    sa.Column("pipeline_id", sa.String(36), nullable=False),
    sa.Column("pipeline_name", sa.String(100), nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index("ix_view_history_executions_order", "pipeline_name", "start_us"),
    # Retention: finding executions older than the cutoff must not scan the table.
    sa.Index("ix_view_history_executions_start", "start_us"),
)

succeeded_table = sa.Table(
    "view_history_succeeded_stages",
    metadata,
    sa.Column("execution_id", sa.String(36), primary_key=True),
    sa.Column("stage", sa.String(100), primary_key=True),
)

actions_table = sa.Table(
    "view_history_actions",
    metadata,
    sa.Column("action_execution_id", sa.String(36), primary_key=True),
    sa.Column("execution_id", sa.String(36), nullable=False, index=True),
    sa.Column("pipeline_name", sa.String(100), nullable=False),
    sa.Column("execution_start_us", sa.BigInteger, nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_view_history_actions_order", "pipeline_name", "start_us"),
)

history_meta = sa.Table(
    "view_history_meta",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

DEFAULT_RETENTION_MONTHS = 12
MAX_RESULTS = 100
# The shortest execution id prefix a lookup accepts: shorter ones match too many executions.
MIN_PREFIX = 4


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def months_before(value: datetime, months: int) -> datetime:
    """The same wall time `months` calendar months earlier (day clamped to the month's end)."""
    index = value.year * 12 + value.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for day in (value.day, 30, 29, 28):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class HistoryView:
    """Execution summaries and documents, and action attempts, as the aggregates describe them.

    Retention follows the newest event the view has seen (never the wall clock): executions that
    started more than `retention_months` before it are dropped from the view, not from the log.
    """

    name = "history"
    tables = (executions_table, succeeded_table, actions_table, history_meta)

    def __init__(
        self, retention_months: int = DEFAULT_RETENTION_MONTHS, region: str = DEFAULT_REGION
    ) -> None:
        self.retention_months = retention_months
        # The settings' region, which every action execution's input names.
        self.region = region

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        if not batch:
            return
        dirty: dict[str, PipelineExecution] = {}
        # Executions that start in this batch have no rows yet: nothing to delete first.
        fresh: set[str] = set()
        for item in batch:
            aggregate = item.aggregate
            if isinstance(aggregate, PipelineExecution):
                dirty[item.key] = aggregate
                if item.kind is ExecutionStarted:
                    fresh.add(item.key)
        newest_us = self._newest(conn, max(item.at_us for item in batch))
        cutoff = micros(months_before(from_micros(newest_us), self.retention_months))
        rows = _Rows(self.region)
        older: list[str] = []
        for execution_id, execution in dirty.items():
            start_us = micros(execution.started_at)
            if start_us < cutoff:
                continue
            if execution_id not in fresh:
                older.append(execution_id)
            rows.add(execution_id, execution, start_us)
        if older:
            delete_by(conn, succeeded_table, "execution_id", older)
            delete_by(conn, actions_table, "execution_id", older)
            delete_by(conn, executions_table, "execution_id", older)
        rows.write(conn)
        self._prune(conn, cutoff)

    def _newest(self, conn: Connection, candidate: int) -> int:
        row = conn.execute(
            sa.select(history_meta.c.value).where(history_meta.c.key == "newest_us")
        ).first()
        if row is None:
            conn.execute(history_meta.insert().values(key="newest_us", value=candidate))
            return candidate
        if candidate > row.value:
            conn.execute(
                history_meta.update()
                .where(history_meta.c.key == "newest_us")
                .values(value=candidate)
            )
            return candidate
        return int(row.value)

    @staticmethod
    def _prune(conn: Connection, cutoff: int) -> None:
        old = sa.select(executions_table.c.execution_id).where(executions_table.c.start_us < cutoff)
        # Every row of the other tables belongs to an execution in the executions table (same
        # start), so when no execution is older than the cutoff there is nothing to delete.
        if conn.execute(old.limit(1)).first() is None:
            return
        conn.execute(succeeded_table.delete().where(succeeded_table.c.execution_id.in_(old)))
        conn.execute(actions_table.delete().where(actions_table.c.execution_start_us < cutoff))
        conn.execute(executions_table.delete().where(executions_table.c.start_us < cutoff))


class _Rows:
    """The history rows of the executions a batch changed."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.executions: list[dict[str, Any]] = []
        self.stages: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []

    def add(self, execution_id: str, execution: PipelineExecution, start_us: int) -> None:
        pipeline_name = execution.pipeline_name
        self.executions.append(
            {
                "execution_id": execution_id,
                "pipeline_id": execution.pipeline_id,
                "pipeline_name": pipeline_name,
                "start_us": start_us,
                "status": execution.status,
                "summary": dumps(execution_summary(execution)),
                "document": dumps(execution_document(execution)),
            }
        )
        self.stages.extend(
            {"execution_id": execution_id, "stage": stage}
            for stage, run in execution.stages.items()
            if run["status"] == StageStatus.SUCCEEDED
        )
        runs = execution.actions
        for detail in action_execution_details(execution, region=self.region):
            aeid = detail["actionExecutionId"]
            self.actions.append(
                {
                    "action_execution_id": aeid,
                    "execution_id": execution_id,
                    "pipeline_name": pipeline_name,
                    "execution_start_us": start_us,
                    "start_us": micros(runs[aeid]["started_at"]),
                    "status": detail["status"],
                    "detail": dumps(detail),
                }
            )

    def write(self, conn: Connection) -> None:
        insert_rows(conn, executions_table, self.executions)
        insert_rows(conn, succeeded_table, self.stages)
        insert_rows(conn, actions_table, self.actions)


# ----- queries ------------------------------------------------------------------------------


def _token(start_us: int, key: str) -> str:
    return base64.urlsafe_b64encode(f"{start_us}:{key}".encode()).decode()


def _untoken(token: str) -> tuple[int, str]:
    try:
        start, key = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(start), key
    except Exception:
        raise ValidationException("nextToken: not a token this command gave") from None


def _check_max(max_results: int) -> None:
    if not 1 <= max_results <= MAX_RESULTS:
        raise ValidationException(f"maxResults: {max_results} is outside 1..{MAX_RESULTS}")


def _cutoff(as_of: datetime | None, retention_months: int) -> int | None:
    return micros(months_before(as_of, retention_months)) if as_of else None


def _page(
    conn: Connection,
    query: Any,
    start: Any,
    key: Any,
    items: str,
    max_results: int,
    next_token: str | None,
) -> dict[str, Any]:
    """One keyset page, newest first: the token holds the last row's start and key."""
    if next_token:
        start_us, last_key = _untoken(next_token)
        query = query.where(sa.or_(start < start_us, sa.and_(start == start_us, key < last_key)))
    query = query.order_by(start.desc(), key.desc())
    rows = conn.execute(query.limit(max_results + 1)).all()
    body: dict[str, Any] = {items: [json.loads(row[2]) for row in rows[:max_results]]}
    if len(rows) > max_results:
        last = rows[max_results - 1]
        body["nextToken"] = _token(last[0], last[1])
    return body


def list_executions(
    conn: Connection,
    pipeline: str | None = None,
    *,
    status: str | None = None,
    succeeded_in_stage: str | None = None,
    max_results: int = MAX_RESULTS,
    next_token: str | None = None,
    as_of: datetime | None = None,
    retention_months: int = DEFAULT_RETENTION_MONTHS,
) -> dict[str, Any]:
    """ListPipelineExecutions: summaries, most recent first, keyset-paginated."""
    _check_max(max_results)
    table = executions_table
    query = sa.select(table.c.start_us, table.c.execution_id, table.c.summary)
    if pipeline:
        query = query.where(table.c.pipeline_name == pipeline)
    if status:
        query = query.where(table.c.status == status)
    if succeeded_in_stage:
        query = query.where(
            table.c.execution_id.in_(
                sa.select(succeeded_table.c.execution_id).where(
                    succeeded_table.c.stage == succeeded_in_stage
                )
            )
        )
    cutoff = _cutoff(as_of, retention_months)
    if cutoff is not None:
        query = query.where(table.c.start_us >= cutoff)
    return _page(
        conn,
        query,
        table.c.start_us,
        table.c.execution_id,
        "pipelineExecutionSummaries",
        max_results,
        next_token,
    )


def list_action_executions(
    conn: Connection,
    pipeline: str | None = None,
    *,
    execution_id: str | None = None,
    status: str | None = None,
    max_results: int = MAX_RESULTS,
    next_token: str | None = None,
    as_of: datetime | None = None,
    retention_months: int = DEFAULT_RETENTION_MONTHS,
) -> dict[str, Any]:
    """ListActionExecutions: every attempt its own row, most recent first."""
    _check_max(max_results)
    table = actions_table
    query = sa.select(table.c.start_us, table.c.action_execution_id, table.c.detail)
    if pipeline:
        query = query.where(table.c.pipeline_name == pipeline)
    if execution_id:
        query = query.where(table.c.execution_id == execution_id)
    if status:
        query = query.where(table.c.status == status)
    cutoff = _cutoff(as_of, retention_months)
    if cutoff is not None:
        query = query.where(table.c.execution_start_us >= cutoff)
    return _page(
        conn,
        query,
        table.c.start_us,
        table.c.action_execution_id,
        "actionExecutionDetails",
        max_results,
        next_token,
    )


def execution_id_by_prefix(conn: Connection, prefix: str) -> str:
    """The one execution in the history whose id starts with `prefix` (as people copy ids).

    Only the executions the history keeps can be found this way; any execution by its full id.
    """
    if len(prefix) < MIN_PREFIX:
        raise ValidationException(
            f"execution id: '{prefix}' is too short; give at least {MIN_PREFIX} characters of"
            " the id"
        )
    wanted = prefix.lower()
    column = executions_table.c.execution_id
    # LIKE with the prefix's own % and _ escaped; a value, never part of the SQL text.
    query = sa.select(column).where(column.startswith(wanted, autoescape=True)).limit(2)
    matches = [row[0] for row in conn.execute(query) if row[0].startswith(wanted)]
    if len(matches) != 1:
        count = "no" if not matches else "more than one"
        raise PipelineExecutionNotFoundException(
            f"'{prefix}' matches {count} execution in the history; give more of the id"
        )
    return str(matches[0])
