"""A harness around the real application: virtual clock, fixed ids, scripted results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.vocabulary import ActionStatus
from engine.app import ActionResult, ActionWork, Conveyor
from engine.clock import ManualClock, SequentialIds
from engine.settings import Settings

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def source_action(name: str = "Checkout", output: str = "Src") -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeCommit",
            "version": "1",
        },
        "configuration": {"RepositoryName": "app", "BranchName": "main"},
        "outputArtifacts": [{"name": output}],
    }


def shell_action(
    name: str,
    run_order: int = 1,
    inputs: Sequence[str] = ("Src",),
    outputs: Sequence[str] = (),
    category: str = "Build",
) -> dict[str, Any]:
    return {
        "name": name,
        "runOrder": run_order,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": "Shell", "version": "1"},
        "configuration": {"Commands": "true"},
        "inputArtifacts": [{"name": n} for n in inputs],
        "outputArtifacts": [{"name": n} for n in outputs],
    }


def approval_action(name: str = "Approve", minutes: int | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": "Approval",
            "owner": "AWS",
            "provider": "Manual",
            "version": "1",
        },
    }
    if minutes:
        action["timeoutInMinutes"] = minutes
    return action


def definition(
    stages: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    *,
    name: str = "demo",
    mode: str = "SUPERSEDED",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "pipelineType": "V2" if mode != "SUPERSEDED" or extra.get("variables") else "V1",
        "executionMode": mode,
        "stages": [{"name": s, "actions": list(a)} for s, a in stages],
        **extra,
    }


def linear(stage_count: int = 3, *, mode: str = "SUPERSEDED", name: str = "demo") -> dict[str, Any]:
    """Source, then one shell action per stage: the smallest shape for stage-lock tests."""
    stages: list[tuple[str, Sequence[dict[str, Any]]]] = [("Source", [source_action()])]
    for index in range(1, stage_count):
        stages.append((f"S{index}", [shell_action(f"A{index}")]))
    return definition(stages, name=name, mode=mode)


class Harness:
    """The real Conveyor application with fake action outcomes: the engine minus providers."""

    def __init__(self, home: Path, *, persistence: dict[str, str] | None = None) -> None:
        self.clock = ManualClock(START)
        self.ids = SequentialIds("test")
        self.settings = Settings(home=home)
        env = (
            persistence if persistence is not None else {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        )
        self.app = Conveyor(self.settings, clock=self.clock, ids=self.ids, env=env)
        self.work: dict[str, ActionWork] = {}
        self.revision = 0
        # Every execution this harness started, per pipeline name, oldest first.
        self.started: dict[str, list[str]] = {}

    def create(self, document: dict[str, Any], *, start: bool = False) -> str | None:
        _, execution_id = self.app.create_pipeline(document, by="tester", start=start)
        self.started[document["name"]] = [execution_id] if execution_id else []
        self.advance(document["name"])
        return execution_id

    def start(self, name: str = "demo") -> str:
        execution_id = self.app.start_pipeline_execution(name, by="tester")
        self.started.setdefault(name, []).append(execution_id)
        self.advance(name)
        return execution_id

    def advance(self, name: str = "demo") -> list[ActionWork]:
        fresh = self.app.advance(name)
        self._remember(fresh)
        return fresh

    def _remember(self, items: Sequence[ActionWork]) -> None:
        for work in items:
            self.work[work.action_execution_id] = work

    def running(self, execution_id: str | None = None) -> list[ActionWork]:
        """Work handed out and not yet reported, oldest first."""
        result = []
        for work in self.work.values():
            if execution_id and work.execution_id != execution_id:
                continue
            run = self.app.execution(work.execution_id).actions[work.action_execution_id]
            if run["status"] == ActionStatus.IN_PROGRESS:
                result.append(work)
        return result

    def find(self, execution_id: str, stage: str, action: str | None = None) -> ActionWork:
        for work in reversed(list(self.work.values())):
            if (
                work.execution_id == execution_id
                and work.stage == stage
                and (action is None or work.action == action)
            ):
                return work
        raise AssertionError(f"no work for {execution_id} at {stage}/{action}")

    def report(self, work: ActionWork, succeeded: bool = True) -> list[ActionWork]:
        outputs = {
            name: f"digest-{work.action_execution_id}-{name}" for name in work.output_artifacts
        }
        revision = None
        if work.action_type["category"] == "Source":
            self.revision += 1
            revision = {
                "revisionId": f"{self.revision:040x}",
                "revisionChangeIdentifier": f"{self.revision:07x}",
                "revisionSummary": f"commit {self.revision}",
                "created": self.clock.now().isoformat(),
                "revisionUrl": None,
            }
        result = ActionResult(
            succeeded=succeeded,
            summary="ok" if succeeded else "boom",
            output_artifacts=outputs if succeeded else {},
            output_variables={"CommitId": f"{self.revision:040x}"} if revision else {},
            error_code=None if succeeded else "JobFailed",
            error_message=None if succeeded else f"{work.action} failed",
            revision=revision,
        )
        fresh = self.app.complete_action(work, result)
        self._remember(fresh)
        return fresh

    def pass_stage(self, execution_id: str, stage: str) -> None:
        """Report success for every running action of the execution in that stage."""
        while True:
            pending = [w for w in self.running(execution_id) if w.stage == stage]
            if not pending:
                return
            for work in pending:
                self.report(work)

    def status(self, execution_id: str) -> str:
        return self.app.execution(execution_id).status

    def later(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))
