"""Rules on the pipeline's own fields: name, role, artifact stores, mode, variables, triggers."""

from __future__ import annotations

from typing import Any

from domain.validation import constraints as c
from domain.validation.checker import Checker
from domain.validation.raw import ROOT, integer, items, key, obj
from domain.vocabulary import ActionCategory, ExecutionMode

_V2_MODES = (ExecutionMode.QUEUED, ExecutionMode.PARALLEL)


def check_fields(check: Checker) -> None:
    doc = check.doc
    check.text(f"{ROOT}.name", doc.get("name"), c.name("the pipeline name"))
    check.text(f"{ROOT}.roleArn", doc.get("roleArn"), c.ROLE_ARN)
    _check_artifact_stores(check)
    version = integer(doc.get("version"))
    if version is not None and version < 1:
        check.add(f"{ROOT}.version", "version.range", f"version must be 1 or more, not {version}")
    check.enum(f"{ROOT}.executionMode", doc.get("executionMode"), c.EXECUTION_MODES)
    check.enum(f"{ROOT}.pipelineType", doc.get("pipelineType"), c.PIPELINE_TYPES)
    mode = doc.get("executionMode")
    if mode in _V2_MODES and check.is_v1():
        check.add(
            f"{ROOT}.executionMode",
            "executionMode.v2-only",
            f"executionMode {mode} needs a V2 pipeline; {check.v1_reason()}",
        )


def _check_artifact_stores(check: Checker) -> None:
    doc = check.doc
    if "artifactStore" in doc and "artifactStores" in doc:
        check.add(
            f"{ROOT}.artifactStores",
            "artifactStore.exclusive",
            "give either artifactStore or artifactStores, not both",
        )
    _check_artifact_store(check, f"{ROOT}.artifactStore", doc.get("artifactStore"))
    for region, store in obj(doc.get("artifactStores")).items():
        path = f"{ROOT}.artifactStores{key(str(region))}"
        check.text(path, region, c.STORE_REGION)
        _check_artifact_store(check, path, store)


def _check_artifact_store(check: Checker, path: str, value: Any) -> None:
    store = obj(value)
    check.enum(f"{path}.type", store.get("type"), ("S3",))
    check.text(f"{path}.location", store.get("location"), c.STORE_LOCATION)
    encryption_key = obj(store.get("encryptionKey"))
    check.enum(f"{path}.encryptionKey.type", encryption_key.get("type"), ("KMS",))


def check_variables(check: Checker) -> None:
    """Pipeline variables; records their names for the reference rules."""
    variables = items(check.doc.get("variables"))
    path = f"{ROOT}.variables"
    if variables and check.is_v1():
        check.add(
            path,
            "variables.v2-only",
            f"pipeline variables need a V2 pipeline; {check.v1_reason()}",
        )
    if len(variables) > check.limits.max_variables:
        check.add(
            path,
            "variables.count",
            f"the pipeline declares {len(variables)} variables; "
            f"at most {check.limits.max_variables} are allowed",
        )
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        item = obj(variable)
        here = f"{path}[{index}]"
        name = item.get("name")
        check.text(f"{here}.name", name, c.VARIABLE_NAME)
        if isinstance(name, str):
            if name in seen:
                check.add(
                    f"{here}.name",
                    "variable.name-unique",
                    f"pipeline variable '{name}' is declared twice",
                )
            seen.add(name)
        check.text(f"{here}.defaultValue", item.get("defaultValue"), c.VARIABLE_DEFAULT)
        check.text(f"{here}.description", item.get("description"), c.VARIABLE_DESCRIPTION)
    check.variable_names = seen


def check_trigger_count(check: Checker) -> None:
    triggers = items(check.doc.get("triggers"))
    path = f"{ROOT}.triggers"
    if triggers and check.is_v1():
        check.add(path, "triggers.v2-only", f"triggers need a V2 pipeline; {check.v1_reason()}")
    if len(triggers) > check.limits.max_triggers:
        check.add(
            path,
            "triggers.count",
            f"the pipeline declares {len(triggers)} triggers; "
            f"at most {check.limits.max_triggers} are allowed",
        )
    for index, trigger in enumerate(triggers):
        check.enum(
            f"{path}[{index}].providerType",
            obj(trigger).get("providerType"),
            ("CodeStarSourceConnection",),
        )


def check_trigger_targets(check: Checker) -> None:
    """Each trigger names a distinct source action of the first stage (needs the actions)."""
    sources = {
        a.name for a in check.actions if a.category == ActionCategory.SOURCE and a.stage_index == 0
    }
    seen: set[str] = set()
    for index, trigger in enumerate(items(check.doc.get("triggers"))):
        git = obj(obj(trigger).get("gitConfiguration"))
        name = git.get("sourceActionName")
        path = f"{ROOT}.triggers[{index}].gitConfiguration.sourceActionName"
        if not isinstance(name, str):
            continue
        if name not in sources:
            known = ", ".join(sorted(sources)) or "none"
            check.add(
                path,
                "trigger.source-action",
                f"trigger names source action '{name}', which the first stage does not "
                f"have (source actions: {known})",
            )
        elif name in seen:
            check.add(
                path,
                "trigger.unique",
                f"source action '{name}' already has a trigger; only one is allowed",
            )
        seen.add(name)
