"""Under random command sequences, views caught up step by step equal views rebuilt from zero."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from projections.codepipeline import pipeline_state
from projections.runtime import Projections
from projections.state import current_state
from projections.views import open_projections
from tests.integration.test_projections import dump
from tests.property.machine import NAME, StageSemanticsMachine


class ViewsMachine(StageSemanticsMachine):
    """The semantics machine on SQLite, with the views caught up after every step."""

    persistence = "sqlite"
    max_stages = 5
    views: Projections | None = None

    def after_step(self) -> None:
        super().after_step()
        assert self.h is not None
        if self.views is None:
            self.views = open_projections(self.h.app, f"sqlite:///{self.home / 'events.sqlite'}")
            self.views.batch = 13  # batch boundaries fall inside commands
        self.views.catch_up()
        with self.views.engine.connect() as conn:
            shown = current_state(conn, NAME)
        expected = pipeline_state(self.h.app.pipeline(NAME), self.h.app.execution)
        self.check(shown == expected, "the state view differs from the aggregates' state")

    def teardown(self) -> None:
        if self.views is not None:
            incremental = dump(self.views)
            self.views.rebuild()
            rebuilt = dump(self.views)
            self.views.engine.dispose()
            assert rebuilt == incremental, "a view rebuilt from 0 differs from the incremental one"
        super().teardown()


def test_every_view_rebuilt_from_zero_equals_the_view_kept_up_to_date_step_by_step() -> None:
    run_state_machine_as_test(
        ViewsMachine, settings=settings(max_examples=15, stateful_step_count=25)
    )
