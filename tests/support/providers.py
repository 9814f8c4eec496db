"""Running one provider kind directly, with a request whose unspecified fields get defaults."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.providers import provider_for
from engine.providers.base import ActionOutcome, ActionRequest

Run = Callable[..., tuple[ActionOutcome, ActionRequest]]


def provider_runner(tmp_path: Path, *, category: str) -> Run:
    """`run(kind, **fields)`: each call a fresh action execution id, work folder and log."""
    counter = iter(range(1000))

    def run(kind: str, **fields: Any) -> tuple[ActionOutcome, ActionRequest]:
        number = next(counter)
        values: dict[str, Any] = {
            "action_execution_id": f"ae-{number}",
            "pipeline_name": "release",
            "execution_id": "exec-1",
            "stage": "Stage",
            "action": "Action",
            "category": category,
            "owner": "AWS",
            "provider": "X",
            "version": "1",
            "configuration": {},
            "commands": (),
            "input_artifacts": {},
            "output_artifacts": {},
            "output_variable_names": (),
            "environment": {},
            "workdir": tmp_path / "work" / f"ae-{number}",
            "log_path": tmp_path / "logs" / f"ae-{number}.log",
            "timeout_seconds": 30.0,
            "workspace_root": tmp_path,
            "buckets_root": tmp_path / "buckets",
        }
        values.update(fields)
        request = ActionRequest(**values)
        request.workdir.mkdir(parents=True, exist_ok=True)
        return provider_for(kind).run(request), request

    return run
