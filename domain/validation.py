"""Parse and validate a pipeline definition, reporting every problem at once with path and rule."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from domain import catalogue
from domain.definition import (
    ActionDeclaration,
    ActionTypeId,
    ArtifactStore,
    BeforeEntryConditions,
    BlockerDeclaration,
    Condition,
    EncryptionKey,
    EnvironmentVariable,
    FailureConditions,
    InputArtifact,
    OutputArtifact,
    PipelineDeclaration,
    PipelineVariable,
    RetryConfiguration,
    StageDeclaration,
    SuccessConditions,
)
from domain.errors import InvalidDefinition, Problem, ValidationException
from domain.variables import CODEPIPELINE, CODEPIPELINE_VARIABLES, PIPELINE_VARIABLES, references

ROOT = "pipeline"

NAME_PATTERN = r"[A-Za-z0-9.@\-_]+"
ARTIFACT_NAME_PATTERN = r"[a-zA-Z0-9_\-]+"
NAMESPACE_PATTERN = r"[A-Za-z0-9@\-_]+"
VARIABLE_NAME_PATTERN = r"[A-Za-z0-9@\-_]+"
ENVIRONMENT_NAME_PATTERN = r"[A-Za-z0-9_]+"
PROVIDER_PATTERN = r"[0-9A-Za-z_-]+"
ROLE_ARN_PATTERN = r"arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*"
STORE_LOCATION_PATTERN = r"[a-zA-Z0-9\-\.]+"

EXECUTION_MODES = ("QUEUED", "SUPERSEDED", "PARALLEL")
PIPELINE_TYPES = ("V1", "V2")
RETRY_MODES = ("FAILED_ACTIONS", "ALL_ACTIONS")
ENVIRONMENT_TYPES = ("PLAINTEXT", "SECRETS_MANAGER")
# Results each condition type may take (user guide, stage conditions); the API's shared enum is
# wider, but a FAIL on failure or a SKIP on success has no meaning.
FAILURE_RESULTS = ("ROLLBACK", "RETRY")
SUCCESS_RESULTS = ("ROLLBACK", "FAIL")
ENTRY_RESULTS = ("FAIL", "SKIP")
RESERVED_NAMESPACES = (CODEPIPELINE, PIPELINE_VARIABLES)
WRAPPER_KEYS = ("pipeline", "metadata", "tags")

# CodePipeline's own fixed quotas (spec §4.1): Limits may lower them, never raise them.
STAGES_CEILING = 50
ACTIONS_PER_STAGE_CEILING = 50
PARALLEL_CEILING = 50
SEQUENTIAL_CEILING = 50
ACTIONS_PER_PIPELINE_CEILING = 500
VARIABLES_CEILING = 50
TRIGGERS_CEILING = 50

RUN_ORDER_RANGE = (1, 999)
TIMEOUT_RANGE = (5, 86400)
CONFIGURATION_KEY_MAX = 50
CONFIGURATION_VALUE_MAX = 1000


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


def parse_definition(
    source: str | bytes | Mapping[str, Any], limits: Limits = Limits()
) -> PipelineDeclaration:
    """A validated declaration from JSON text or a mapping, bare or wrapped as get-pipeline prints.

    Raises InvalidDefinition listing every problem found, each rooted at `pipeline`.
    """
    problems: list[Problem] = []
    document = _load(source, problems)
    if document is None:
        raise InvalidDefinition(problems)
    declaration: PipelineDeclaration | None = None
    try:
        declaration = PipelineDeclaration.model_validate(document)
    except ValidationError as error:
        problems.extend(_shape_problems(error))
    problems.extend(_Checker(document, limits).run())
    if problems:
        raise InvalidDefinition(_ordered(problems))
    assert declaration is not None  # no shape problem means pydantic accepted it
    return declaration


# ----- loading ------------------------------------------------------------------------------


def _load(
    source: str | bytes | Mapping[str, Any], problems: list[Problem]
) -> dict[str, Any] | None:
    raw: Any
    if isinstance(source, str | bytes):
        try:
            raw = json.loads(source)
        except json.JSONDecodeError as error:
            problems.append(
                Problem(
                    "$",
                    "json",
                    f"the document is not valid JSON: {error.msg} "
                    f"at line {error.lineno}, column {error.colno}",
                )
            )
            return None
        except UnicodeDecodeError as error:
            problems.append(Problem("$", "json", f"the document is not UTF-8 text: {error.reason}"))
            return None
    else:
        raw = source
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(ROOT, "field.type", f"the document must be a JSON object, not {_kind(raw)}")
        )
        return None
    if "pipeline" not in raw:
        return dict(raw)
    # Wrapped as `get-pipeline` prints it (or as create-pipeline's --cli-input-json takes it).
    for key in raw:
        if key not in WRAPPER_KEYS:
            problems.append(
                Problem(
                    str(key),
                    "unknown-field",
                    f"unknown field '{key}' beside 'pipeline'; "
                    f"a wrapped document may hold only {', '.join(WRAPPER_KEYS)}",
                )
            )
    inner = raw["pipeline"]
    if not isinstance(inner, Mapping):
        problems.append(
            Problem(ROOT, "field.type", f"'pipeline' must be a JSON object, not {_kind(inner)}")
        )
        return None
    return dict(inner)


# ----- shape problems reported by pydantic --------------------------------------------------

# Which model an object at a given container key is, to suggest the field a typo meant.
_MODEL_BY_CONTAINER: dict[str, type[BaseModel]] = {
    "stages": StageDeclaration,
    "actions": ActionDeclaration,
    "actionTypeId": ActionTypeId,
    "inputArtifacts": InputArtifact,
    "outputArtifacts": OutputArtifact,
    "environmentVariables": EnvironmentVariable,
    "blockers": BlockerDeclaration,
    "onFailure": FailureConditions,
    "onSuccess": SuccessConditions,
    "beforeEntry": BeforeEntryConditions,
    "retryConfiguration": RetryConfiguration,
    "conditions": Condition,
    "artifactStore": ArtifactStore,
    "artifactStores": ArtifactStore,
    "encryptionKey": EncryptionKey,
    "variables": PipelineVariable,
}

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _shape_problems(error: ValidationError) -> Iterator[Problem]:
    for detail in error.errors():
        loc = tuple(part for part in detail["loc"] if part != "[key]")
        path = _path_of(loc)
        kind = detail["type"]
        name = str(loc[-1]) if loc else ROOT
        if kind == "missing":
            yield Problem(path, "field.required", f"required field '{name}' is missing")
        elif kind == "extra_forbidden":
            yield Problem(path, "unknown-field", _unknown_field_message(loc))
        elif kind in _TYPE_NAMES:
            yield Problem(
                path,
                "field.type",
                f"'{name}' must be {_TYPE_NAMES[kind]}, not {_kind(detail['input'])}",
            )
        else:
            yield Problem(path, "field.type", f"'{name}': {detail['msg']}")


def _unknown_field_message(loc: tuple[str | int, ...]) -> str:
    name = str(loc[-1])
    model: type[BaseModel] = PipelineDeclaration
    for part in reversed(loc[:-1]):
        if isinstance(part, str) and part in _MODEL_BY_CONTAINER:
            model = _MODEL_BY_CONTAINER[part]
            break
    known = [info.alias or field_name for field_name, info in model.model_fields.items()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "known fields: " + ", ".join(known)
    return f"unknown field '{name}'; {hint}"


# ----- the rules ----------------------------------------------------------------------------


@dataclass
class _Action:
    """A tolerant view of one action: what the flow rules need, whatever its shape."""

    path: str
    stage_index: int
    stage_name: str
    name: str
    category: str | None
    run_order: int
    raw: Mapping[str, Any]
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (path, name)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    namespace: str | None = None

    def describe(self) -> str:
        return f"'{self.name}' in stage '{self.stage_name}'"


class _Checker:
    """Walks the raw document and collects every rule it breaks; tolerant of bad shapes."""

    def __init__(self, document: Mapping[str, Any], limits: Limits) -> None:
        self.doc = document
        self.limits = limits
        self.problems: list[Problem] = []
        pipeline_type = document.get("pipelineType", "V1")
        self.pipeline_type = pipeline_type if pipeline_type in PIPELINE_TYPES else None
        mode = document.get("executionMode", "SUPERSEDED")
        self.execution_mode = mode if mode in EXECUTION_MODES else None
        self.actions: list[_Action] = []
        self.variable_names: set[str] = set()

    def add(self, path: str, rule: str, message: str) -> None:
        self.problems.append(Problem(path, rule, message))

    def run(self) -> list[Problem]:
        self._pipeline()
        self._variables()
        self._triggers_count()
        self._stages()
        self._flow()
        self._triggers_targets()
        return self.problems

    # --- pipeline-level fields ---

    def _pipeline(self) -> None:
        doc = self.doc
        self._name(f"{ROOT}.name", doc.get("name"), "the pipeline name")
        role = doc.get("roleArn")
        if isinstance(role, str):
            self._text(
                f"{ROOT}.roleArn",
                role,
                "roleArn",
                0,
                1024,
                ROLE_ARN_PATTERN,
                "must be an IAM role ARN like arn:aws:iam::123456789012:role/name",
                "roleArn",
            )
        if "artifactStore" in doc and "artifactStores" in doc:
            self.add(
                f"{ROOT}.artifactStores",
                "artifactStore.exclusive",
                "give either artifactStore or artifactStores, not both",
            )
        self._artifact_store(f"{ROOT}.artifactStore", doc.get("artifactStore"))
        for region, store in _obj(doc.get("artifactStores")).items():
            path = f"{ROOT}.artifactStores{_key(str(region))}"
            self._text(path, region, "an artifact store region", 4, 30, None, "", "region")
            self._artifact_store(path, store)
        version = _int(doc.get("version"))
        if version is not None and version < 1:
            self.add(
                f"{ROOT}.version", "version.range", f"version must be 1 or more, not {version}"
            )
        self._enum(f"{ROOT}.executionMode", doc.get("executionMode"), EXECUTION_MODES)
        self._enum(f"{ROOT}.pipelineType", doc.get("pipelineType"), PIPELINE_TYPES)
        mode = doc.get("executionMode")
        if mode in ("QUEUED", "PARALLEL") and self.pipeline_type == "V1":
            self.add(
                f"{ROOT}.executionMode",
                "executionMode.v2-only",
                f"executionMode {mode} needs a V2 pipeline; {self._v1_reason()}",
            )

    def _v1_reason(self) -> str:
        if "pipelineType" in self.doc:
            return 'this pipeline is V1; set "pipelineType": "V2"'
        return 'this pipeline is V1 because pipelineType is omitted; set "pipelineType": "V2"'

    def _artifact_store(self, path: str, store: Any) -> None:
        store = _obj(store)
        self._enum(f"{path}.type", store.get("type"), ("S3",))
        location = store.get("location")
        if isinstance(location, str):
            self._text(
                f"{path}.location",
                location,
                "the artifact store location",
                3,
                63,
                STORE_LOCATION_PATTERN,
                "may contain only letters, digits, '-' and '.'",
                "location",
            )
        key = _obj(store.get("encryptionKey"))
        self._enum(f"{path}.encryptionKey.type", key.get("type"), ("KMS",))

    def _variables(self) -> None:
        variables = _items(self.doc.get("variables"))
        path = f"{ROOT}.variables"
        if variables and self.pipeline_type == "V1":
            self.add(
                path,
                "variables.v2-only",
                f"pipeline variables need a V2 pipeline; {self._v1_reason()}",
            )
        if len(variables) > self.limits.max_variables:
            self.add(
                path,
                "variables.count",
                f"the pipeline declares {len(variables)} variables; "
                f"at most {self.limits.max_variables} are allowed",
            )
        seen: set[str] = set()
        for index, variable in enumerate(variables):
            item = _obj(variable)
            here = f"{path}[{index}]"
            name = item.get("name")
            self._text(
                f"{here}.name",
                name,
                "a pipeline variable name",
                1,
                128,
                VARIABLE_NAME_PATTERN,
                "may contain only letters, digits, '@', '-' and '_'",
            )
            if isinstance(name, str):
                if name in seen:
                    self.add(
                        f"{here}.name",
                        "variable.name-unique",
                        f"pipeline variable '{name}' is declared twice",
                    )
                seen.add(name)
            default = item.get("defaultValue")
            if isinstance(default, str):
                self._text(
                    f"{here}.defaultValue",
                    default,
                    "a default value",
                    1,
                    1000,
                    None,
                    "",
                    "defaultValue",
                )
            description = item.get("description")
            if isinstance(description, str):
                self._text(
                    f"{here}.description",
                    description,
                    "a description",
                    0,
                    200,
                    None,
                    "",
                    "description",
                )
        self.variable_names = seen

    def _triggers_count(self) -> None:
        triggers = _items(self.doc.get("triggers"))
        path = f"{ROOT}.triggers"
        if triggers and self.pipeline_type == "V1":
            self.add(path, "triggers.v2-only", f"triggers need a V2 pipeline; {self._v1_reason()}")
        if len(triggers) > self.limits.max_triggers:
            self.add(
                path,
                "triggers.count",
                f"the pipeline declares {len(triggers)} triggers; "
                f"at most {self.limits.max_triggers} are allowed",
            )
        for index, trigger in enumerate(triggers):
            self._enum(
                f"{path}[{index}].providerType",
                _obj(trigger).get("providerType"),
                ("CodeStarSourceConnection",),
            )

    def _triggers_targets(self) -> None:
        sources = {a.name for a in self.actions if a.category == "Source" and a.stage_index == 0}
        seen: set[str] = set()
        for index, trigger in enumerate(_items(self.doc.get("triggers"))):
            git = _obj(_obj(trigger).get("gitConfiguration"))
            name = git.get("sourceActionName")
            path = f"{ROOT}.triggers[{index}].gitConfiguration.sourceActionName"
            if not isinstance(name, str):
                continue
            if name not in sources:
                known = ", ".join(sorted(sources)) or "none"
                self.add(
                    path,
                    "trigger.source-action",
                    f"trigger names source action '{name}', which the first stage does not "
                    f"have (source actions: {known})",
                )
            elif name in seen:
                self.add(
                    path,
                    "trigger.unique",
                    f"source action '{name}' already has a trigger; only one is allowed",
                )
            seen.add(name)

    # --- stages and actions ---

    def _stages(self) -> None:
        stages = self.doc.get("stages")
        if not isinstance(stages, list):
            return  # pydantic reported it missing or of the wrong type
        path = f"{ROOT}.stages"
        count, low, high = len(stages), self.limits.min_stages, self.limits.max_stages
        if count < low:
            self.add(
                path,
                "stages.count",
                f"the pipeline has {count} stage{'s' if count != 1 else ''}; it needs at "
                f"least {low} (a source stage and at least one more)",
            )
        elif count > high:
            self.add(
                path, "stages.count", f"the pipeline has {count} stages; at most {high} are allowed"
            )
        names: dict[str, int] = {}
        for index, stage in enumerate(stages):
            self._stage(f"{path}[{index}]", index, _obj(stage), names)
        total = len(self.actions)
        if total > self.limits.max_actions_per_pipeline:
            self.add(
                path,
                "pipeline.actions-count",
                f"the pipeline has {total} actions; at most "
                f"{self.limits.max_actions_per_pipeline} are allowed",
            )
        if self.actions and all(a.category == "Source" for a in self.actions):
            self.add(
                path,
                "stages.non-source-required",
                "every action is a source action; at least one stage must hold an action "
                "that is not a source action",
            )

    def _stage(
        self, path: str, index: int, stage: Mapping[str, Any], names: dict[str, int]
    ) -> None:
        name = stage.get("name")
        self._name(f"{path}.name", name, "a stage name")
        stage_name = name if isinstance(name, str) else f"#{index + 1}"
        if isinstance(name, str):
            if name in names:
                self.add(
                    f"{path}.name",
                    "stage.name-unique",
                    f"stage name '{name}' is already used by stage #{names[name] + 1}; "
                    "stage names must be unique",
                )
            else:
                names[name] = index
        for blocker_index, blocker in enumerate(_items(stage.get("blockers"))):
            here = f"{path}.blockers[{blocker_index}]"
            self._text(
                f"{here}.name", _obj(blocker).get("name"), "a blocker name", 1, 100, None, ""
            )
            self._enum(f"{here}.type", _obj(blocker).get("type"), ("Schedule",))
        self._conditions(path, stage)
        actions = stage.get("actions")
        if not isinstance(actions, list):
            return
        count = len(actions)
        if not 1 <= count <= self.limits.max_actions_per_stage:
            self.add(
                f"{path}.actions",
                "stage.actions-count",
                f"stage '{stage_name}' has {count} actions; a stage holds 1 to "
                f"{self.limits.max_actions_per_stage}",
            )
        views: list[_Action] = []
        action_names: dict[str, int] = {}
        for action_index, action in enumerate(actions):
            here = f"{path}.actions[{action_index}]"
            view = self._action(here, index, stage_name, action_index, _obj(action))
            views.append(view)
            if view.name in action_names:
                self.add(
                    f"{view.path}.name",
                    "action.name-unique",
                    f"action name '{view.name}' is already used in stage '{stage_name}' by "
                    f"action #{action_names[view.name] + 1}; action names must be unique "
                    "within a stage",
                )
            elif not view.name.startswith("#"):
                action_names[view.name] = action_index
        self.actions.extend(views)
        self._groups(path, stage_name, views)
        self._source_position(path, index, stage_name, views)

    def _groups(self, path: str, stage_name: str, views: list[_Action]) -> None:
        sizes: dict[int, int] = {}
        for view in views:
            sizes[view.run_order] = sizes.get(view.run_order, 0) + 1
        for order, size in sorted(sizes.items()):
            if size > self.limits.max_parallel_actions:
                self.add(
                    f"{path}.actions",
                    "stage.parallel-count",
                    f"stage '{stage_name}' runs {size} actions in parallel at runOrder "
                    f"{order}; at most {self.limits.max_parallel_actions} are allowed",
                )
        if len(sizes) > self.limits.max_sequential_actions:
            self.add(
                f"{path}.actions",
                "stage.sequential-count",
                f"stage '{stage_name}' has {len(sizes)} sequential runOrder groups; at most "
                f"{self.limits.max_sequential_actions} are allowed",
            )

    def _source_position(
        self, path: str, index: int, stage_name: str, views: list[_Action]
    ) -> None:
        known = [view for view in views if view.category is not None]
        if index == 0:
            if views and not any(view.category == "Source" for view in views):
                self.add(
                    path,
                    "stage.first-must-be-source",
                    f"the first stage ('{stage_name}') must contain at least one source "
                    "action, and source actions only",
                )
                return
            for view in known:
                if view.category != "Source":
                    self.add(
                        view.path,
                        "stage.first-must-be-source",
                        f"the first stage may contain source actions only; "
                        f"'{view.name}' is a {view.category} action",
                    )
        else:
            for view in known:
                if view.category == "Source":
                    self.add(
                        view.path,
                        "stage.source-only-first",
                        f"source action '{view.name}' is in stage '{stage_name}'; only the "
                        "first stage may contain source actions",
                    )

    def _conditions(self, path: str, stage: Mapping[str, Any]) -> None:
        kinds = (
            ("onFailure", FAILURE_RESULTS),
            ("onSuccess", SUCCESS_RESULTS),
            ("beforeEntry", ENTRY_RESULTS),
        )
        for key, allowed in kinds:
            if key not in stage or stage[key] is None:
                continue
            here = f"{path}.{key}"
            if self.pipeline_type == "V1":
                self.add(
                    here,
                    "conditions.v2-only",
                    f"stage {key} conditions need a V2 pipeline; {self._v1_reason()}",
                )
            block = _obj(stage[key])
            if key == "onFailure":
                self._result(f"{here}.result", block.get("result"), allowed, key)
                # An omitted retryConfiguration means FAILED_ACTIONS, the console's default and
                # the planner's: retrying only what failed is the least surprising choice.
                retry = _obj(block.get("retryConfiguration"))
                self._enum(
                    f"{here}.retryConfiguration.retryMode", retry.get("retryMode"), RETRY_MODES
                )
            conditions = block.get("conditions")
            if conditions is None:
                continue
            conditions = _items(conditions)
            if len(conditions) != 1:
                self.add(
                    f"{here}.conditions",
                    "conditions.count",
                    f"{key} holds exactly one condition; it has {len(conditions)}",
                )
            for index, condition in enumerate(conditions):
                item = _obj(condition)
                self._result(f"{here}.conditions[{index}].result", item.get("result"), allowed, key)
                rules = item.get("rules")
                if isinstance(rules, list) and not 1 <= len(rules) <= 5:
                    self.add(
                        f"{here}.conditions[{index}].rules",
                        "condition.rules-count",
                        f"a condition holds 1 to 5 rules; it has {len(rules)}",
                    )

    def _result(self, path: str, result: Any, allowed: tuple[str, ...], key: str) -> None:
        if not isinstance(result, str):
            return
        if result not in allowed:
            self.add(
                path,
                "condition.result",
                f"{key} result must be {' or '.join(allowed)}, not '{result}'",
            )
        elif result == "ROLLBACK" and self.execution_mode == "PARALLEL":
            self.add(
                path,
                "rollback.parallel-mode",
                "a PARALLEL pipeline cannot roll stages back; ROLLBACK is not allowed",
            )

    def _action(
        self,
        path: str,
        stage_index: int,
        stage_name: str,
        action_index: int,
        action: Mapping[str, Any],
    ) -> _Action:
        name = action.get("name")
        self._name(f"{path}.name", name, "an action name")
        type_id = _obj(action.get("actionTypeId"))
        category = type_id.get("category")
        run_order = _int(action.get("runOrder", 1))
        view = _Action(
            path=path,
            stage_index=stage_index,
            stage_name=stage_name,
            name=name if isinstance(name, str) else f"#{action_index + 1}",
            category=category if category in catalogue.CATEGORIES else None,
            run_order=run_order if run_order is not None else 1,
            raw=action,
        )
        spec = self._action_type(f"{path}.actionTypeId", type_id)
        lo, hi = RUN_ORDER_RANGE
        if run_order is not None and not lo <= run_order <= hi:
            self.add(
                f"{path}.runOrder",
                "action.runOrder.range",
                f"runOrder must be {lo}..{hi}, not {run_order}",
            )
        self._configuration(f"{path}.configuration", action.get("configuration"))
        self._string_list(f"{path}.commands", action.get("commands"), "commands", 50, 1000)
        self._string_list(
            f"{path}.outputVariables", action.get("outputVariables"), "outputVariables", 15, 128
        )
        self._artifacts(view, spec)
        role = action.get("roleArn")
        if isinstance(role, str):
            self._text(
                f"{path}.roleArn",
                role,
                "roleArn",
                0,
                1024,
                ROLE_ARN_PATTERN,
                "must be an IAM role ARN like arn:aws:iam::123456789012:role/name",
                "roleArn",
            )
        region = action.get("region")
        if isinstance(region, str):
            self._text(f"{path}.region", region, "a region", 4, 30, None, "", "region")
            owner = type_id.get("owner")
            if view.category == "Source" or owner in ("ThirdParty", "Custom"):
                self.add(
                    f"{path}.region",
                    "region.not-allowed",
                    "source, third-party and custom actions cannot set a region",
                )
        namespace = action.get("namespace")
        if isinstance(namespace, str):
            self._text(
                f"{path}.namespace",
                namespace,
                "a namespace",
                1,
                100,
                NAMESPACE_PATTERN,
                "may contain only letters, digits, '@', '-' and '_'",
                "namespace",
            )
            if namespace in RESERVED_NAMESPACES:
                self.add(
                    f"{path}.namespace",
                    "namespace.reserved",
                    f"namespace '{namespace}' is reserved; "
                    f"{' and '.join(RESERVED_NAMESPACES)} cannot be action namespaces",
                )
            view.namespace = namespace
        # CodePipeline documents timeoutInMinutes for manual approvals only; Conveyor accepts it
        # on every action type because per-action timeouts are part of its design (DESIGN.md).
        timeout = _int(action.get("timeoutInMinutes"))
        lo, hi = TIMEOUT_RANGE
        if timeout is not None and not lo <= timeout <= hi:
            self.add(
                f"{path}.timeoutInMinutes",
                "timeoutInMinutes.range",
                f"timeoutInMinutes must be {lo}..{hi} (5 minutes to 60 days), not {timeout}",
            )
        self._environment(f"{path}.environmentVariables", action.get("environmentVariables"))
        return view

    def _action_type(self, path: str, type_id: Mapping[str, Any]) -> catalogue.ProviderSpec | None:
        category, owner, provider = (type_id.get(k) for k in ("category", "owner", "provider"))
        self._enum(f"{path}.category", category, catalogue.CATEGORIES)
        self._enum(f"{path}.owner", owner, catalogue.OWNERS)
        self._text(
            f"{path}.provider",
            provider,
            "a provider",
            1,
            35,
            PROVIDER_PATTERN,
            "may contain only letters, digits, '-' and '_'",
            "provider",
        )
        self._text(
            f"{path}.version",
            type_id.get("version"),
            "a version",
            1,
            9,
            PROVIDER_PATTERN,
            "may contain only letters, digits, '-' and '_'",
            "version",
        )
        if not (category in catalogue.CATEGORIES and owner in catalogue.OWNERS):
            return None
        if not isinstance(provider, str):
            return None
        spec = catalogue.lookup(category, owner, provider)
        if spec is None:
            self.add(
                f"{path}.provider",
                "action.provider-unknown",
                _unknown_provider(category, owner, provider),
            )
        return spec

    def _artifacts(self, view: _Action, spec: catalogue.ProviderSpec | None) -> None:
        for key, into in (("inputArtifacts", view.inputs), ("outputArtifacts", view.outputs)):
            items = view.raw.get(key)
            for index, artifact in enumerate(_items(items)):
                here = f"{view.path}.{key}[{index}]"
                name = _obj(artifact).get("name")
                self._text(
                    f"{here}.name",
                    name,
                    "an artifact name",
                    1,
                    100,
                    ARTIFACT_NAME_PATTERN,
                    "may contain only letters, digits, '-' and '_'",
                )
                if isinstance(name, str):
                    into.append((here, name))
                files = _obj(artifact).get("files")
                self._string_list(f"{here}.files", files, "files", 10, 128)
            if spec is None or (items is not None and not isinstance(items, list)):
                continue
            count = len(_items(items))
            lo, hi = spec.inputs if key == "inputArtifacts" else spec.outputs
            if not lo <= count <= hi:
                which = "input" if key == "inputArtifacts" else "output"
                wanted = f"{lo}" if lo == hi else f"{lo} to {hi}"
                self.add(
                    f"{view.path}.{key}",
                    "artifact.count",
                    f"action '{view.name}' ({spec.category} {spec.provider}) takes {wanted} "
                    f"{which} artifact{'s' if hi != 1 else ''}; it declares {count}",
                )

    def _configuration(self, path: str, configuration: Any) -> None:
        for key, value in _obj(configuration).items():
            here = f"{path}{_key(str(key))}"
            if not 1 <= len(key) <= CONFIGURATION_KEY_MAX:
                self.add(
                    here,
                    "configuration.key-length",
                    f"configuration key '{_short(key)}' has {len(key)} characters; keys "
                    f"have 1 to {CONFIGURATION_KEY_MAX}",
                )
            if isinstance(value, str) and not 1 <= len(value) <= CONFIGURATION_VALUE_MAX:
                self.add(
                    here,
                    "configuration.value-length",
                    f"configuration value of '{_short(key)}' has {len(value)} characters; "
                    f"values have 1 to {CONFIGURATION_VALUE_MAX} (variable references "
                    "count as written)",
                )

    def _environment(self, path: str, variables: Any) -> None:
        if not isinstance(variables, list):
            return
        if not 1 <= len(variables) <= 10:
            self.add(
                path,
                "environmentVariables.count",
                f"environmentVariables holds 1 to 10 entries; it has {len(variables)}",
            )
        for index, variable in enumerate(variables):
            item, here = _obj(variable), f"{path}[{index}]"
            self._text(
                f"{here}.name",
                item.get("name"),
                "an environment variable name",
                1,
                128,
                ENVIRONMENT_NAME_PATTERN,
                "may contain only letters, digits and '_'",
            )
            self._text(
                f"{here}.value",
                item.get("value"),
                "an environment variable value",
                1,
                2000,
                None,
                "",
                "value",
            )
            self._enum(f"{here}.type", item.get("type"), ENVIRONMENT_TYPES)

    # --- artifact flow, namespaces and variable references ---

    def _flow(self) -> None:
        producers: dict[str, _Action] = {}
        owners: dict[str, _Action] = {}
        ordered = sorted(self.actions, key=lambda a: (a.stage_index, a.run_order))
        for action in ordered:
            for path, name in action.outputs:
                first = producers.get(name)
                if first is None:
                    producers[name] = action
                else:
                    where = "this action" if first is action else f"action {first.describe()}"
                    self.add(
                        path,
                        "artifact.output-unique",
                        f"output artifact '{name}' is already produced by {where}; output "
                        "artifact names must be unique across the pipeline",
                    )
        for action in self.actions:
            namespace = action.namespace
            if namespace is None:
                continue
            if namespace in owners:
                self.add(
                    f"{action.path}.namespace",
                    "namespace.unique",
                    f"namespace '{namespace}' is already declared by action "
                    f"{owners[namespace].describe()}; namespaces must be unique",
                )
            else:
                owners[namespace] = action
            if namespace in producers or any(
                namespace == n for a in self.actions for _, n in a.inputs
            ):
                self.add(
                    f"{action.path}.namespace",
                    "namespace.conflicts-artifact",
                    f"namespace '{namespace}' is also an artifact name; namespaces cannot "
                    "conflict with artifact names",
                )
        artifacts: set[str] = set()
        namespaces: set[str] = set()
        for _, group in _execution_groups(self.actions):
            for action in group:
                for path, name in action.inputs:
                    if name not in artifacts:
                        self.add(
                            path,
                            "artifact.input-undefined",
                            _undefined_input(action, name, producers.get(name), artifacts),
                        )
                self._references(action, namespaces, owners)
            for action in group:
                artifacts.update(name for _, name in action.outputs)
                if action.namespace is not None:
                    namespaces.add(action.namespace)

    def _references(
        self, action: _Action, available: set[str], owners: Mapping[str, _Action]
    ) -> None:
        for key, value in _obj(action.raw.get("configuration")).items():
            if not isinstance(value, str):
                continue
            path = f"{action.path}.configuration{_key(str(key))}"
            for namespace, name in references(value):
                problem = self._reference_problem(action, namespace, name, available, owners)
                if problem is not None:
                    self.add(path, "variable.reference", f"#{{{namespace}.{name}}}: {problem}")

    def _reference_problem(
        self,
        action: _Action,
        namespace: str,
        name: str,
        available: set[str],
        owners: Mapping[str, _Action],
    ) -> str | None:
        if namespace == CODEPIPELINE:
            if name in CODEPIPELINE_VARIABLES:
                return None
            return f"codepipeline defines only {', '.join(CODEPIPELINE_VARIABLES)}"
        if namespace == PIPELINE_VARIABLES:
            if name in self.variable_names:
                return None
            declared = ", ".join(sorted(self.variable_names)) or "none"
            return f"pipeline variable '{name}' is not declared (declared: {declared})"
        if namespace in available:
            return None
        owner = owners.get(namespace)
        if owner is action:
            return "an action cannot read its own namespace; its variables exist only after it ran"
        if owner is not None:
            return (
                f"namespace '{namespace}' belongs to action {owner.describe()}, which does not "
                "run before this action"
            )
        known = ", ".join(sorted(available)) or "none"
        return f"no action declares namespace '{namespace}' (namespaces available here: {known})"

    # --- small checks ---

    def _name(self, path: str, value: Any, what: str) -> None:
        self._text(
            path, value, what, 1, 100, NAME_PATTERN, "may contain only letters, digits and . @ - _"
        )

    def _text(
        self,
        path: str,
        value: Any,
        what: str,
        low: int,
        high: int,
        pattern: str | None,
        allowed: str,
        rule: str = "name",
    ) -> None:
        if not isinstance(value, str):
            return
        if not low <= len(value) <= high:
            self.add(
                path,
                f"{rule}.length",
                f"{what} must be {low} to {high} characters long; "
                f"'{_short(value)}' has {len(value)}",
            )
        elif pattern is not None and not re.fullmatch(pattern, value):
            self.add(path, f"{rule}.pattern", f"{what} '{_short(value)}' {allowed}")

    def _enum(self, path: str, value: Any, allowed: tuple[str, ...]) -> None:
        if isinstance(value, str) and value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.add(
                path, "field.enum", f"'{_short(value)}' is not one of {', '.join(allowed)}{hint}"
            )

    def _string_list(self, path: str, value: Any, what: str, most: int, longest: int) -> None:
        if not isinstance(value, list):
            return
        if not 1 <= len(value) <= most:
            self.add(
                path, f"{what}.count", f"{what} holds 1 to {most} entries; it has {len(value)}"
            )
        for index, item in enumerate(value):
            if isinstance(item, str) and not 1 <= len(item) <= longest:
                self.add(
                    f"{path}[{index}]",
                    f"{what}.length",
                    f"each of {what} has 1 to {longest} characters; this one has {len(item)}",
                )


def _execution_groups(actions: list[_Action]) -> list[tuple[tuple[int, int], list[_Action]]]:
    """Actions grouped by (stage, runOrder) in the order they run."""
    groups: dict[tuple[int, int], list[_Action]] = {}
    for action in actions:
        groups.setdefault((action.stage_index, action.run_order), []).append(action)
    return sorted(groups.items(), key=lambda item: item[0])


def _undefined_input(
    action: _Action, name: str, producer: _Action | None, available: set[str]
) -> str:
    head = f"input artifact '{name}' is not produced by any earlier action"
    if producer is None:
        known = ", ".join(sorted(available)) or "none"
        return f"{head}; no action produces it (artifacts available here: {known})"
    if producer is action:
        return f"{head}; it is this action's own output"
    if producer.stage_index == action.stage_index and producer.run_order == action.run_order:
        return (
            f"{head}; it is produced by '{producer.name}' in the same stage at the same "
            f"runOrder ({action.run_order}), which runs in parallel with this action"
        )
    if producer.stage_index == action.stage_index:
        return (
            f"{head}; it is produced by '{producer.name}' in this stage at runOrder "
            f"{producer.run_order}, which runs later"
        )
    return (
        f"{head}; it is produced by '{producer.name}' in stage '{producer.stage_name}', "
        "which runs later"
    )


def _unknown_provider(category: str, owner: str, provider: str) -> str:
    same_category = catalogue.known_providers(category)
    elsewhere = [s for s in catalogue.specs() if s.provider == provider and s.category == category]
    if elsewhere:
        owners = " or ".join(sorted({s.owner for s in elsewhere}))
        return f"provider '{provider}' for category {category} needs owner {owners}, not {owner}"
    knows = ", ".join(same_category) or "no built-in provider"
    return (
        f"unknown provider '{provider}' for category {category}; Conveyor knows: {knows} "
        "(or use owner Custom for an external job worker)"
    )


# ----- helpers ------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key(key: str) -> str:
    return f".{key}" if _PLAIN_KEY.fullmatch(key) else f"[{json.dumps(key)}]"


def _path_of(loc: tuple[str | int, ...]) -> str:
    path = ROOT
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else _key(part)
    return path


_PATH_TOKEN = re.compile(r"\[(\d+)\]|[^.\[\]]+|\[[^\]]*\]")


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Problems without repeats, sorted by path (list indices compared as numbers)."""

    def key(problem: Problem) -> list[tuple[int, int, str]]:
        tokens = []
        for match in _PATH_TOKEN.finditer(problem.path):
            index = match.group(1)
            tokens.append((1, int(index), "") if index is not None else (0, 0, match.group(0)))
        return tokens

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=key)


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ('{_short(value, 20)}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# ----- JSON Schema --------------------------------------------------------------------------

SCHEMA_ID = "https://conveyor.dev/schemas/pipeline.json"


def _anchored(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _name_schema(pattern: str = NAME_PATTERN, longest: int = 100) -> dict[str, Any]:
    return {"minLength": 1, "maxLength": longest, "pattern": _anchored(pattern)}


def _annotations(limits: Limits) -> dict[str, dict[str, dict[str, Any]]]:
    """Per model and property, the constraints _Checker enforces, in JSON Schema terms."""
    role = {"maxLength": 1024, "pattern": _anchored(ROLE_ARN_PATTERN)}
    strings = {"type": "string", "minLength": 1}
    conditions = {"minItems": 1, "maxItems": 1}
    return {
        "PipelineDeclaration": {
            "name": _name_schema(),
            "roleArn": role,
            "stages": {"minItems": limits.min_stages, "maxItems": limits.max_stages},
            "version": {"minimum": 1},
            "executionMode": {"enum": list(EXECUTION_MODES)},
            "pipelineType": {"enum": list(PIPELINE_TYPES)},
            "variables": {"maxItems": limits.max_variables},
            "triggers": {"maxItems": limits.max_triggers},
        },
        "StageDeclaration": {
            "name": _name_schema(),
            "actions": {"minItems": 1, "maxItems": limits.max_actions_per_stage},
        },
        "ActionDeclaration": {
            "name": _name_schema(),
            "runOrder": {"minimum": RUN_ORDER_RANGE[0], "maximum": RUN_ORDER_RANGE[1]},
            "configuration": {
                "propertyNames": {"minLength": 1, "maxLength": CONFIGURATION_KEY_MAX},
                "additionalProperties": {**strings, "maxLength": CONFIGURATION_VALUE_MAX},
            },
            "commands": {"minItems": 1, "maxItems": 50, "items": {**strings, "maxLength": 1000}},
            "outputVariables": {
                "minItems": 1,
                "maxItems": 15,
                "items": {**strings, "maxLength": 128},
            },
            "roleArn": role,
            "region": {"minLength": 4, "maxLength": 30},
            "namespace": _name_schema(NAMESPACE_PATTERN),
            "timeoutInMinutes": {"minimum": TIMEOUT_RANGE[0], "maximum": TIMEOUT_RANGE[1]},
            "environmentVariables": {"minItems": 1, "maxItems": 10},
        },
        "ActionTypeId": {
            "category": {"enum": list(catalogue.CATEGORIES)},
            "owner": {"enum": list(catalogue.OWNERS)},
            "provider": _name_schema(PROVIDER_PATTERN, 35),
            "version": _name_schema(PROVIDER_PATTERN, 9),
        },
        "InputArtifact": {"name": _name_schema(ARTIFACT_NAME_PATTERN)},
        "OutputArtifact": {
            "name": _name_schema(ARTIFACT_NAME_PATTERN),
            "files": {"minItems": 1, "maxItems": 10, "items": {**strings, "maxLength": 128}},
        },
        "EnvironmentVariable": {
            "name": _name_schema(ENVIRONMENT_NAME_PATTERN, 128),
            "value": {"minLength": 1, "maxLength": 2000},
            "type": {"enum": list(ENVIRONMENT_TYPES)},
        },
        "BlockerDeclaration": {
            "name": {"minLength": 1, "maxLength": 100},
            "type": {"enum": ["Schedule"]},
        },
        "RetryConfiguration": {"retryMode": {"enum": list(RETRY_MODES)}},
        "FailureConditions": {"result": {"enum": list(FAILURE_RESULTS)}, "conditions": conditions},
        "SuccessConditions": {"conditions": conditions},
        "BeforeEntryConditions": {"conditions": conditions},
        "Condition": {
            "result": {"enum": sorted({*FAILURE_RESULTS, *SUCCESS_RESULTS, *ENTRY_RESULTS})},
            "rules": {"minItems": 1, "maxItems": 5},
        },
        "PipelineVariable": {
            "name": _name_schema(VARIABLE_NAME_PATTERN, 128),
            "defaultValue": {"minLength": 1, "maxLength": 1000},
            "description": {"maxLength": 200},
        },
        "ArtifactStore": {
            "type": {"enum": ["S3"]},
            "location": {
                "minLength": 3,
                "maxLength": 63,
                "pattern": _anchored(STORE_LOCATION_PATTERN),
            },
        },
        "EncryptionKey": {"id": {"minLength": 1, "maxLength": 400}, "type": {"enum": ["KMS"]}},
    }


def _constrain(schema: dict[str, Any], extra: Mapping[str, Any]) -> None:
    # Optional fields are anyOf [T, null]: the constraint belongs on the non-null branch.
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if branch.get("type") != "null":
                _constrain(branch, extra)
        return
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(schema.get(key), dict):
            schema[key].update(value)
        else:
            schema[key] = value


def pipeline_json_schema(limits: Limits = Limits()) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a definition, bare or wrapped as get-pipeline prints it.

    Built from the models and annotated with the local constraints; cross-references (artifact
    flow, namespaces, source placement) are beyond JSON Schema and only parse_definition checks
    them.
    """
    top = PipelineDeclaration.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    definitions: dict[str, Any] = top.pop("$defs", {})
    definitions["PipelineDeclaration"] = top
    for model, properties in _annotations(limits).items():
        for name, extra in properties.items():
            # A KeyError here means a model and the annotations drifted apart.
            _constrain(definitions[model]["properties"][name], extra)
    definitions["PipelineDocument"] = {
        "title": "PipelineDocument",
        "description": "The output of `aws codepipeline get-pipeline`; metadata is ignored.",
        "type": "object",
        "properties": {
            "pipeline": {"$ref": "#/$defs/PipelineDeclaration"},
            "metadata": {"type": "object"},
            "tags": {"type": "array"},
        },
        "required": ["pipeline"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Conveyor pipeline definition",
        "anyOf": [{"$ref": "#/$defs/PipelineDeclaration"}, {"$ref": "#/$defs/PipelineDocument"}],
        "$defs": definitions,
    }
