"""The standard set of views and one way to open them beside an application's events."""

from __future__ import annotations

from collections.abc import Sequence

from projections.audit import AuditView
from projections.billing import BillingView
from projections.history import DEFAULT_RETENTION_MONTHS, HistoryView
from projections.runtime import EventLog, Projections, View, create_view_engine
from projections.state import StateView


def standard_views(retention_months: int = DEFAULT_RETENTION_MONTHS) -> list[View]:
    return [StateView(), HistoryView(retention_months), BillingView(), AuditView()]


def open_projections(
    log: EventLog,
    url: str,
    *,
    views: Sequence[View] | None = None,
    retention_months: int = DEFAULT_RETENTION_MONTHS,
) -> Projections:
    """Views in the database at `url` (the events' own database, or `sqlite://` in memory)."""
    projections = Projections(
        log, create_view_engine(url), list(views or standard_views(retention_months))
    )
    projections.ensure_tables()
    return projections
