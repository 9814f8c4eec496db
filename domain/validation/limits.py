"""The quotas a definition is checked against, and CodePipeline's ceilings on them."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import ValidationException

# CodePipeline's own fixed quotas (spec §4.1): Limits may lower them, never raise them.
STAGES_CEILING = 50
ACTIONS_PER_STAGE_CEILING = 50
PARALLEL_CEILING = 50
SEQUENTIAL_CEILING = 50
ACTIONS_PER_PIPELINE_CEILING = 500
VARIABLES_CEILING = 50
TRIGGERS_CEILING = 50


@dataclass(frozen=True)
class Limits:
    """Quotas a definition is checked against; the stage count defaults to 10 (max 50)."""

    min_stages: int = 2
    max_stages: int = 10
    max_actions_per_stage: int = 50
    max_parallel_actions: int = 50
    max_sequential_actions: int = 50
    max_actions_per_pipeline: int = 500
    max_variables: int = 50
    max_triggers: int = 50
    # The pipeline's own region (the settings'): an action may name it, and no other.
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        if not 2 <= self.min_stages <= self.max_stages <= STAGES_CEILING:
            raise ValidationException(
                f"stage limits must satisfy 2 <= min_stages <= max_stages <= {STAGES_CEILING}; "
                f"got min_stages={self.min_stages}, max_stages={self.max_stages}"
            )
        ceilings = {
            "max_actions_per_stage": ACTIONS_PER_STAGE_CEILING,
            "max_parallel_actions": PARALLEL_CEILING,
            "max_sequential_actions": SEQUENTIAL_CEILING,
            "max_actions_per_pipeline": ACTIONS_PER_PIPELINE_CEILING,
            "max_variables": VARIABLES_CEILING,
            "max_triggers": TRIGGERS_CEILING,
        }
        for name, ceiling in ceilings.items():
            value = getattr(self, name)
            if not 1 <= value <= ceiling:
                raise ValidationException(f"{name} must be 1..{ceiling} (CodePipeline's quota)")
