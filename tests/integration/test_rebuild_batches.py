"""What a catch-up reads: each event once, in log order, with its position and instant."""

from __future__ import annotations

from pathlib import Path

from projections.runtime import Replica, micros
from projections.views import open_projections
from tests.integration.test_projections import gated, sqlite_harness


def test_each_event_a_catch_up_folds_carries_its_position_class_key_and_instant(
    tmp_path: Path,
) -> None:
    harness, url = sqlite_harness(tmp_path)
    projections = open_projections(harness.app, url)
    execution = harness.create(gated(), start=True)
    assert execution is not None
    for stage in ("Source", "Build"):
        harness.later(seconds=90.000123)
        harness.pass_stage(execution, stage)
    head = projections.head()
    replica = Replica(harness.app)
    seen = []
    for batch, last in projections._batches(replica, 0, None, 5):
        assert last == batch[-1].position
        seen.extend(batch)
    assert [item.position for item in seen] == list(range(1, head + 1))
    stored = harness.app.recorder.select_notifications(start=1, limit=head)
    for item, notification in zip(seen, stored, strict=True):
        event = harness.app.mapper.to_domain_event(notification)
        assert item.kind is type(event)
        assert item.key == str(event.originator_id)
        assert item.at_us == micros(event.timestamp)
        assert vars(item.event) == vars(event)
