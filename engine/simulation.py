"""What-if simulation: a scenario run through the real engine under a virtual clock, in memory."""

from __future__ import annotations

import copy
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domain.errors import ConveyorError, ValidationException
from domain.execution import PipelineExecution
from domain.pipeline import Pipeline
from domain.validation import jsontext
from domain.vocabulary import (
    TERMINAL_EXECUTION_STATUSES,
    ActionStatus,
    ApprovalStatus,
    ExecutionMode,
    ExecutionStatus,
    PipelineType,
    RetryMode,
    StageStatus,
)
from engine.app import ActionResult, ActionWork, Conveyor
from engine.clock import ManualClock, SequentialIds, parse_instant
from engine.inputs import read_input
from engine.settings import Settings

DEFAULT_SECONDS = 60.0
STEP_KINDS = (
    "create",
    "push",
    "start",
    "approve",
    "reject",
    "disable",
    "enable",
    "stop",
    "retry",
    "update",
    "delete",
)
MODES = tuple(ExecutionMode)


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str
    pipeline: str
    fields: Mapping[str, Any]
    index: int


@dataclass(frozen=True)
class Scenario:
    """Pipelines, and what happens to them when: pushes, approvals, transitions, deletions."""

    name: str
    pipelines: Mapping[str, dict[str, Any]]
    steps: tuple[Step, ...]
    until: datetime | None = None
    billing: Mapping[str, Any] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    expect: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            document = jsontext.loads(read_input(path, "scenario"))
        except ValueError as error:
            raise ValidationException(f"scenario: {path} cannot be used: {error}") from None
        if not isinstance(document, dict):
            raise ValidationException(f"scenario: {path} must hold a JSON object")
        return cls.from_document(document, base=path.parent)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], base: Path | None = None) -> Scenario:
        if not isinstance(document, Mapping):
            raise ValidationException("scenario: must be a JSON object")
        problems: list[str] = []
        pipelines = _pipelines(_member(document, "pipelines", dict, problems), base, problems)
        steps = _steps(_member(document, "events", list, problems), pipelines, problems)
        until = None
        if document.get("until"):
            try:
                until = parse_instant(str(document["until"]))
            except ValueError:
                problems.append("until: not an ISO 8601 instant")
        durations = _durations(_member(document, "durations", dict, problems), problems)
        billing = _member(document, "billing", dict, problems)
        expect = _member(document, "expect", dict, problems)
        if not steps:
            problems.append("events: a scenario needs at least one event")
        if problems:
            raise ValidationException("scenario: " + "; ".join(problems))
        return cls(
            name=str(document.get("name") or "scenario"),
            description=str(document.get("description") or ""),
            pipelines=pipelines,
            steps=tuple(steps),
            until=until,
            billing=billing,
            durations=durations,
            expect=expect,
        )

    def variant(self, *, mode: str | None = None, pipeline_type: str | None = None) -> Scenario:
        """The same scenario with every pipeline in another execution mode or pipeline type."""
        if mode is not None and mode not in MODES:
            raise ValidationException(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
        if pipeline_type is not None and pipeline_type not in tuple(PipelineType):
            raise ValidationException(f"--plan: '{pipeline_type}' is not V1 or V2")

        def rewrite(definition: dict[str, Any]) -> dict[str, Any]:
            changed = copy.deepcopy(definition)
            if mode is not None:
                changed["executionMode"] = mode
                # QUEUED and PARALLEL exist only on V2 pipelines.
                if mode != ExecutionMode.SUPERSEDED:
                    changed["pipelineType"] = str(PipelineType.V2)
            if pipeline_type is not None:
                changed["pipelineType"] = pipeline_type
            return changed

        steps = tuple(
            Step(
                s.at,
                s.kind,
                s.pipeline,
                {**s.fields, "definition": rewrite(s.fields["definition"])},
                s.index,
            )
            if "definition" in s.fields
            else s
            for s in self.steps
        )
        return Scenario(
            name=self.name,
            description=self.description,
            pipelines={name: rewrite(d) for name, d in self.pipelines.items()},
            steps=steps,
            until=self.until,
            billing=self.billing,
            durations=self.durations,
            expect=self.expect,
        )


def _member(document: Mapping[str, Any], name: str, kind: type, problems: list[str]) -> Any:
    """A member that must be an object (dict) or a list; empty when absent or null."""
    value = document.get(name)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        problems.append(f"{name}: must be {'an object' if kind is dict else 'a list'}")
        return kind()
    return value


def _durations(raw: Mapping[str, Any], problems: list[str]) -> dict[str, float]:
    durations = {}
    for name, seconds in raw.items():
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
            durations[name] = float(seconds)
        else:
            problems.append(f"durations.{name}: must be a number of seconds, 0 or more")
    return durations


def _pipelines(
    declared: Mapping[str, Any], base: Path | None, problems: list[str]
) -> dict[str, dict[str, Any]]:
    pipelines: dict[str, dict[str, Any]] = {}
    for name, definition in declared.items():
        if isinstance(definition, str):
            source = (base or Path.cwd()) / definition
            try:
                definition = jsontext.loads(read_input(source, f"pipelines.{name}"))
            except (ValidationException, ValueError) as error:
                problems.append(str(error))
                continue
        if not isinstance(definition, dict):
            problems.append(f"pipelines.{name}: must be a definition object or a file path")
            continue
        definition = definition.get("pipeline", definition)
        if not isinstance(definition, dict):
            problems.append(f"pipelines.{name}.pipeline: must be a definition object")
            continue
        pipelines[name] = {**definition, "name": name}
    return pipelines


def _steps(events: list[Any], pipelines: Mapping[str, Any], problems: list[str]) -> list[Step]:
    steps: list[Step] = []
    previous: datetime | None = None
    for index, raw in enumerate(events):
        where = f"events[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be an object")
            continue
        kinds = [k for k in STEP_KINDS if k in raw]
        if len(kinds) != 1:
            problems.append(f"{where}: needs exactly one of {', '.join(STEP_KINDS)}")
            continue
        kind = kinds[0]
        try:
            at = parse_instant(str(raw["at"]))
        except (KeyError, ValueError):
            problems.append(f"{where}.at: an ISO 8601 instant is required")
            continue
        if previous is not None and at < previous:
            problems.append(f"{where}.at: {raw['at']} is earlier than the event before it")
        previous = at
        name = str(raw[kind])
        if kind in ("create", "update") and name not in pipelines and "definition" not in raw:
            problems.append(f"{where}.{kind}: no pipeline '{name}' under 'pipelines'")
        if "definition" in raw and not isinstance(raw["definition"], dict):
            problems.append(f"{where}.definition: must be a definition object")
        if kind in ("approve", "reject", "disable", "enable", "retry") and "stage" not in raw:
            problems.append(f"{where}.stage: required for {kind}")
        steps.append(Step(at, kind, name, dict(raw), index))
    return steps


@dataclass
class SimulationResult:
    scenario: Scenario
    app: Conveyor
    pipeline_ids: dict[str, list[str]]
    # The executions the simulator started, per pipeline id, in start order.
    started: dict[str, list[str]]
    revisions: dict[str, str]
    log: list[str]
    errors: list[str]
    ended_at: datetime

    def pipelines(self) -> list[Pipeline]:
        """Every pipeline the scenario created, deleted ones included, in creation order."""
        return [_get(self.app, pid) for ids in self.pipeline_ids.values() for pid in ids]

    def reach(self) -> list[dict[str, Any]]:
        """Which revision reached which stage, per execution, in start order."""
        rows = []
        for ids in self.pipeline_ids.values():
            for pid in ids:
                pipeline = _get(self.app, pid)
                for eid in self.started.get(pid, []):
                    execution: PipelineExecution = _get(self.app, eid)
                    succeeded = [
                        s
                        for s, st in execution.stages.items()
                        if st["status"] == StageStatus.SUCCEEDED
                    ]
                    rows.append(
                        {
                            "pipeline": pipeline.name,
                            "executionId": eid,
                            "revision": self.revisions.get(eid),
                            "status": execution.status,
                            "stagesSucceeded": succeeded,
                            "furthestStage": execution.stage,
                            "startTime": execution.started_at.isoformat(),
                        }
                    )
        return rows


def _get(app: Conveyor, aggregate_id: str) -> Any:
    from uuid import UUID

    return app.repository.get(UUID(aggregate_id))


class Simulation:
    """Runs a scenario: steps at their instants, scripted actions ending after their durations."""

    def __init__(self, scenario: Scenario, *, settings: Settings | None = None) -> None:
        self.scenario = scenario
        first = scenario.steps[0].at
        self.clock = ManualClock(first)
        self.ids = SequentialIds(f"simulation:{scenario.name}")
        self.settings = settings or Settings(home=Path(".conveyor-simulation"))
        self.app = Conveyor(
            self.settings,
            clock=self.clock,
            ids=self.ids,
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        )
        self._queue: list[tuple[datetime, int, int, Any]] = []
        self._seq = 0
        self.revisions: dict[str, str] = {}
        self.scripts: dict[str, Mapping[str, Any]] = {}
        self.current_revision: dict[str, str] = {}
        self.pipeline_ids: dict[str, list[str]] = {}
        # Its own record of the executions it started: the pipeline names only its recent ones.
        self.started: dict[str, list[str]] = {}
        self.log: list[str] = []
        self.errors: list[str] = []
        # Actions the simulator runs itself; the rest (approvals, custom) wait for their deadline.
        self._handed: set[str] = set()
        # Executions whose push scripts answer their approvals or retry their failures, in
        # start order; `_dormant` are the ones that ended (until a retry brings one back).
        self._reactive: list[str] = []
        self._dormant: set[str] = set()
        self._reacted: set[str] = set()
        self._retries_used: dict[str, int] = {}
        self._origin: dict[str, int] = {}

    # ----- the loop -------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        for step in self.scenario.steps:
            self._push(step.at, 1, step)
        end = self.scenario.until
        while True:
            deadline = self._next_deadline()
            if not self._queue:
                # Past the last event, deadlines strike up to `until`; a scripted reaction to
                # one (a retry after a timeout) queues more events.
                if deadline is None or end is None or deadline > end:
                    break
                self._tick(deadline)
                continue
            at, _, _, item = self._queue[0]
            if deadline is not None and deadline < at:
                self._tick(deadline)
                continue
            heapq.heappop(self._queue)
            self._move_to(at)
            if isinstance(item, Step):
                self._step(item)
            else:
                work, result = item
                self._hand(self.app.complete_action(work, result))
            self._react()
        if end is not None:
            self._move_to(end)
        return SimulationResult(
            scenario=self.scenario,
            app=self.app,
            pipeline_ids=self.pipeline_ids,
            started=self.started,
            revisions=self.revisions,
            log=self.log,
            errors=self.errors,
            ended_at=self.clock.now(),
        )

    def _push(self, at: datetime, priority: int, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, priority, self._seq, item))

    def _move_to(self, at: datetime) -> None:
        if at > self.clock.now():
            self.clock.set(at)

    def _tick(self, at: datetime) -> None:
        """Timeouts (approvals, custom actions) strike when the planner next looks."""
        self._move_to(at)
        for name in self.app.pipeline_names():
            self._hand(self.app.advance(name))
        self._react()

    def _next_deadline(self) -> datetime | None:
        found: datetime | None = None
        for name in self.app.pipeline_names():
            pipeline = self.app.pipeline(name)
            for eid in pipeline.active:
                for run in self.app.execution(eid).in_progress_runs():
                    if run["id"] in self._handed:
                        continue
                    deadline = run["deadline"]
                    if deadline is not None and (found is None or deadline < found):
                        found = deadline
        return found

    def _hand(self, items: list[ActionWork]) -> None:
        """Schedule each started action to finish after its scripted duration."""
        for work in items:
            self._handed.add(work.action_execution_id)
            seconds, succeeded = self._script(work)
            revision: dict[str, Any] | None = None
            if work.action_type["category"] == "Source":
                revision_id = self.revisions.get(work.execution_id, "initial")
                revision = {
                    "revisionId": revision_id,
                    "revisionChangeIdentifier": revision_id[:7],
                    "revisionSummary": f"revision {revision_id}",
                    "created": self.clock.now().isoformat(),
                    "revisionUrl": None,
                }
            result = ActionResult(
                succeeded=succeeded,
                summary="simulated" if succeeded else "simulated failure",
                output_artifacts={
                    name: f"sim-{work.action_execution_id}-{name}" for name in work.output_artifacts
                }
                if succeeded
                else {},
                output_variables={"CommitId": str(revision["revisionId"])} if revision else {},
                error_code=None if succeeded else "JobFailed",
                error_message=None if succeeded else f"{work.action} failed (scripted)",
                revision=revision if succeeded else None,
            )
            self._push(self.clock.now() + timedelta(seconds=seconds), 0, (work, result))

    def _script(self, work: ActionWork) -> tuple[float, bool]:
        script = self.scripts.get(work.execution_id, {})
        durations = {**self.scenario.durations, **(script.get("durations") or {})}
        seconds = DEFAULT_SECONDS
        for key in (
            f"{work.stage}/{work.action}",
            work.action,
            work.action_type["category"],
            "default",
        ):
            if key in durations:
                seconds = float(durations[key])
                break
        outcomes = script.get("outcomes") or {}
        outcome = outcomes.get(f"{work.stage}/{work.action}", outcomes.get(work.action))
        if isinstance(outcome, list):
            # The n-th attempt of this action in the execution, retries of its stage included.
            runs = self.app.execution(work.execution_id).actions.values()
            attempt = sum(1 for r in runs if (r["stage"], r["action"]) == (work.stage, work.action))
            outcome = outcome[min(attempt, len(outcome)) - 1] if outcome else None
        succeeded = str(outcome or ActionStatus.SUCCEEDED).lower() not in ("failed", "fail")
        return seconds, succeeded

    # ----- steps ----------------------------------------------------------------------------

    def _step(self, step: Step) -> None:
        name = step.pipeline
        self.log.append(f"{step.at.isoformat()} {step.kind} {name}")
        try:
            getattr(self, f"_do_{step.kind}")(
                step, step.fields, str(step.fields.get("by", "simulator"))
            )
        except ConveyorError as error:
            # A refused command is part of the story (e.g. QUEUED on a V1 pipeline), not a crash.
            self.errors.append(f"events[{step.index}] {step.kind} {name}: {error.code}: {error}")
            self.log.append(f"  refused: {error.code}: {error}")
            return
        if step.kind != "delete":
            self._hand(self.app.advance(name))

    def _do_create(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        definition = f.get("definition") or self.scenario.pipelines[name]
        pipeline, eid = self.app.create_pipeline(
            {**definition, "name": name}, by=by, start=bool(f.get("startExecution", True))
        )
        self.pipeline_ids.setdefault(name, []).append(str(pipeline.id))
        self.current_revision[name] = str(f.get("revision", f"{name}-initial"))
        if eid:
            self._started(name, eid, self.current_revision[name], f, step.index)

    def _do_push(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        revision = str(f.get("revision") or f"{name}-r{step.index}")
        self.current_revision[name] = revision
        eid = self.app.start_pipeline_execution(
            name, by=by, trigger_type="PollForSourceChanges", trigger_detail=revision
        )
        self._started(name, eid, revision, f, step.index)

    def _do_start(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        revision = self.current_revision.get(name, f"{name}-initial")
        eid = self.app.start_pipeline_execution(name, by=by)
        self._started(name, eid, revision, f, step.index)

    def _do_approve(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        self.app.put_approval_result(
            step.pipeline,
            str(f["stage"]),
            str(f.get("action") or "Approve"),
            status=ApprovalStatus.APPROVED if step.kind == "approve" else ApprovalStatus.REJECTED,
            summary=str(f.get("comment", "")),
            by=by,
            token=f.get("token"),
        )

    _do_reject = _do_approve

    def _do_disable(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        self.app.disable_stage_transition(
            step.pipeline, str(f["stage"]), reason=str(f.get("reason", "simulated")), by=by
        )

    def _do_enable(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        self.app.enable_stage_transition(step.pipeline, str(f["stage"]), by=by)

    def _do_stop(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        eid = self._execution_of(name, f)
        self.app.stop_pipeline_execution(
            name, eid, abandon=bool(f.get("abandon")), reason=str(f.get("reason", "")), by=by
        )

    def _do_retry(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        eid = self._execution_of(name, f)
        self.app.retry_stage_execution(
            name,
            str(f["stage"]),
            eid,
            retry_mode=str(f.get("retryMode", RetryMode.FAILED_ACTIONS)),
            by=by,
        )
        # A failed or stopped execution runs again: its script may have more to answer.
        self._dormant.discard(eid)

    def _do_update(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        name = step.pipeline
        definition = f.get("definition") or self.scenario.pipelines[name]
        self.app.update_pipeline({**definition, "name": name}, by=by)

    def _do_delete(self, step: Step, f: Mapping[str, Any], by: str) -> None:
        self.app.delete_pipeline(step.pipeline, by=by)

    def _started(
        self, name: str, eid: str, revision: str, fields: Mapping[str, Any], index: int
    ) -> None:
        self.started.setdefault(self.pipeline_ids[name][-1], []).append(eid)
        self.revisions[eid] = revision
        self._origin[eid] = index
        self.scripts[eid] = fields
        self.log.append(f"  execution {eid} carries {revision}")
        if fields.get("approvals") or fields.get("retries"):
            self._reactive.append(eid)

    # ----- reactions scripted per push: approval answers and retries of failures -------------

    def _react(self) -> None:
        """Schedule what a push's script says to do once its execution asks for it."""
        for eid in self._reactive:
            if eid in self._dormant:
                continue
            execution = self.app.execution(eid)
            self._answer_approvals(eid, execution)
            self._retry_failure(eid, execution)
            # An ended execution asks for nothing more until a retry step revives it.
            if execution.status in TERMINAL_EXECUTION_STATUSES:
                self._dormant.add(eid)

    def _answer_approvals(self, eid: str, execution: PipelineExecution) -> None:
        answers = self.scripts[eid].get("approvals") or {}
        for run in execution.in_progress_runs():
            answer = answers.get(f"{run['stage']}/{run['action']}")
            if run["token"] and answer is not None and run["id"] not in self._reacted:
                self._reacted.add(run["id"])
                self._schedule(eid, _answer_step(run, answer))

    def _retry_failure(self, eid: str, execution: PipelineExecution) -> None:
        retries = list(self.scripts[eid].get("retries") or [])
        key = f"{eid}@{execution.attempt}"
        used = self._retries_used.get(eid, 0)
        failed = execution.status == ExecutionStatus.FAILED
        if not failed or key in self._reacted or used >= len(retries):
            return
        self._reacted.add(key)
        self._retries_used[eid] = used + 1
        retry = retries[used]
        stage = (execution.outcome.get("stage") if execution.outcome else None) or execution.stage
        self._schedule(
            eid,
            {
                "after": retry.get("after", 0),
                "retry": stage,
                "retryMode": retry.get("mode", RetryMode.FAILED_ACTIONS),
            },
        )

    def _schedule(self, eid: str, reaction: dict[str, Any]) -> None:
        at = self.clock.now() + timedelta(seconds=float(reaction.pop("after", 0)))
        kind = "retry" if "retry" in reaction else str(reaction.pop("kind"))
        stage = reaction.pop("retry", None) or reaction.get("stage")
        name = self.app.execution(eid).pipeline_name
        fields = {**reaction, "stage": stage, "executionId": eid, "by": "simulator"}
        self._push(at, 1, Step(at, kind, name, fields, self._origin[eid]))

    def _execution_of(self, name: str, fields: Mapping[str, Any]) -> str:
        if fields.get("executionId"):
            return str(fields["executionId"])
        wanted = fields.get("revision")
        pipeline = self.app.pipeline(name)
        for eid in reversed(self.started.get(str(pipeline.id), [])):
            if wanted is None or self.revisions.get(eid) == wanted:
                return eid
        raise ValidationException(f"no execution of {name} carries revision {wanted}")


def _answer_step(run: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    rejected = str(answer.get("result", ApprovalStatus.APPROVED)) == ApprovalStatus.REJECTED
    return {
        "after": answer.get("after", 0),
        "kind": "reject" if rejected else "approve",
        "stage": run["stage"],
        "action": run["action"],
        "token": run["token"],
        "comment": "scripted answer",
    }


def simulate(scenario: Scenario, *, settings: Settings | None = None) -> SimulationResult:
    return Simulation(scenario, settings=settings).run()
