"""A store written by the previous release loads with today's code and rebuilds the same views."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine.settings import Settings
from projections.views import open_projections
from tests.harness import Harness
from tests.support.views import dump

LEGACY_STORE = Path(__file__).resolve().parents[1] / "data" / "legacy-store.db"

# Members of the CodePipeline documents in the views that issue 11 corrected on purpose
# (CHANGELOG, "CodePipeline's shapes"): end times of succeeded actions, `updated` only with the
# definition, attempts across retries, no nulls, no members outside botocore's model. They are
# left out of the comparison; everything else must rebuild exactly as the old release wrote it.
CORRECTED = frozenset(
    {
        "updated",
        "lastStatusChange",
        "lastUpdateTime",
        "autoStageRetryAttempt",
        "manualStageRetryAttempt",
        "attempt",
        "region",
        "inputArtifacts",
        "outputArtifacts",
        "startTime",
        "stopTrigger",
        "supersededBy",
        "waiting",
        "stages",
    }
)


def _uncorrected(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _uncorrected(v) for k, v in value.items() if k not in CORRECTED and v is not None
        }
    if isinstance(value, list):
        return [_uncorrected(item) for item in value]
    return value


def _comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with each JSON document cell stripped of the corrected members."""
    return [
        tuple(
            _uncorrected(json.loads(cell))
            if isinstance(cell, str) and cell.startswith("{")
            else cell
            for cell in row
        )
        for row in rows
    ]


def test_a_store_written_by_the_previous_release_rebuilds_to_the_views_stored_in_it(
    tmp_path: Path,
) -> None:
    database = tmp_path / "conveyor.db"
    shutil.copyfile(LEGACY_STORE, database)
    harness = Harness(
        tmp_path,
        persistence={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(database)},
    )
    projections = open_projections(harness.app, Settings(home=tmp_path).sqlalchemy_url())
    try:
        head = projections.head()
        assert head > 0
        # The stored views were caught up when the file was written.
        assert set(projections.positions().values()) == {head}
        stored = dump(projections)
        assert all(stored[name] for name in ("view_state", "view_audit", "view_billing_actions"))

        rebuilt = projections.rebuild()

        assert rebuilt.events == head
        again = dump(projections)
        assert again.keys() == stored.keys()
        for name, rows in stored.items():
            assert _comparable(again[name]) == _comparable(rows), f"{name} differs after rebuild"
    finally:
        projections.engine.dispose()
        harness.app.close()
