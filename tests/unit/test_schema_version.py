"""The schema version moves with the views' tables: a store set up before a change is redone."""

from __future__ import annotations

import hashlib

from engine.schema import SCHEMA_VERSION
from projections.runtime import positions
from projections.views import standard_views

# The views' tables as they were when SCHEMA_VERSION took its current value.
# 2 added the log's signed checkpoints (audit_checkpoints, not a view): the views kept their shape.
SHAPES = {1: "793c528e88a16028", 2: "793c528e88a16028"}


def shape() -> str:
    tables = [positions] + [table for view in standard_views() for table in view.tables]
    described = sorted(
        (
            table.name,
            tuple(sorted((c.name, str(c.type), c.nullable, c.primary_key) for c in table.columns)),
            tuple(
                sorted(
                    (i.name, tuple(c.name for c in i.columns), bool(i.unique))
                    for i in table.indexes
                )
            ),
        )
        for table in tables
    )
    return hashlib.sha256(repr(described).encode()).hexdigest()[:16]


def test_a_change_to_the_views_tables_comes_with_a_new_schema_version() -> None:
    # Stores are set up once; opening a store creates no table. A view that gains a table or
    # an index must raise SCHEMA_VERSION (engine/schema.py) so that stores set up before are
    # set up again on first use, then record the new shape here. (A changed column needs a
    # migration step as well: the set-up only adds the tables and indexes that are missing.)
    assert SHAPES.get(SCHEMA_VERSION) == shape(), (
        f"the views' tables changed (shape {shape()}): raise SCHEMA_VERSION and add it here"
    )
