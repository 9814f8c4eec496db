"""Every row of every view, for comparing two rebuilds."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from projections.runtime import Projections


def dump(projections: Projections) -> dict[str, list[tuple[Any, ...]]]:
    """Each view table's rows, sorted, by table name."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with projections.engine.connect() as conn:
        for view in projections.views.values():
            for table in view.tables:
                rows = conn.execute(sa.select(table)).all()
                tables[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return tables
