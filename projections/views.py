"""The standard set of views and one way to open them beside an application's events."""

from __future__ import annotations

from collections.abc import Sequence

from projections.audit import AuditView
from projections.billing import BillingView
from projections.codepipeline import DEFAULT_REGION
from projections.history import DEFAULT_RETENTION_MONTHS, HistoryView
from projections.runtime import EventLog, Projections, View, create_view_engine
from projections.state import StateView


def standard_views(
    retention_months: int = DEFAULT_RETENTION_MONTHS, region: str = DEFAULT_REGION
) -> list[View]:
    return [StateView(), HistoryView(retention_months, region), BillingView(), AuditView()]


def open_projections(
    log: EventLog,
    url: str,
    *,
    views: Sequence[View] | None = None,
    retention_months: int = DEFAULT_RETENTION_MONTHS,
    region: str = DEFAULT_REGION,
    create_tables: bool = True,
) -> Projections:
    """Views in the database at `url` (the events' own database, or `sqlite://` in memory).

    With `create_tables` false the tables are known to exist (a store's set-up made them):
    no process checks or creates them again, which raced between processes on PostgreSQL.
    """
    projections = Projections(
        log, create_view_engine(url), list(views or standard_views(retention_months, region))
    )
    if create_tables:
        projections.ensure_tables()
    else:
        projections.tables_exist()
    return projections
