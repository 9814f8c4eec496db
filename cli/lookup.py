"""Execution ids as people give them: the full id, or a unique prefix found in the history view."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

if TYPE_CHECKING:
    from domain.execution import PipelineExecution
    from engine.bootstrap import System


def find_execution(system: System, given: str) -> PipelineExecution:
    """The execution `given` names: by full id from the store, else by prefix from the history.

    The prefix is looked up in the history view (caught up first), not in the Pipeline
    aggregates, which name only their recent executions.
    """
    try:
        full = str(UUID(given))
    except ValueError:
        from projections.history import execution_id_by_prefix

        with system.views().engine.connect() as conn:
            full = execution_id_by_prefix(conn, given)
    return system.app.execution(full)
