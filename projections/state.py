"""The current-state view: each pipeline's GetPipelineState document, kept up to date."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import PipelineNotFoundException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from projections.codepipeline import pipeline_state
from projections.runtime import Positioned, Replica, dumps, metadata, replace_rows

state_table = sa.Table(
    "view_state",
    metadata,
    sa.Column("pipeline_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)


class StateView:
    """GetPipelineState per pipeline, computed by the same function the aggregates answer with."""

    name = "state"
    tables = (state_table,)

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        dirty: dict[str, None] = {}
        for item in batch:
            aggregate = item.aggregate
            if isinstance(aggregate, PipelineExecution):
                # Any execution event can change what its pipeline's state shows.
                dirty[aggregate.pipeline_id] = None
            elif isinstance(aggregate, Pipeline):
                dirty[item.key] = None
        rows = []
        for pipeline_id in dirty:
            pipeline = replica.pipeline(pipeline_id)
            document = pipeline_state(pipeline, replica.execution)
            rows.append(
                {
                    "pipeline_id": pipeline_id,
                    "name": pipeline.name,
                    "deleted": pipeline.deleted,
                    "document": dumps(document),
                }
            )
        replace_rows(conn, state_table, "pipeline_id", rows)


def current_state(conn: Connection, name: str) -> dict[str, Any]:
    """The state document of the live pipeline with this name."""
    row = conn.execute(
        sa.select(state_table.c.document).where(
            state_table.c.name == name, state_table.c.deleted.is_(False)
        )
    ).first()
    if row is None:
        raise PipelineNotFoundException(f"no pipeline named '{name}'")
    document: dict[str, Any] = json.loads(row.document)
    return document
