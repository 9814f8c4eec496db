"""Monthly billing: facts from events in a view, CodePipeline's V1/V2 prices applied on query."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import ValidationException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.vocabulary import ActionCategory, ActionStatus, PipelineType
from projections import events
from projections.history import from_micros
from projections.runtime import Positioned, Replica, insert_rows, metadata, micros, rows_by

pipelines_table = sa.Table(
    "view_billing_pipelines",
    metadata,
    sa.Column("pipeline_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("deleted_us", sa.BigInteger, nullable=True),
    sa.Column("pipeline_type", sa.String(4), nullable=False),
)

executions_table = sa.Table(
    "view_billing_executions",
    metadata,
    sa.Column("execution_id", sa.String(36), primary_key=True),
    sa.Column("pipeline_id", sa.String(36), nullable=False),
    sa.Column("pipeline_type", sa.String(4), nullable=False),
    sa.Column("trigger_type", sa.String(40), nullable=False),
    sa.Column("started_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("new_revision", sa.Boolean, nullable=False),
    # The first new source revision it carried, for the reason line.
    sa.Column("revision_id", sa.String(200), nullable=True),
)

actions_table = sa.Table(
    "view_billing_actions",
    metadata,
    sa.Column("action_execution_id", sa.String(36), primary_key=True),
    sa.Column("execution_id", sa.String(36), nullable=False),
    sa.Column("pipeline_id", sa.String(36), nullable=False),
    sa.Column("pipeline_type", sa.String(4), nullable=False),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(20), nullable=False),
    sa.Column("provider", sa.String(40), nullable=False),
    sa.Column("started_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("ended_us", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
)


class _Facts:
    """The billing facts one batch brings: new rows completed in memory, updates to older rows."""

    def __init__(self) -> None:
        self.new_pipelines: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self.new_executions: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, str] = {}
        self.new_actions: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, tuple[int, str]] = {}

    def pipeline_created(self, item: Positioned) -> None:
        pipeline: Pipeline = item.aggregate
        self.new_pipelines[item.key] = {
            "pipeline_id": item.key,
            "name": pipeline.name,
            "created_us": item.at_us,
            "deleted_us": None,
            "pipeline_type": pipeline.pipeline_type,
        }

    def pipeline_updated(self, item: Positioned) -> None:
        self.types[item.key] = item.aggregate.pipeline_type

    def pipeline_deleted(self, item: Positioned) -> None:
        self.deleted[item.key] = item.at_us

    def revision_detected(self, item: Positioned) -> None:
        event = item.event
        if event.new:
            self.revisions.setdefault(event.execution_id, event.revision_id)

    def execution_started(self, item: Positioned) -> None:
        execution: PipelineExecution = item.aggregate
        self.new_executions[item.key] = {
            "execution_id": item.key,
            "pipeline_id": execution.pipeline_id,
            "pipeline_type": execution.pipeline_type,
            "trigger_type": execution.trigger["triggerType"],
            "started_us": item.at_us,
            "new_revision": False,
            "revision_id": None,
        }

    def action_started(self, item: Positioned) -> None:
        event = item.event
        execution: PipelineExecution = item.aggregate
        action_type = event.action_type
        self.new_actions[event.action_execution_id] = {
            "action_execution_id": event.action_execution_id,
            "execution_id": item.key,
            "pipeline_id": execution.pipeline_id,
            "pipeline_type": execution.pipeline_type,
            "category": action_type["category"],
            "owner": action_type["owner"],
            "provider": action_type["provider"],
            "started_us": item.at_us,
            "ended_us": None,
            "status": ActionStatus.IN_PROGRESS,
        }

    def action_ended(self, item: Positioned) -> None:
        aeid = item.event.action_execution_id
        self.ended[aeid] = (item.at_us, item.aggregate.actions[aeid]["status"])

    def complete(self) -> None:
        """Facts born in this batch are completed in memory; older rows get one update each."""
        for pipeline_id in list(self.deleted):
            if pipeline_id in self.new_pipelines:
                self.new_pipelines[pipeline_id]["deleted_us"] = self.deleted.pop(pipeline_id)
        for pipeline_id in list(self.types):
            if pipeline_id in self.new_pipelines:
                self.new_pipelines[pipeline_id]["pipeline_type"] = self.types.pop(pipeline_id)
        for execution_id in list(self.revisions):
            if execution_id in self.new_executions:
                row = self.new_executions[execution_id]
                row["new_revision"] = True
                row["revision_id"] = self.revisions.pop(execution_id)
        for aeid in list(self.ended):
            if aeid in self.new_actions:
                at, status = self.ended.pop(aeid)
                self.new_actions[aeid].update(ended_us=at, status=status)

    def write(self, conn: Connection) -> None:
        insert_rows(conn, pipelines_table, list(self.new_pipelines.values()))
        insert_rows(conn, executions_table, list(self.new_executions.values()))
        insert_rows(conn, actions_table, list(self.new_actions.values()))
        pipeline_key = pipelines_table.c.pipeline_id == sa.bindparam("key")
        if self.deleted:
            conn.execute(
                pipelines_table.update().where(pipeline_key).values(deleted_us=sa.bindparam("at")),
                [{"key": k, "at": v} for k, v in self.deleted.items()],
            )
        if self.types:
            conn.execute(
                pipelines_table.update()
                .where(pipeline_key)
                .values(pipeline_type=sa.bindparam("kind")),
                [{"key": k, "kind": v} for k, v in self.types.items()],
            )
        if self.revisions:
            conn.execute(
                executions_table.update()
                .where(executions_table.c.execution_id == sa.bindparam("key"))
                .where(executions_table.c.new_revision.is_(False))
                .values(new_revision=True, revision_id=sa.bindparam("rev")),
                [{"key": k, "rev": v} for k, v in self.revisions.items()],
            )
        if self.ended:
            conn.execute(
                actions_table.update()
                .where(actions_table.c.action_execution_id == sa.bindparam("key"))
                .values(ended_us=sa.bindparam("at"), status=sa.bindparam("st")),
                [{"key": k, "at": at, "st": st} for k, (at, st) in self.ended.items()],
            )


# The only events that change a billing fact; the rest of the log is skipped unread.
_HANDLERS: dict[type, Callable[[_Facts, Positioned], None]] = {
    events.PipelineCreated: _Facts.pipeline_created,
    events.PipelineUpdated: _Facts.pipeline_updated,
    events.PipelineDeleted: _Facts.pipeline_deleted,
    events.RevisionDetected: _Facts.revision_detected,
    events.ExecutionStarted: _Facts.execution_started,
    events.ActionStarted: _Facts.action_started,
    events.ActionSucceeded: _Facts.action_ended,
    events.ActionFailed: _Facts.action_ended,
    events.ActionAbandoned: _Facts.action_ended,
    events.ApprovalGranted: _Facts.action_ended,
    events.ApprovalRejected: _Facts.action_ended,
}


class BillingView:
    """Billable facts only: pipelines' lifetimes, executions (new revision?), action durations.

    Prices and rules are applied when a report is asked for, so changing them needs no rebuild.
    """

    name = "billing"
    tables = (pipelines_table, executions_table, actions_table)

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        facts = _Facts()
        handlers = _HANDLERS
        for item in batch:
            handler = handlers.get(item.kind)
            if handler is not None:
                handler(facts, item)
        facts.complete()
        facts.write(conn)


# ----- rules and prices ---------------------------------------------------------------------


@dataclass(frozen=True)
class BillingRules:
    """CodePipeline's published prices and the readings of its ambiguous cases (spec §5.2)."""

    v1_price_per_active_pipeline: Decimal = Decimal("1.00")
    v2_price_per_minute: Decimal = Decimal("0.002")
    free_days: int = 30
    # "strict": a change counts only if its execution starts when the pipeline is > 30 days old.
    # "lenient": age is evaluated at month end (or deletion), so any change that month counts.
    v1_age_rule: str = "strict"
    # False: only executions carrying a source revision new to the pipeline make it active.
    v1_any_execution_counts: bool = False
    v1_free_tier: bool = False
    v1_free_pipelines: int = 1
    v2_free_tier: bool = False
    v2_free_minutes: int = 100
    free_categories: tuple[str, ...] = (ActionCategory.APPROVAL,)
    free_owners: tuple[str, ...] = ("Custom",)

    def __post_init__(self) -> None:
        if self.v1_age_rule not in ("strict", "lenient"):
            raise ValidationException(
                f"billing.v1_age_rule: '{self.v1_age_rule}' is not strict or lenient"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BillingRules:
        """Rules from JSON-ish settings (snake_case or camelCase keys); unknown keys refused."""
        known = {f.name: f for f in fields(cls)}
        camel = {_camel(name): name for name in known}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            name = key if key in known else camel.get(key)
            if name is None:
                raise ValidationException(
                    f"billing.{key}: unknown rule; known: " + ", ".join(sorted(camel))
                )
            changes[name] = _rule_value(f"billing.{key}", getattr(cls(), name), value)
        return replace(cls(), **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            _camel(k): (
                str(v) if isinstance(v, Decimal) else list(v) if isinstance(v, tuple) else v
            )
            for k, v in asdict(self).items()
        }

    def billable_minutes(self, category: str, owner: str, seconds: float) -> int:
        if category in self.free_categories or owner in self.free_owners:
            return 0
        if seconds <= 0:
            return 0
        return max(1, math.ceil(seconds / 60))


def _rule_value(path: str, default: Any, value: Any) -> Any:
    """A rules file's value as the type of the rule's default, or a refusal naming the rule."""
    if isinstance(default, Decimal):
        return _price(path, value)
    if isinstance(default, tuple):
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ValidationException(f"{path}: must be a list of strings, not {value!r:.40}")
    if type(value) is int is type(default) and not 0 <= value <= _COUNT_MAX:
        raise ValidationException(f"{path}: must be from 0 to {_COUNT_MAX}, not {value}")
    if type(value) is type(default):  # bool, int or str, exactly: true is not 1
        return value
    wanted = {bool: "true or false", int: "a whole number"}.get(type(default), "a string")
    raise ValidationException(f"{path}: must be {wanted}, not {value!r:.40}")


# Days, pipelines and minutes: far above any real rule, far below a date's overflow.
_COUNT_MAX = 100_000
# Far above any real price, and small enough that no bill's arithmetic overflows.
_PRICE_MAX = Decimal(1_000_000)


def _price(path: str, value: Any) -> Decimal:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            number = Decimal("NaN")
        if number.is_finite() and 0 <= number <= _PRICE_MAX:
            return number
    raise ValidationException(f"{path}: must be a price from 0 to {_PRICE_MAX}, not {value!r:.40}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# ----- months -------------------------------------------------------------------------------


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        datetime(year, month, 1)
    except ValueError:
        raise ValidationException(f"month: '{text}' is not YYYY-MM") from None
    return year, month


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def months_between(first: str, last: str) -> list[tuple[int, int]]:
    a, b = parse_month(first), parse_month(last)
    if b < a:
        raise ValidationException(f"--to {last} is before --from {first}")
    months = []
    year, month = a
    while (year, month) <= b:
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if len(months) > 120:
        raise ValidationException("a billing report spans at most 120 months")
    return months


def day(value_us: int) -> str:
    return from_micros(value_us).strftime("%Y-%m-%d")


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.001')):f}"


# ----- the report ---------------------------------------------------------------------------


PLANS = ("auto", "v1", "v2", "both")


@dataclass
class Line:
    month: str
    pipeline: str
    pipeline_id: str
    pipeline_type: str
    plan: str
    executions: int = 0
    new_revision_executions: int = 0
    action_minutes: int = 0
    active: bool = False
    charge: Decimal = Decimal("0")
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "pipeline": self.pipeline,
            "pipelineId": self.pipeline_id,
            "pipelineType": self.pipeline_type,
            "plan": self.plan,
            "executions": self.executions,
            "newRevisionExecutions": self.new_revision_executions,
            "actionMinutes": self.action_minutes,
            "active": self.active,
            "charge": money(self.charge),
            "reason": self.reason,
        }


@dataclass
class MonthTotal:
    month: str
    executions: int = 0
    action_minutes: int = 0
    active_pipelines: int = 0
    v1_subtotal: Decimal = Decimal("0")
    v1_free_tier_credit: Decimal = Decimal("0")
    v2_subtotal: Decimal = Decimal("0")
    v2_free_minutes_used: int = 0
    v2_free_tier_credit: Decimal = Decimal("0")
    lines: list[Line] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return (
            self.v1_subtotal
            - self.v1_free_tier_credit
            + self.v2_subtotal
            - self.v2_free_tier_credit
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "usage": {
                "executions": self.executions,
                "actionMinutes": self.action_minutes,
                "activePipelines": self.active_pipelines,
            },
            "v1Subtotal": money(self.v1_subtotal),
            "v1FreeTierCredit": money(self.v1_free_tier_credit),
            "v2Subtotal": money(self.v2_subtotal),
            "v2FreeMinutesUsed": self.v2_free_minutes_used,
            "v2FreeTierCredit": money(self.v2_free_tier_credit),
            "total": money(self.total),
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass
class BillingReport:
    rules: BillingRules
    plan: str
    months: list[MonthTotal]

    @property
    def total(self) -> Decimal:
        return sum((m.total for m in self.months), Decimal("0"))

    def month(self, key: str) -> MonthTotal:
        return next(m for m in self.months if m.month == key)

    def line(self, month: str, pipeline: str, plan: str | None = None) -> Line:
        for line in self.month(month).lines:
            if line.pipeline == pipeline and (plan is None or line.plan == plan):
                return line
        raise KeyError((month, pipeline, plan))

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "rules": self.rules.to_dict(),
            "months": [m.to_dict() for m in self.months],
            "total": money(self.total),
        }

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "month",
                "pipeline",
                "pipeline_type",
                "plan",
                "executions",
                "new_revision_executions",
                "action_minutes",
                "active",
                "charge_usd",
                "reason",
            ]
        )
        for month in self.months:
            for line in month.lines:
                writer.writerow(
                    [
                        line.month,
                        line.pipeline,
                        line.pipeline_type,
                        line.plan,
                        line.executions,
                        line.new_revision_executions,
                        line.action_minutes,
                        "yes" if line.active else "no",
                        money(line.charge),
                        line.reason,
                    ]
                )
            if month.v1_free_tier_credit:
                writer.writerow(
                    [
                        month.month,
                        "(account)",
                        "",
                        "v1",
                        "",
                        "",
                        "",
                        "",
                        "-" + money(month.v1_free_tier_credit),
                        "V1 free tier",
                    ]
                )
            if month.v2_free_tier_credit:
                writer.writerow(
                    [
                        month.month,
                        "(account)",
                        "",
                        "v2",
                        "",
                        "",
                        month.v2_free_minutes_used,
                        "",
                        "-" + money(month.v2_free_tier_credit),
                        "V2 free minutes",
                    ]
                )
            writer.writerow(
                [
                    month.month,
                    "(total)",
                    "",
                    self.plan,
                    month.executions,
                    "",
                    month.action_minutes,
                    month.active_pipelines,
                    money(month.total),
                    "",
                ]
            )
        return buffer.getvalue()


def billing_report(
    conn: Connection,
    months: Iterable[tuple[int, int]],
    rules: BillingRules | None = None,
    plan: str = "auto",
) -> BillingReport:
    """The bill for these calendar months (UTC), one line per pipeline that existed then."""
    rules = rules or BillingRules()
    if plan not in PLANS:
        raise ValidationException(f"--plan: '{plan}' is not one of {', '.join(PLANS)}")
    return BillingReport(rules, plan, [_month(conn, y, m, rules, plan) for y, m in months])


def _month(conn: Connection, year: int, month: int, rules: BillingRules, plan: str) -> MonthTotal:
    start, end = month_bounds(year, month)
    start_us, end_us = micros(start), micros(end)
    total = MonthTotal(f"{year:04d}-{month:02d}")
    usage = _Usage(conn, start_us, end_us, rules)
    for pipeline in usage.pipelines:
        _bill_pipeline(total, usage, pipeline, rules, plan, end_us)
    active_v1 = [line for line in total.lines if line.plan == "v1" and line.active]
    total.active_pipelines = len({line.pipeline_id for line in active_v1})
    if rules.v1_free_tier and active_v1:
        free = min(rules.v1_free_pipelines, len(active_v1))
        total.v1_free_tier_credit = rules.v1_price_per_active_pipeline * free
    if rules.v2_free_tier:
        used = min(
            rules.v2_free_minutes,
            sum(line.action_minutes for line in total.lines if line.plan == "v2"),
        )
        total.v2_free_minutes_used = used
        total.v2_free_tier_credit = rules.v2_price_per_minute * used
    return total


class _Usage:
    """One month's facts from the view: pipelines alive, their executions, action-minutes."""

    def __init__(self, conn: Connection, start_us: int, end_us: int, rules: BillingRules) -> None:
        pipelines = conn.execute(
            sa.select(pipelines_table).where(
                pipelines_table.c.created_us < end_us,
                sa.or_(
                    pipelines_table.c.deleted_us.is_(None),
                    pipelines_table.c.deleted_us >= start_us,
                ),
            )
        ).all()
        executions = conn.execute(
            sa.select(executions_table)
            .where(
                executions_table.c.started_us >= start_us, executions_table.c.started_us < end_us
            )
            .order_by(executions_table.c.started_us)
        ).all()
        # Actions are billed in the month they started, once they reached a completion state.
        actions = conn.execute(
            sa.select(actions_table)
            .where(actions_table.c.started_us >= start_us, actions_table.c.started_us < end_us)
            .order_by(actions_table.c.started_us)
        ).all()
        self.runs: dict[str, list[Any]] = defaultdict(list)
        for row in executions:
            self.runs[row.pipeline_id].append(row)
        self.minutes: dict[str, int] = defaultdict(int)
        self.running: dict[str, int] = defaultdict(int)
        for row in actions:
            if row.ended_us is None:
                self.running[row.pipeline_id] += 1
                continue
            seconds = (row.ended_us - row.started_us) / 1_000_000
            self.minutes[row.pipeline_id] += rules.billable_minutes(
                row.category, row.owner, seconds
            )
        known = {row.pipeline_id for row in pipelines}
        # An execution of a pipeline missing from the lifetime table cannot happen; be safe anyway.
        extra = [pid for pid in self.runs if pid not in known]
        if extra:
            pipelines = [*pipelines, *rows_by(conn, pipelines_table, "pipeline_id", extra)]
        self.pipelines = sorted(pipelines, key=lambda p: (p.name, p.created_us))


def _bill_pipeline(
    total: MonthTotal, usage: _Usage, pipeline: Any, rules: BillingRules, plan: str, end_us: int
) -> None:
    """The pipeline's line (or, with plan both, lines) of the month, added to its total."""
    pipeline_id = pipeline.pipeline_id
    runs = usage.runs.get(pipeline_id, [])
    minutes = usage.minutes[pipeline_id]
    # A pipeline switched between V1 and V2 is priced by the type its runs started under.
    pipeline_type = runs[-1].pipeline_type if runs else pipeline.pipeline_type
    for which in _plans(plan, pipeline_type, runs):
        if which == "v1":
            line = _v1_line(total.month, pipeline, runs, rules, end_us)
            total.v1_subtotal += line.charge
        else:
            line = _v2_line(total.month, pipeline, runs, minutes, rules)
            if usage.running[pipeline_id]:
                line.reason += (
                    f"; {usage.running[pipeline_id]} action execution(s) still running"
                    " are billed once they complete"
                )
            total.v2_subtotal += line.charge
        line.pipeline_type = pipeline_type
        line.executions = len(runs)
        line.new_revision_executions = sum(1 for r in runs if r.new_revision)
        line.action_minutes = minutes
        total.lines.append(line)
    total.executions += len(runs)
    total.action_minutes += minutes


def _plans(plan: str, pipeline_type: str, runs: Sequence[Any]) -> list[str]:
    if plan == "both":
        return ["v1", "v2"]
    if plan in ("v1", "v2"):
        return [plan]
    return ["v2" if pipeline_type == PipelineType.V2 else "v1"]


def _v1_line(
    month: str, pipeline: Any, runs: Sequence[Any], rules: BillingRules, end_us: int
) -> Line:
    line = Line(month, pipeline.name, pipeline.pipeline_id, PipelineType.V1, "v1")
    created = pipeline.created_us
    free_until = created + rules.free_days * 86_400_000_000
    text = f"created {day(created)}"
    if pipeline.deleted_us is not None and pipeline.deleted_us < end_us:
        text += f", deleted {day(pipeline.deleted_us)}"
    counting = [r for r in runs if r.new_revision or rules.v1_any_execution_counts]
    what = "execution" if rules.v1_any_execution_counts else "change (new source revision)"
    if not runs:
        line.reason = f"{text}: no executions this month"
        return line
    if not counting:
        line.reason = f"{text}: {len(runs)} execution(s) but no new source revision this month"
        return line
    if rules.v1_age_rule == "strict":
        billable = [r for r in counting if r.started_us > free_until]
    else:
        evaluated = min(end_us, pipeline.deleted_us or end_us)
        billable = counting if evaluated > free_until else []
    if not billable:
        if rules.v1_age_rule == "strict":
            line.reason = (
                f"{text}: every {what} this month started within the first {rules.free_days}"
                f" days (free until {from_micros(free_until):%Y-%m-%d %H:%M} UTC)"
            )
        else:
            line.reason = f"{text}: not older than {rules.free_days} days by the end of the month"
        return line
    first = billable[0]
    line.active = True
    line.charge = rules.v1_price_per_active_pipeline
    line.reason = f"{text}, first billable {what.split(' ')[0]} {day(first.started_us)}"
    if first.revision_id:
        line.reason += f" (revision {str(first.revision_id)[:12]})"
    if len(billable) > 1:
        line.reason += f"; {len(billable)} billable executions, charged once (no proration)"
    return line


def _v2_line(
    month: str, pipeline: Any, runs: Sequence[Any], minutes: int, rules: BillingRules
) -> Line:
    line = Line(month, pipeline.name, pipeline.pipeline_id, PipelineType.V2, "v2")
    line.charge = rules.v2_price_per_minute * minutes
    line.reason = f"{minutes} action-minutes at ${rules.v2_price_per_minute}/min"
    return line
