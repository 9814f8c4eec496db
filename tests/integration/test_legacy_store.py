"""A store written by the previous release loads with today's code and rebuilds the same views."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.settings import Settings
from projections.views import open_projections
from tests.harness import Harness
from tests.support.views import dump

LEGACY_STORE = Path(__file__).resolve().parents[1] / "data" / "legacy-store.db"


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
            assert again[name] == rows, f"{name} differs after the rebuild"
    finally:
        projections.engine.dispose()
        harness.app.close()
