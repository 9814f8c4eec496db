"""The Pipeline aggregate: versioned definitions, transitions, revisions and the stage gates."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import (
    ActionNotFoundException,
    ConcurrentPipelineExecutionsLimitExceededException,
    PipelineExecutionNotFoundException,
    PipelineVersionNotFoundException,
    StageNotFoundException,
    ValidationException,
)
from domain.state import CopyOnWrite
from domain.tags import check_tag_keys, check_tags, merged_tags
from domain.variables import execution_variables
from domain.vocabulary import ActionCategory, ExecutionMode, PipelineType

if TYPE_CHECKING:  # the definition models (pydantic) load when a declaration is first parsed
    from domain.definition import PipelineDeclaration

# Parsed definitions, memoised outside the aggregate so that its own state stays plain JSON (which
# snapshots transcode). Each entry keeps its document: a hit must be equal, not just same-keyed,
# because deterministic ids in tests and simulations reuse aggregate ids across stores.
_DECLARATIONS: dict[tuple[str, int], tuple[dict[str, Any], PipelineDeclaration]] = {}

# CodePipeline: a re-enabled transition does not resume executions after 30 days of being disabled.
STALE_TRANSITION_DAYS = 30

# Ended executions the aggregate still names, newest last: enough to explain a refused approval
# token (domain/approvals.py) and to show the newest PARALLEL execution at each stage.
ENDED_KEPT = 100

TRANSITION_REASON = re.compile(r"[a-zA-Z0-9!@ \(\)\.\*\?\-]+")


def check_transition_reason(reason: str) -> None:
    """DisableStageTransition's reason: required, 1..300 characters of CodePipeline's set."""
    if not reason or len(reason) > 300 or not TRANSITION_REASON.fullmatch(reason):
        raise ValidationException(
            "reason: required, 1..300 characters of letters, digits, spaces and !@().*?-"
            " [transition.reason]"
        )


class Gate(TypedDict):
    """Who holds a stage (`occupant`), who waits in front of it, who entered it last."""

    occupant: str | None
    waiting: list[str]
    latest: str | None


class TransitionState(TypedDict):
    """A stage's inbound transition; `at` is ISO (when it was first closed, if closed)."""

    enabled: bool
    by: str
    at: str
    reason: str | None


def _gate() -> Gate:
    return {"occupant": None, "waiting": [], "latest": None}


def bounded(recent: list[str], active: list[str]) -> list[str]:
    """`recent` without the ended executions older than the newest ENDED_KEPT, order kept."""
    live = set(active)
    ended = [e for e in recent if e not in live]
    if len(ended) <= ENDED_KEPT:
        return recent
    gone = set(ended[: len(ended) - ENDED_KEPT])
    return [e for e in recent if e not in gone]


class Pipeline(CopyOnWrite, Aggregate):
    """A named pipeline: its definition versions, transition switches and who holds each stage."""

    class Event(Aggregate.Event):
        pass

    # v2: `executions` (every execution ever started) became `recent` (bounded, see __init__).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["recent"] = bounded(list(state.pop("executions", [])), list(state["active"]))

    class PipelineCreated(Aggregate.Created):
        name: str
        definition: dict[str, Any]
        by: str

    def __init__(self, name: str, definition: dict[str, Any], by: str, **_: Any) -> None:
        self.name = name
        self.definitions: list[dict[str, Any]] = [definition]
        self.created_by = by
        self.deleted = False
        # TagResource's tags, and clientRequestToken → execution id (see RequestTokenRecorded).
        self.tags: dict[str, str] = {}
        self.request_tokens: dict[str, str] = {}
        self.transitions: dict[str, TransitionState] = {}
        self.gates: dict[str, Gate] = {}
        # Non-terminal executions in the order they started (or resumed).
        self.active: list[str] = []
        # The active executions and the ENDED_KEPT that ended last, in the order they started.
        # Not every execution: the aggregate is loaded by every command, so its state must not
        # grow with the pipeline's age. Listings and id lookups read the history view.
        self.recent: list[str] = []
        self.revisions: dict[str, str] = {}
        # When the definition last changed (CodePipeline's `updated`): executions leave it be.
        self.definition_changed_on: datetime = self.created_on

    @classmethod
    def create(
        cls, *, pipeline_id: UUID, declaration: PipelineDeclaration, by: str, now: datetime
    ) -> Pipeline:
        document = declaration.to_document()
        document["version"] = 1
        return cls._create(
            cls.PipelineCreated,
            id=pipeline_id,
            name=declaration.name,
            definition=document,
            by=by,
            timestamp=now,
        )

    # ----- reading -------------------------------------------------------------------------

    @property
    def pipeline_version(self) -> int:
        return len(self.definitions)

    @property
    def definition_updated_on(self) -> datetime:
        """When the definition was created or last updated."""
        # A snapshot taken before the attribute existed lacks it; for a pipeline never updated
        # the creation is exact, otherwise the last change of any kind is the best known.
        if "definition_changed_on" in self.__dict__:
            return cast(datetime, self.__dict__["definition_changed_on"])
        return self.created_on if self.pipeline_version == 1 else self.modified_on

    @property
    def document(self) -> dict[str, Any]:
        return self.definitions[-1]

    def declaration(self, version: int | None = None) -> PipelineDeclaration:
        version = self.pipeline_version if version is None else version
        if not 1 <= version <= self.pipeline_version:
            raise PipelineVersionNotFoundException(
                f"pipeline '{self.name}' has no version {version} (latest is "
                f"{self.pipeline_version})"
            )
        key = (str(self.id), version)
        document = self.definitions[version - 1]
        found = _DECLARATIONS.get(key)
        if found is None or found[0] != document:
            from domain.definition import PipelineDeclaration

            found = (document, PipelineDeclaration.from_document(document))
            _DECLARATIONS[key] = found
        return found[1]

    @property
    def execution_mode(self) -> str:
        return str(self.document.get("executionMode", ExecutionMode.SUPERSEDED))

    @property
    def pipeline_type(self) -> str:
        return str(self.document.get("pipelineType", PipelineType.V1))

    def stage_names(self) -> list[str]:
        return [stage["name"] for stage in self.document["stages"]]

    def require_stage(self, stage: str) -> None:
        if stage not in self.stage_names():
            raise StageNotFoundException(
                f"pipeline '{self.name}' has no stage '{stage}'; its stages are "
                + ", ".join(self.stage_names())
            )

    def gate(self, stage: str) -> Gate:
        return self.gates.get(stage) or _gate()

    def disabled_since(self, stage: str) -> str | None:
        """When the stage's inbound transition was first closed (ISO), or None if it is open."""
        state = self.transitions.get(stage)
        return None if state is None or state["enabled"] else state["at"]

    def transition_enabled(self, stage: str) -> bool:
        state = self.transitions.get(stage)
        return state is None or state["enabled"]

    def is_new_revision(self, revision_id: str) -> bool:
        return revision_id not in self.revisions

    def action_names(self, stage: str, version: int) -> list[str]:
        """The actions of a stage as declared in one version of the definition."""
        found = self.declaration(version).stage(stage)
        return [action.name for action in found.actions] if found else []

    # ----- rules checked before a command records anything ----------------------------------

    def execution_variables(self, overrides: Mapping[str, str]) -> dict[str, str]:
        """The variables a new execution starts with; refuses bad overrides."""
        declared = {v.name: v.default_value for v in self.declaration().variables}
        return execution_variables(declared, overrides)

    def require_room(self, mode: str, cap: int, *, resuming: bool = False) -> None:
        """The concurrency cap: QUEUED and PARALLEL pipelines run at most `cap` executions."""
        if mode not in (ExecutionMode.QUEUED, ExecutionMode.PARALLEL) or len(self.active) < cap:
            return
        if resuming:
            raise ConcurrentPipelineExecutionsLimitExceededException(
                f"pipeline '{self.name}' already has {cap} executions in progress"
            )
        raise ConcurrentPipelineExecutionsLimitExceededException(
            f"pipeline '{self.name}' has {len(self.active)} executions in "
            f"progress, the limit for {mode} mode is {cap}"
        )

    def require_own_execution(self, execution_id: str, pipeline_id: str) -> None:
        """An execution of a deleted pipeline of the same name is not this pipeline's."""
        if pipeline_id != str(self.id):
            raise PipelineExecutionNotFoundException(
                f"execution {execution_id} belongs to a pipeline named '{self.name}' that was "
                "deleted; it cannot be retried in the new one"
            )

    def require_approval_action(self, stage: str, action: str) -> None:
        """PutApprovalResult names a manual approval action of the current version."""
        self.require_stage(stage)
        stage_decl = self.declaration().stage(stage)
        assert stage_decl is not None
        declared = stage_decl.action(action)
        if declared is None:
            raise ActionNotFoundException(f"stage {stage} has no action '{action}'")
        if declared.category != ActionCategory.APPROVAL:
            raise ValidationException(
                f"{stage}/{action} is a {declared.category} action, not a manual approval"
            )

    # ----- commands on the definition -------------------------------------------------------

    def update(
        self, declaration: PipelineDeclaration, *, by: str, cancelled: list[str], now: datetime
    ) -> None:
        if declaration.name != self.name:
            raise ValidationException(
                f"pipeline.name: a pipeline cannot be renamed ('{self.name}' to "
                f"'{declaration.name}') [name.immutable]"
            )
        document = declaration.to_document()
        document["version"] = self.pipeline_version + 1
        self.trigger_event(
            self.PipelineUpdated, definition=document, by=by, cancelled=cancelled, timestamp=now
        )

    def delete(self, *, by: str, cancelled: list[str], now: datetime) -> None:
        self.trigger_event(self.PipelineDeleted, by=by, cancelled=cancelled, timestamp=now)

    def disable_transition(self, stage: str, *, reason: str, by: str, now: datetime) -> None:
        check_transition_reason(reason)
        self.require_stage(stage)
        if self.stage_names()[0] == stage:
            raise ValidationException(
                f"stage: '{stage}' is the first stage; it has no inbound transition"
                " [transition.first-stage]"
            )
        self.trigger_event(
            self.TransitionDisabled, stage=stage, reason=reason, by=by, timestamp=now
        )

    def enable_transition(self, stage: str, *, by: str, now: datetime) -> list[str]:
        """Enable; returns the waiting executions too stale to resume (disabled > 30 days)."""
        self.require_stage(stage)
        since_iso = self.disabled_since(stage)
        stale: list[str] = []
        if since_iso is not None:
            since = datetime.fromisoformat(since_iso)
            if (now - since).total_seconds() > STALE_TRANSITION_DAYS * 86400:
                stale = list(self.gate(stage)["waiting"])
        self.trigger_event(self.TransitionEnabled, stage=stage, by=by, timestamp=now)
        return stale

    def record_revision(
        self, *, execution_id: str, action: str, revision_id: str, now: datetime
    ) -> None:
        self.trigger_event(
            self.RevisionDetected,
            execution_id=execution_id,
            action=action,
            revision_id=revision_id,
            new=self.is_new_revision(revision_id),
            timestamp=now,
        )

    # ----- gate bookkeeping, driven by the planner's decisions ------------------------------

    def admit(
        self, new_execution_id: Callable[[], UUID], *, mode: str, cap: int, now: datetime
    ) -> UUID:
        """StartPipelineExecution's part here: refuse past the cap, else activate a new id.

        The id is taken only once there is room, so a refused start uses none up.
        """
        self.require_room(mode, cap)
        execution_id = new_execution_id()
        self.activate(str(execution_id), now)
        return execution_id

    def activate(self, execution_id: str, now: datetime) -> None:
        self.trigger_event(self.ExecutionActivated, execution_id=execution_id, timestamp=now)

    def resume(self, execution_id: str, *, mode: str, stage: str, cap: int, now: datetime) -> None:
        """A retried execution becomes active again and takes back its stage's lock."""
        if execution_id not in self.active:
            self.require_room(mode, cap, resuming=True)
            self.activate(execution_id, now)
        if mode != ExecutionMode.PARALLEL and self.gate(stage)["occupant"] != execution_id:
            self.lock(stage, execution_id, now)

    def deactivate(self, execution_id: str, now: datetime) -> None:
        if execution_id in self.active:
            self.trigger_event(self.ExecutionDeactivated, execution_id=execution_id, timestamp=now)

    def lock(self, stage: str, execution_id: str, now: datetime) -> None:
        self.trigger_event(self.StageLocked, stage=stage, execution_id=execution_id, timestamp=now)

    def unlock(self, stage: str, execution_id: str, now: datetime) -> None:
        if self.gate(stage)["occupant"] == execution_id:
            self.trigger_event(
                self.StageUnlocked, stage=stage, execution_id=execution_id, timestamp=now
            )

    def enqueue(self, stage: str, execution_id: str, now: datetime) -> None:
        self.trigger_event(
            self.ExecutionQueued, stage=stage, execution_id=execution_id, timestamp=now
        )

    def dequeue(self, stage: str, execution_id: str, now: datetime) -> None:
        if execution_id in self.gate(stage)["waiting"]:
            self.trigger_event(
                self.ExecutionDequeued, stage=stage, execution_id=execution_id, timestamp=now
            )

    # ----- events ---------------------------------------------------------------------------

    def _set_gate(self, stage: str, **changes: Any) -> None:
        gate = cast(Gate, {**self.gate(stage), **changes})
        self.gates = {**self.gates, stage: gate}

    def _forget(self, ids: list[str]) -> None:
        gone = set(ids)
        self.active = [e for e in self.active if e not in gone]
        self.recent = bounded(self.recent, self.active)
        self.gates = {
            stage: {
                "occupant": None if gate["occupant"] in gone else gate["occupant"],
                "waiting": [e for e in gate["waiting"] if e not in gone],
                "latest": gate["latest"],
            }
            for stage, gate in self.gates.items()
        }

    class PipelineUpdated(Event):
        definition: dict[str, Any]
        by: str
        cancelled: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.definitions = [*aggregate.definitions, dict(self.definition)]
            aggregate.definition_changed_on = self.timestamp
            aggregate._forget(list(self.cancelled))
            names = {stage["name"] for stage in self.definition["stages"]}
            aggregate.transitions = {k: v for k, v in aggregate.transitions.items() if k in names}

    class PipelineDeleted(Event):
        by: str
        cancelled: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True
            aggregate._forget(list(self.cancelled))

    class TransitionDisabled(Event):
        stage: str
        reason: str
        by: str

        def apply(self, aggregate: Any) -> None:
            # Disabling again (a new reason) keeps the original instant: the 30-day rule counts
            # from when the transition was first closed.
            current = aggregate.transitions.get(self.stage, {})
            since = self.timestamp.isoformat()
            if current and not current.get("enabled", True):
                since = current["at"]
            aggregate.transitions = {
                **aggregate.transitions,
                self.stage: {
                    "enabled": False,
                    "by": self.by,
                    "at": since,
                    "reason": self.reason,
                },
            }

    class TransitionEnabled(Event):
        stage: str
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.transitions = {
                **aggregate.transitions,
                self.stage: {
                    "enabled": True,
                    "by": self.by,
                    "at": self.timestamp.isoformat(),
                    "reason": None,
                },
            }

    class RevisionDetected(Event):
        execution_id: str
        action: str
        revision_id: str
        new: bool

        def apply(self, aggregate: Any) -> None:
            if self.revision_id not in aggregate.revisions:
                aggregate.revisions = {**aggregate.revisions, self.revision_id: self.execution_id}

    class ExecutionActivated(Event):
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.active = [*aggregate.active, self.execution_id]
            if self.execution_id not in aggregate.recent:
                aggregate.recent = [*aggregate.recent, self.execution_id]

    class ExecutionDeactivated(Event):
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate._forget([self.execution_id])

    class StageLocked(Event):
        stage: str
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate._set_gate(self.stage, occupant=self.execution_id, latest=self.execution_id)

    class StageUnlocked(Event):
        stage: str
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate._set_gate(self.stage, occupant=None)

    class ExecutionQueued(Event):
        stage: str
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            waiting = aggregate.gate(self.stage)["waiting"]
            aggregate._set_gate(self.stage, waiting=[*waiting, self.execution_id])

    class ExecutionDequeued(Event):
        stage: str
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            waiting = aggregate.gate(self.stage)["waiting"]
            aggregate._set_gate(self.stage, waiting=[e for e in waiting if e != self.execution_id])

    # ----- tags and start request tokens (TagResource, UntagResource, clientRequestToken) -----
    # Pipelines recorded before these existed have neither attribute in their snapshots: both
    # are read through the properties below, which default to empty.

    @property
    def resource_tags(self) -> dict[str, str]:
        return dict(vars(self).get("tags") or {})

    def tag(self, tags: Sequence[Mapping[str, Any]], *, by: str, now: datetime) -> bool:
        """TagResource: add or overwrite tags; False (nothing recorded) if nothing changes."""
        added = check_tags(tags)
        current = self.resource_tags
        merged_tags(current, added)  # refuses past the limit
        changed = {key: value for key, value in added.items() if current.get(key) != value}
        if not changed:
            return False
        self.trigger_event(self.PipelineTagged, tags=changed, by=by, timestamp=now)
        return True

    def untag(self, keys: Sequence[Any], *, by: str, now: datetime) -> bool:
        """UntagResource: keys the pipeline lacks are ignored, as CodePipeline does."""
        present = [key for key in check_tag_keys(keys) if key in self.resource_tags]
        if not present:
            return False
        self.trigger_event(self.PipelineUntagged, keys=present, by=by, timestamp=now)
        return True

    def execution_for_token(self, token: str) -> str | None:
        """The execution a start with this clientRequestToken began, while the pipeline still
        names it (`recent`: the active executions and the ENDED_KEPT that ended last)."""
        found = (vars(self).get("request_tokens") or {}).get(token)
        return found if found is not None and found in self.recent else None

    def record_request_token(self, token: str, execution_id: str, now: datetime) -> None:
        self.trigger_event(
            self.RequestTokenRecorded, token=token, execution_id=execution_id, timestamp=now
        )

    class PipelineTagged(Event):
        tags: dict[str, str]
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.tags = {**aggregate.resource_tags, **self.tags}

    class PipelineUntagged(Event):
        keys: list[str]
        by: str

        def apply(self, aggregate: Any) -> None:
            gone = set(self.keys)
            aggregate.tags = {k: v for k, v in aggregate.resource_tags.items() if k not in gone}

    class RequestTokenRecorded(Event):
        """A start's clientRequestToken; tokens of executions no longer in `recent` are dropped
        here, so the bookkeeping never outgrows the executions the pipeline names."""

        token: str
        execution_id: str

        def apply(self, aggregate: Any) -> None:
            live = set(aggregate.recent)
            kept = {
                token: execution_id
                for token, execution_id in (vars(aggregate).get("request_tokens") or {}).items()
                if execution_id in live
            }
            aggregate.request_tokens = {**kept, self.token: self.execution_id}
