"""The PipelineExecution aggregate: one run of a pipeline version, attempt by attempt."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Required, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.errors import (
    DuplicatedStopRequestException,
    InvalidApprovalTokenException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotStoppableException,
    StageNotRetryableException,
    ValidationException,
)
from domain.state import CopyOnWrite
from domain.vocabulary import (
    ACTIVE_EXECUTION_STATUSES,
    TERMINAL_EXECUTION_STATUSES,
    ActionStatus,
    ApprovalStatus,
    Cause,
    ExecutionMode,
    ExecutionStatus,
    RetryMode,
    RetryTrigger,
)

# The names views import: plain strings, so aggregate state never holds an enum member (a
# snapshot would load it back as a plain string, and the two must be equal).
IN_PROGRESS: str = ExecutionStatus.IN_PROGRESS.value
STOPPING: str = ExecutionStatus.STOPPING.value
SUCCEEDED: str = ExecutionStatus.SUCCEEDED.value
FAILED: str = ExecutionStatus.FAILED.value
STOPPED: str = ExecutionStatus.STOPPED.value
SUPERSEDED: str = ExecutionStatus.SUPERSEDED.value
CANCELLED: str = ExecutionStatus.CANCELLED.value
ABANDONED: str = ActionStatus.ABANDONED.value

ACTIVE_STATUSES = ACTIVE_EXECUTION_STATUSES
TERMINAL_STATUSES = TERMINAL_EXECUTION_STATUSES


class StageState(TypedDict):
    """One stage of an execution: its status, when it ran, and how often it was retried."""

    status: str
    entered_at: datetime | None
    ended_at: datetime | None
    manual_retries: int
    auto_retries: int
    retry_trigger: str | None


class Held(TypedDict):
    """Why and since when an execution waits in front of a stage (its inbound transition)."""

    stage: str
    reason: str
    holder: str | None
    since: datetime


class ActionRun(TypedDict):
    """One attempt of one action (an action execution)."""

    id: str
    stage: str
    action: str
    attempt: int
    status: str
    action_type: dict[str, str]
    configuration: dict[str, str]
    resolved_configuration: dict[str, str]
    input_artifacts: dict[str, str]
    output_artifacts: dict[str, str]
    output_variables: dict[str, str]
    namespace: str | None
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    deadline: datetime
    summary: str | None
    error: dict[str, str] | None
    token: str | None
    expires_at: datetime | None
    updated_by: str | None
    external_execution_id: str | None
    external_execution_url: str | None
    revision: dict[str, Any] | None


class StopRequest(TypedDict):
    abandon: bool
    reason: str
    by: str
    at: datetime


class Outcome(TypedDict, total=False):
    """Why the execution ended the way it did; which keys are set depends on the ending."""

    status: Required[str]
    at: Required[datetime]
    stage: str | None
    reason: str
    by: str
    error: dict[str, Any] | None
    while_waiting: bool
    superseded_by: str
    cause: dict[str, Any]


def action_key(stage: str, action: str) -> str:
    return f"{stage}/{action}"


def cause(kind: Cause, **fields: Any) -> dict[str, Any]:
    """Why the engine recorded an event, as data: a kind and the facts that go with it."""
    # Plain strings, as a replayed event has them (str() of a StrEnum member is its value).
    return {"kind": str(kind), **fields}


def _stop_prose(by: str | None, reason: str | None) -> str:
    return f"abandoned: stop requested by {by}" + (f": {reason}" if reason else "")


def _cancel_prose(why: dict[str, Any]) -> str:
    if why["kind"] == Cause.PIPELINE_UPDATED:
        return f"pipeline updated to version {why['version']}"
    return "pipeline deleted"


def _expired_prose(stage: str) -> str:
    return (
        f"the inbound transition to {stage} was disabled for more than "
        "30 days; start a new execution to run the latest revision"
    )


# ----- reading the causes of events stored before causes were recorded (v1) -----------------
# The one place that reads old prose. Each pattern is the exact text the previous release's
# engine wrote (engine/app.py at f879cd6); anything else is a person's or provider's own words.

_V1_STOP_PREFIX = "abandoned: stop requested by "
_V1_EXPIRED = re.compile(
    r"the inbound transition to (.+) was disabled for more than 30 days; "
    r"start a new execution to run the latest revision"
)
_V1_UPDATED = re.compile(r"pipeline updated to version (\d+)")
_V1_DELETED = "pipeline deleted"
_V1_DEADLINE = re.compile(r"the (?:action|approval) did not finish before its timeout \((.+)\)")
_V1_UNRESOLVED = re.compile(
    r"variable #\{[^}]*\} has no value: nothing earlier in this execution "
    r"set '[^']*' in namespace '[^']*'"
)


def _v1_failure_cause(code: str, message: str) -> dict[str, Any]:
    # Providers report TimedOut and ConfigurationError too (a shell command's own timeout, a
    # bad BuildSpec); today's engine records those as ActionReportedFailure, so only the
    # engine's own wording means the engine decided.
    if code == "TimedOut":
        found = _V1_DEADLINE.fullmatch(message)
        if found:
            return cause(Cause.TIMED_OUT, deadline=found.group(1))
    if code == "ConfigurationError" and _V1_UNRESOLVED.fullmatch(message):
        return cause(Cause.CONFIGURATION_ERROR)
    return cause(Cause.ACTION_REPORTED_FAILURE)


def _v1_abandon_cause(reason: str) -> dict[str, Any]:
    cancelled = _v1_known_cancel_cause(reason, None)
    if cancelled is not None:
        return cause(Cause.EXECUTION_CANCELLED, cancelled=cancelled)
    if reason.startswith(_V1_STOP_PREFIX):
        rest = reason[len(_V1_STOP_PREFIX) :]
        # "by X: Y": split at the first ": ", since a reason often holds ": " and a login name
        # almost never does (the execution's ExecutionStopRequested has both, exactly).
        by, _, why = rest.partition(": ")
        return cause(Cause.STOP_REQUESTED, by=by, reason=why)
    # The old engine abandoned actions only for `stop --abandon` and for a cancellation, whose
    # wordings are matched above. Read anything else as a stop request by nobody known, keeping
    # the words as its reason: a cancellation would claim a pipeline update or deletion that
    # the event does not show.
    return cause(Cause.STOP_REQUESTED, by=None, reason=reason)


def _v1_stop_cause(reason: str, by: str, *, held_at: str | None) -> dict[str, Any]:
    """`held_at`: the stage whose transition the execution waited at when it stopped, if any."""
    found = _V1_EXPIRED.fullmatch(reason)
    if found and found.group(1) == held_at:
        return cause(Cause.TRANSITION_EXPIRED, stage=held_at, by=by, disabled_since=None)
    return cause(Cause.STOPPED_BY_REQUEST, by=by, reason=reason)


def _v1_expired_stage(reason: str) -> str | None:
    found = _V1_EXPIRED.fullmatch(reason)
    return found.group(1) if found else None


def _v1_known_cancel_cause(reason: str, by: str | None) -> dict[str, Any] | None:
    found = _V1_UPDATED.fullmatch(reason)
    if found:
        return cause(Cause.PIPELINE_UPDATED, version=int(found.group(1)), by=by)
    if reason == _V1_DELETED:
        return cause(Cause.PIPELINE_DELETED, by=by)
    return None


def _v1_cancel_cause(reason: str, by: str) -> dict[str, Any]:
    # The old engine cancelled only for these two wordings. Otherwise claim the weaker fact, an
    # update to an unknown version: a deletion is the more specific (and final) claim.
    known = _v1_known_cancel_cause(reason, by)
    return known or cause(Cause.PIPELINE_UPDATED, version=None, by=by)


class PipelineExecution(CopyOnWrite, Aggregate):
    """One run of a pipeline version; all of its stage and action attempts are its events."""

    class Event(Aggregate.Event):
        pass

    # v2: an ending's outcome carries its cause. A v1 snapshot's outcome gets one from its prose.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        outcome = state.get("outcome")
        if not outcome or "cause" in outcome:
            return
        if outcome["status"] == STOPPED:
            # The expired-transition stop ended while waiting; its outcome names that stage.
            held_at = outcome.get("stage") if outcome.get("while_waiting") else None
            why = _v1_stop_cause(outcome["reason"], outcome["by"], held_at=held_at)
        elif outcome["status"] == CANCELLED:
            why = _v1_cancel_cause(outcome["reason"], outcome["by"])
        else:
            return
        state["outcome"] = {**outcome, "cause": why}

    class ExecutionStarted(Aggregate.Created):
        pipeline_id: str
        pipeline_name: str
        pipeline_version: int
        execution_mode: str
        pipeline_type: str
        trigger: dict[str, Any]
        variables: dict[str, str]
        by: str
        # v2: StartPipelineExecution's clientRequestToken and sourceRevisions, if given.
        client_request_token: str | None
        revision_overrides: list[dict[str, str]]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["client_request_token"] = None
            state["revision_overrides"] = []

    def __init__(
        self,
        pipeline_id: str,
        pipeline_name: str,
        pipeline_version: int,
        execution_mode: str,
        pipeline_type: str,
        trigger: dict[str, Any],
        variables: dict[str, str],
        by: str,
        client_request_token: str | None = None,
        revision_overrides: list[dict[str, str]] | None = None,
        **_: Any,
    ) -> None:
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.pipeline_version = pipeline_version
        self.execution_mode = execution_mode
        self.pipeline_type = pipeline_type
        self.trigger = dict(trigger)
        self.variables = dict(variables)
        self.started_by = by
        self.status: str = IN_PROGRESS
        self.status_summary: str | None = None
        self.attempt = 1
        self.stages: dict[str, StageState] = {}
        self.stage: str | None = None
        self.waiting: Held | None = None
        self.actions: dict[str, ActionRun] = {}
        self.latest: dict[str, str] = {}
        self.artifacts: dict[str, str] = {}
        self.namespaces: dict[str, dict[str, str]] = {}
        self.source_revisions: list[dict[str, Any]] = []
        self.stop: StopRequest | None = None
        self.outcome: Outcome | None = None
        self.retry_in_stage: str | None = None
        self.client_request_token = client_request_token
        self.revision_overrides = [dict(o) for o in revision_overrides or []]

    @classmethod
    def start(
        cls,
        *,
        execution_id: UUID,
        pipeline_id: UUID,
        pipeline_name: str,
        pipeline_version: int,
        execution_mode: str,
        pipeline_type: str,
        trigger_type: str,
        trigger_detail: str,
        variables: dict[str, str],
        by: str,
        now: datetime,
        client_request_token: str | None = None,
        revision_overrides: Sequence[Mapping[str, str]] = (),
    ) -> PipelineExecution:
        return cls._create(
            cls.ExecutionStarted,
            id=execution_id,
            pipeline_id=str(pipeline_id),
            pipeline_name=pipeline_name,
            pipeline_version=pipeline_version,
            execution_mode=execution_mode,
            pipeline_type=pipeline_type,
            trigger={"triggerType": str(trigger_type), "triggerDetail": trigger_detail},
            variables=variables,
            by=by,
            client_request_token=client_request_token,
            revision_overrides=[dict(o) for o in revision_overrides],
            timestamp=now,
        )

    # ----- reading -------------------------------------------------------------------------

    @property
    def execution_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def started_at(self) -> datetime:
        created: datetime = self.created_on
        return created

    def revision_override(self, action: str) -> dict[str, str] | None:
        """The revision StartPipelineExecution asked this source action to run, if any."""
        # Executions snapshotted before overrides existed lack the attribute.
        for override in vars(self).get("revision_overrides") or []:
            if override["actionName"] == action:
                return dict(override)
        return None

    def run(self, action_execution_id: str) -> ActionRun:
        return self.actions[action_execution_id]

    def latest_run(self, stage: str, action: str) -> ActionRun | None:
        found = self.latest.get(action_key(stage, action))
        return self.actions[found] if found else None

    def in_progress_runs(self, stage: str | None = None) -> list[ActionRun]:
        return [
            run
            for key, aeid in self.latest.items()
            if (run := self.actions[aeid])["status"] == IN_PROGRESS
            and (stage is None or key.startswith(stage + "/"))
        ]

    def stage_status(self, stage: str) -> str | None:
        found = self.stages.get(stage)
        return str(found["status"]) if found else None

    def scopes(self) -> dict[str, dict[str, str]]:
        """Variable scopes visible to the next action: built-ins, pipeline variables, outputs."""
        return {
            "codepipeline": {
                "PipelineExecutionId": self.execution_id,
                "PipelineName": self.pipeline_name,
            },
            "variables": dict(self.variables),
            **{ns: dict(values) for ns, values in self.namespaces.items()},
        }

    # ----- commands (each records one event) ------------------------------------------------

    def enter_stage(self, stage: str, now: datetime) -> None:
        self.trigger_event(self.StageEntered, stage=stage, timestamp=now)

    def wait_at(self, stage: str, *, reason: str, holder: str | None, now: datetime) -> None:
        self.trigger_event(
            self.ExecutionHeld, stage=stage, reason=reason, holder=holder, timestamp=now
        )

    def start_action(
        self,
        *,
        action_execution_id: str,
        stage: str,
        action: str,
        action_type: dict[str, str],
        configuration: dict[str, str],
        resolved_configuration: dict[str, str],
        input_artifacts: dict[str, str],
        namespace: str | None,
        deadline: datetime,
        now: datetime,
    ) -> None:
        # Attempts count every run of the action in this execution: a stage retry forgets the
        # latest run (`StageRetried`), so the count, not the latest's number, is the source.
        earlier = sum(
            1 for r in self.actions.values() if (r["stage"], r["action"]) == (stage, action)
        )
        self.trigger_event(
            self.ActionStarted,
            action_execution_id=action_execution_id,
            stage=stage,
            action=action,
            attempt=earlier + 1,
            action_type=action_type,
            configuration=configuration,
            resolved_configuration=resolved_configuration,
            input_artifacts=input_artifacts,
            namespace=namespace,
            deadline=deadline,
            timestamp=now,
        )

    def request_approval(
        self, action_execution_id: str, *, token: str, expires_at: datetime, now: datetime
    ) -> None:
        self.trigger_event(
            self.ApprovalRequested,
            action_execution_id=action_execution_id,
            token=token,
            expires_at=expires_at,
            timestamp=now,
        )

    def succeed_action(
        self,
        action_execution_id: str,
        *,
        summary: str | None,
        output_artifacts: dict[str, str],
        output_variables: dict[str, str],
        revision: dict[str, Any] | None,
        external_execution_id: str | None,
        external_execution_url: str | None,
        now: datetime,
    ) -> None:
        self.trigger_event(
            self.ActionSucceeded,
            action_execution_id=action_execution_id,
            summary=summary,
            output_artifacts=output_artifacts,
            output_variables=output_variables,
            revision=revision,
            external_execution_id=external_execution_id,
            external_execution_url=external_execution_url,
            timestamp=now,
        )

    def fail_action(
        self,
        action_execution_id: str,
        *,
        code: str,
        message: str,
        summary: str | None = None,
        external_execution_id: str | None = None,
        why: dict[str, Any] | None = None,
        now: datetime,
    ) -> None:
        """The action failed; by default because its provider or job worker said so."""
        self.trigger_event(
            self.ActionFailed,
            action_execution_id=action_execution_id,
            error_code=code,
            error_message=message,
            summary=summary,
            external_execution_id=external_execution_id,
            cause=why or cause(Cause.ACTION_REPORTED_FAILURE),
            timestamp=now,
        )

    def time_out_action(self, action_execution_id: str, now: datetime) -> None:
        """The planner's TimeOutAction: the action's or approval's deadline has passed."""
        run = self.run(action_execution_id)
        deadline = run["deadline"].isoformat()
        what = "approval" if run["token"] else "action"
        self.fail_action(
            action_execution_id,
            code="TimedOut",
            message=f"the {what} did not finish before its timeout ({deadline})",
            why=cause(Cause.TIMED_OUT, deadline=deadline),
            now=now,
        )

    def lose_worker(self, action_execution_id: str, *, attempts: int, now: datetime) -> None:
        """Every worker that claimed the action's job was lost (its lease lapsed)."""
        self.fail_action(
            action_execution_id,
            code="JobFailed",
            message=f"worker lost: {attempts} claims of this action's job lapsed",
            why=cause(Cause.WORKER_LOST, attempts=attempts),
            now=now,
        )

    def fail_configuration(self, action_execution_id: str, message: str, now: datetime) -> None:
        """A variable in the action's configuration did not resolve when it started."""
        self.fail_action(
            action_execution_id,
            code="ConfigurationError",
            message=message,
            why=cause(Cause.CONFIGURATION_ERROR),
            now=now,
        )

    def abandon_action(
        self, action_execution_id: str, *, reason: str, why: dict[str, Any], now: datetime
    ) -> None:
        self.trigger_event(
            self.ActionAbandoned,
            action_execution_id=action_execution_id,
            reason=reason,
            cause=why,
            timestamp=now,
        )

    def abandon_for_stop(self, action_execution_id: str, now: datetime) -> None:
        """The planner's AbandonAction: `stop --abandon` was requested."""
        stop = self.stop
        by, reason = (stop["by"], stop["reason"]) if stop else (None, "")
        self.abandon_action(
            action_execution_id,
            reason=_stop_prose(by, reason),
            why=cause(Cause.STOP_REQUESTED, by=by, reason=reason),
            now=now,
        )

    @staticmethod
    def check_approval_answer(status: str, summary: str) -> None:
        if status not in tuple(ApprovalStatus):
            raise ValidationException(f"result.status: '{status}' is not Approved or Rejected")
        if len(summary) > 512:
            raise ValidationException("result.summary: at most 512 characters")

    def answer_approval(
        self, action_execution_id: str, *, status: str, by: str, summary: str, now: datetime
    ) -> None:
        """PutApprovalResult: only a waiting approval (in progress, with a token) is answered."""
        self.check_approval_answer(status, summary)
        run = self.actions.get(action_execution_id)
        if run is None or run["status"] != IN_PROGRESS or not run["token"]:
            raise InvalidApprovalTokenException(
                f"the approval {action_execution_id} is not waiting for an answer"
            )
        if status == ApprovalStatus.APPROVED:
            self.grant_approval(action_execution_id, by=by, summary=summary, now=now)
        else:
            self.reject_approval(action_execution_id, by=by, summary=summary, now=now)

    def grant_approval(
        self, action_execution_id: str, *, by: str, summary: str, now: datetime
    ) -> None:
        self.trigger_event(
            self.ApprovalGranted,
            action_execution_id=action_execution_id,
            by=by,
            summary=summary,
            timestamp=now,
        )

    def reject_approval(
        self, action_execution_id: str, *, by: str, summary: str, now: datetime
    ) -> None:
        self.trigger_event(
            self.ApprovalRejected,
            action_execution_id=action_execution_id,
            by=by,
            summary=summary,
            timestamp=now,
        )

    def succeed_stage(self, stage: str, now: datetime) -> None:
        self.trigger_event(self.StageSucceeded, stage=stage, timestamp=now)

    def fail_stage(self, stage: str, *, summary: str, now: datetime) -> None:
        self.trigger_event(self.StageFailed, stage=stage, summary=summary, timestamp=now)

    def retry_stage(
        self,
        stage: str,
        *,
        retry_mode: str,
        trigger: str,
        by: str,
        reset: list[str],
        now: datetime,
    ) -> None:
        self.trigger_event(
            self.StageRetried,
            stage=stage,
            retry_mode=str(retry_mode),
            trigger=str(trigger),
            by=by,
            reset=reset,
            timestamp=now,
        )

    @staticmethod
    def check_retry_mode(retry_mode: str) -> None:
        if retry_mode not in tuple(RetryMode):
            raise ValidationException(
                f"retryMode: '{retry_mode}' is not one of FAILED_ACTIONS, ALL_ACTIONS"
            )

    def retry(
        self,
        stage: str,
        *,
        retry_mode: str,
        declared: Sequence[str],
        pipeline_version: int,
        gate: Mapping[str, Any],
        by: str,
        now: datetime,
    ) -> None:
        """RetryStageExecution: a person retries the stage this execution failed or stopped in.

        `declared` are the stage's actions in this execution's version; `pipeline_version` and
        `gate` (the stage's lock) come from the pipeline, which must not have moved on.
        """
        self.check_retry_mode(retry_mode)
        latest = self._latest_runs(stage, declared)
        self._check_retryable(stage, latest, pipeline_version)
        self._check_latest_at(stage, gate)
        reset = self._retry_reset(stage, retry_mode, latest)
        self.retry_stage(
            stage, retry_mode=retry_mode, trigger=RetryTrigger.MANUAL, by=by, reset=reset, now=now
        )

    def retry_automatically(
        self, stage: str, *, retry_mode: str, declared: Sequence[str], now: datetime
    ) -> None:
        """The planner's RetryStage: the stage's on-failure rule retries it, as a person would."""
        reset = self._retry_reset(stage, retry_mode, self._latest_runs(stage, declared))
        self.retry_stage(
            stage,
            retry_mode=retry_mode,
            trigger=RetryTrigger.AUTOMATED,
            by="conveyor",
            reset=reset,
            now=now,
        )

    def fail_in_stage(self, stage: str, *, declared: Sequence[str], now: datetime) -> None:
        """The planner's FailStage: the stage and the execution fail with its first failure."""
        failed = [run for run in self._latest_runs(stage, declared) if run["status"] == FAILED]
        first = failed[0]
        error = first["error"] or {"code": "JobFailed", "message": "failed"}
        summary = f"action {first['action']} failed in stage {stage}: {error['message']}"
        self.fail_stage(stage, summary=summary, now=now)
        self.fail(stage=stage, summary=summary, error={**error, "action": first["action"]}, now=now)

    def _latest_runs(self, stage: str, declared: Sequence[str]) -> list[ActionRun]:
        """The latest attempt of each declared action of the stage that has run, in order."""
        return [run for name in declared if (run := self.latest_run(stage, name))]

    def _check_retryable(self, stage: str, latest: list[ActionRun], pipeline_version: int) -> None:
        eid = self.execution_id
        if self.stage != stage or self.stage_status(stage) is None:
            raise StageNotRetryableException(
                f"stage {stage} is not where execution {eid} stopped or failed"
            )
        if self.outcome is not None and self.outcome.get("while_waiting"):
            raise StageNotRetryableException(
                f"execution {eid} was stopped while waiting to enter {stage}; it has no "
                "actions there to retry"
            )
        failed_now = self.status == IN_PROGRESS and any(run["status"] == FAILED for run in latest)
        if self.status not in (FAILED, STOPPED) and not failed_now:
            raise StageNotRetryableException(
                f"execution {eid} is {self.status}; only a failed or stopped stage can be retried"
            )
        if self.pipeline_version != pipeline_version:
            raise StageNotRetryableException(
                f"the pipeline structure changed after the stage failed (execution ran version "
                f"{self.pipeline_version}, the pipeline is at {pipeline_version})"
            )

    def _check_latest_at(self, stage: str, gate: Mapping[str, Any]) -> None:
        eid = self.execution_id
        if self.execution_mode == ExecutionMode.PARALLEL:
            return
        if gate["latest"] != eid or gate["occupant"] not in (None, eid):
            raise NotLatestPipelineExecutionException(
                f"stage {stage} has run a later execution "
                f"({gate['occupant'] or gate['latest']}) since execution {eid} "
                "stopped there; it can no longer be retried"
            )

    def _retry_reset(self, stage: str, retry_mode: str, latest: list[ActionRun]) -> list[str]:
        if retry_mode == RetryMode.ALL_ACTIONS:
            if self.in_progress_runs(stage):
                raise StageNotRetryableException(
                    f"stage {stage} still has actions in progress; ALL_ACTIONS needs them finished"
                )
            return [run["action"] for run in latest]
        reset = [run["action"] for run in latest if run["status"] in (FAILED, ABANDONED)]
        if not reset and self.stage_status(stage) != STOPPED:
            raise StageNotRetryableException(f"stage {stage} has no failed actions to retry")
        return reset

    def succeed(self, now: datetime) -> None:
        self.trigger_event(self.ExecutionSucceeded, timestamp=now)

    def fail(
        self, *, stage: str, summary: str, error: dict[str, Any] | None, now: datetime
    ) -> None:
        self.trigger_event(
            self.ExecutionFailed, stage=stage, summary=summary, error=error, timestamp=now
        )

    @staticmethod
    def check_stop_reason(reason: str) -> None:
        if len(reason) > 200:
            raise ValidationException("reason: at most 200 characters [stop.reason]")

    def request_stop(self, *, abandon: bool, reason: str, by: str, now: datetime) -> None:
        """StopPipelineExecution: only an active execution; abandoning may follow a plain stop."""
        self.check_stop_reason(reason)
        eid = self.execution_id
        if self.status == STOPPING:
            if not abandon or (self.stop is not None and self.stop["abandon"]):
                raise DuplicatedStopRequestException(
                    f"execution {eid} is already stopping" + (" (abandoning)" if abandon else "")
                )
        elif self.status not in ACTIVE_STATUSES:
            raise PipelineExecutionNotStoppableException(
                f"execution {eid} is {self.status}; only an execution in progress can be stopped"
            )
        self.trigger_event(
            self.ExecutionStopRequested, abandon=abandon, reason=reason, by=by, timestamp=now
        )

    def stopped(
        self, *, stage: str | None, reason: str, by: str, why: dict[str, Any], now: datetime
    ) -> None:
        self.trigger_event(
            self.ExecutionStopped, stage=stage, reason=reason, by=by, cause=why, timestamp=now
        )

    def stop_as_requested(self, stage: str | None, now: datetime) -> None:
        """The planner's StopExecution: what was running has finished or been abandoned."""
        stop = self.stop
        by, reason = (stop["by"], stop["reason"]) if stop else ("", "")
        self.stopped(
            stage=stage,
            reason=reason,
            by=by,
            why=cause(Cause.STOPPED_BY_REQUEST, by=by, reason=reason),
            now=now,
        )

    def expire_at_transition(
        self, stage: str, *, by: str, disabled_since: str | None, now: datetime
    ) -> None:
        """Its transition was re-enabled after more than 30 days: it never enters the stage."""
        self.stopped(
            stage=None,
            reason=_expired_prose(stage),
            by=by,
            why=cause(Cause.TRANSITION_EXPIRED, stage=stage, by=by, disabled_since=disabled_since),
            now=now,
        )

    def supersede(self, *, by_execution_id: str, stage: str, now: datetime) -> None:
        self.trigger_event(
            self.ExecutionSuperseded,
            superseded_by=by_execution_id,
            stage=stage,
            timestamp=now,
        )

    def cancel(self, *, why: dict[str, Any], by: str, abandon_actions: bool, now: datetime) -> None:
        """The pipeline was updated or deleted (`why`) while this execution was in flight."""
        reason = _cancel_prose(why)
        if abandon_actions:
            for run in self.in_progress_runs():
                self.abandon_action(
                    run["id"],
                    reason=reason,
                    why=cause(Cause.EXECUTION_CANCELLED, cancelled=why),
                    now=now,
                )
        self.trigger_event(self.ExecutionCancelled, reason=reason, by=by, cause=why, timestamp=now)

    # ----- events ---------------------------------------------------------------------------

    def _set_stage(self, stage: str, **changes: Any) -> None:
        current: StageState = self.stages.get(stage) or {
            "status": IN_PROGRESS,
            "entered_at": None,
            "ended_at": None,
            "manual_retries": 0,
            "auto_retries": 0,
            "retry_trigger": None,
        }
        self.stages = {**self.stages, stage: cast(StageState, {**current, **changes})}

    def _set_run(self, action_execution_id: str, **changes: Any) -> None:
        run = cast(ActionRun, {**self.actions[action_execution_id], **changes})
        self.actions = {**self.actions, action_execution_id: run}

    def _end_run(self, action_execution_id: str, at: datetime, **changes: Any) -> None:
        self._set_run(action_execution_id, updated_at=at, ended_at=at, **changes)

    def _end(self, status: str, at: datetime, **outcome: Any) -> None:
        self.status = status
        self.waiting = None
        self.outcome = cast(Outcome, {"status": status, "at": at, **outcome})

    class StageEntered(Event):
        stage: str

        def apply(self, aggregate: Any) -> None:
            aggregate.stage = self.stage
            aggregate.waiting = None
            aggregate._set_stage(
                self.stage, status=IN_PROGRESS, entered_at=self.timestamp, ended_at=None
            )

    class ExecutionHeld(Event):
        """The execution waits in front of a stage (a closed transition, a lock, a queue)."""

        stage: str
        reason: str
        holder: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.waiting = {
                "stage": self.stage,
                "reason": self.reason,
                "holder": self.holder,
                "since": self.timestamp,
            }

    class ActionStarted(Event):
        action_execution_id: str
        stage: str
        action: str
        attempt: int
        action_type: dict[str, str]
        configuration: dict[str, str]
        resolved_configuration: dict[str, str]
        input_artifacts: dict[str, str]
        namespace: str | None
        deadline: datetime

        def apply(self, aggregate: Any) -> None:
            run = {
                "id": self.action_execution_id,
                "stage": self.stage,
                "action": self.action,
                "attempt": self.attempt,
                "status": IN_PROGRESS,
                "action_type": dict(self.action_type),
                "configuration": dict(self.configuration),
                "resolved_configuration": dict(self.resolved_configuration),
                "input_artifacts": dict(self.input_artifacts),
                "output_artifacts": {},
                "output_variables": {},
                "namespace": self.namespace,
                "started_at": self.timestamp,
                "updated_at": self.timestamp,
                "ended_at": None,
                "deadline": self.deadline,
                "summary": None,
                "error": None,
                "token": None,
                "expires_at": None,
                "updated_by": None,
                "external_execution_id": None,
                "external_execution_url": None,
                "revision": None,
            }
            aggregate.actions = {**aggregate.actions, self.action_execution_id: run}
            key = action_key(self.stage, self.action)
            aggregate.latest = {**aggregate.latest, key: self.action_execution_id}

    class ApprovalRequested(Event):
        action_execution_id: str
        token: str
        expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                token=self.token,
                expires_at=self.expires_at,
                deadline=self.expires_at,
            )

    class ActionSucceeded(Event):
        action_execution_id: str
        summary: str | None
        output_artifacts: dict[str, str]
        output_variables: dict[str, str]
        revision: dict[str, Any] | None
        external_execution_id: str | None
        external_execution_url: str | None

        def apply(self, aggregate: Any) -> None:
            run = aggregate.actions[self.action_execution_id]
            # Ended now: its last status change is the end, as with a failure.
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                status=SUCCEEDED,
                summary=self.summary,
                output_artifacts=dict(self.output_artifacts),
                output_variables=dict(self.output_variables),
                revision=dict(self.revision) if self.revision else None,
                external_execution_id=self.external_execution_id,
                external_execution_url=self.external_execution_url,
            )
            # A retry overrides the outputs of earlier attempts in the same execution.
            aggregate.artifacts = {**aggregate.artifacts, **self.output_artifacts}
            if run["namespace"]:
                aggregate.namespaces = {
                    **aggregate.namespaces,
                    run["namespace"]: dict(self.output_variables),
                }
            if self.revision:
                revisions = [
                    r for r in aggregate.source_revisions if r["actionName"] != run["action"]
                ]
                aggregate.source_revisions = [
                    *revisions,
                    {"actionName": run["action"], **self.revision},
                ]

    class ActionFailed(Event):
        action_execution_id: str
        error_code: str
        error_message: str
        summary: str | None
        external_execution_id: str | None
        cause: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["cause"] = _v1_failure_cause(state["error_code"], state["error_message"])

        def apply(self, aggregate: Any) -> None:
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                status=FAILED,
                error={"code": self.error_code, "message": self.error_message},
                summary=self.summary,
                external_execution_id=self.external_execution_id,
            )

    class ActionAbandoned(Event):
        action_execution_id: str
        reason: str
        cause: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["cause"] = _v1_abandon_cause(state["reason"])

        def apply(self, aggregate: Any) -> None:
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                status=ABANDONED,
                summary=self.reason,
            )

    class ApprovalGranted(Event):
        action_execution_id: str
        by: str
        summary: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                status=SUCCEEDED,
                summary=self.summary,
                updated_by=self.by,
            )

    class ApprovalRejected(Event):
        action_execution_id: str
        by: str
        summary: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end_run(
                self.action_execution_id,
                self.timestamp,
                status=FAILED,
                summary=self.summary,
                updated_by=self.by,
                error={
                    "code": "ApprovalRejected",
                    "message": f"rejected by {self.by}: {self.summary}",
                },
            )

    class StageSucceeded(Event):
        stage: str

        def apply(self, aggregate: Any) -> None:
            aggregate._set_stage(self.stage, status=SUCCEEDED, ended_at=self.timestamp)

    class StageFailed(Event):
        stage: str
        summary: str

        def apply(self, aggregate: Any) -> None:
            aggregate._set_stage(self.stage, status=FAILED, ended_at=self.timestamp)
            aggregate.retry_in_stage = None

    class StageRetried(Event):
        stage: str
        retry_mode: str
        trigger: str
        by: str
        reset: list[str]

        def apply(self, aggregate: Any) -> None:
            counter = "auto_retries" if self.trigger == RetryTrigger.AUTOMATED else "manual_retries"
            previous = aggregate.stages[self.stage]
            aggregate._set_stage(
                self.stage,
                status=IN_PROGRESS,
                ended_at=None,
                retry_trigger=self.trigger,
                **{counter: previous[counter] + 1},
            )
            gone = {action_key(self.stage, action) for action in self.reset}
            aggregate.latest = {k: v for k, v in aggregate.latest.items() if k not in gone}
            aggregate.stage = self.stage
            aggregate.status = IN_PROGRESS
            aggregate.stop = None
            aggregate.outcome = None
            aggregate.attempt += 1

    class ExecutionSucceeded(Event):
        def apply(self, aggregate: Any) -> None:
            aggregate._end(SUCCEEDED, self.timestamp)
            aggregate.status_summary = None

    class ExecutionFailed(Event):
        stage: str
        summary: str
        error: dict[str, Any] | None

        def apply(self, aggregate: Any) -> None:
            aggregate._end(
                FAILED,
                self.timestamp,
                stage=self.stage,
                reason=self.summary,
                error=dict(self.error) if self.error else None,
            )
            aggregate.status_summary = self.summary

    class ExecutionStopRequested(Event):
        """Someone asked to stop it; it is Stopping until what runs has finished or been dropped."""

        abandon: bool
        reason: str
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = STOPPING
            aggregate.stop = {
                "abandon": self.abandon,
                "reason": self.reason,
                "by": self.by,
                "at": self.timestamp,
            }
            aggregate.status_summary = self.reason or None

    class ExecutionStopped(Event):
        stage: str | None
        reason: str
        by: str
        cause: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # The engine's 30-day stop never entered a stage (stage None); a person's stop
            # with the same words in a stage is still a person's stop.
            held_at = None if state["stage"] else _v1_expired_stage(state["reason"])
            state["cause"] = _v1_stop_cause(state["reason"], state["by"], held_at=held_at)

        def apply(self, aggregate: Any) -> None:
            waiting = aggregate.waiting
            if self.stage:
                aggregate._set_stage(self.stage, status=STOPPED, ended_at=self.timestamp)
            aggregate._end(
                STOPPED,
                self.timestamp,
                stage=self.stage or (waiting or {}).get("stage"),
                reason=self.reason,
                by=self.by,
                while_waiting=waiting is not None,
                cause=self.cause,
            )
            aggregate.status_summary = self.reason or None

    class ExecutionSuperseded(Event):
        superseded_by: str
        stage: str

        def apply(self, aggregate: Any) -> None:
            aggregate._end(
                SUPERSEDED, self.timestamp, stage=self.stage, superseded_by=self.superseded_by
            )
            aggregate.status_summary = f"superseded by {self.superseded_by}"

    class ExecutionCancelled(Event):
        reason: str
        by: str
        cause: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["cause"] = _v1_cancel_cause(state["reason"], state["by"])

        def apply(self, aggregate: Any) -> None:
            stage = aggregate.stage
            if stage and aggregate.stages.get(stage, {}).get("status") in (IN_PROGRESS, STOPPING):
                aggregate._set_stage(stage, status=CANCELLED, ended_at=self.timestamp)
            aggregate._end(
                CANCELLED,
                self.timestamp,
                stage=stage,
                reason=self.reason,
                by=self.by,
                cause=self.cause,
            )
            aggregate.status_summary = self.reason


# The events' names before they were put in the past tense: stores written then still load.
register_topic(
    "domain.execution:PipelineExecution.ExecutionWaiting", PipelineExecution.ExecutionHeld
)
register_topic(
    "domain.execution:PipelineExecution.ExecutionStopping", PipelineExecution.ExecutionStopRequested
)
