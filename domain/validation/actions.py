"""Rules on one action: its type and provider, runOrder, configuration, artifacts and options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain import catalogue
from domain.validation import constraints as c
from domain.validation import jsontext
from domain.validation.checker import ActionView, Checker
from domain.validation.raw import integer, items, key, kind, obj, short
from domain.vocabulary import ActionCategory


def check_action(
    check: Checker,
    path: str,
    stage_index: int,
    stage_name: str,
    action_index: int,
    action: Mapping[str, Any],
) -> ActionView:
    """Checks one action and returns the view of it the pipeline-wide rules need."""
    name = action.get("name")
    check.text(f"{path}.name", name, c.name("an action name"))
    type_id = obj(action.get("actionTypeId"))
    category = type_id.get("category")
    run_order = integer(action.get("runOrder", 1))
    view = ActionView(
        path=path,
        stage_index=stage_index,
        stage_name=stage_name,
        name=name if isinstance(name, str) else f"#{action_index + 1}",
        category=ActionCategory(category) if category in catalogue.CATEGORIES else None,
        run_order=run_order if run_order is not None else 1,
        raw=action,
    )
    spec = _check_action_type(check, f"{path}.actionTypeId", type_id)
    lo, hi = c.RUN_ORDER_RANGE
    if run_order is not None and not lo <= run_order <= hi:
        check.add(
            f"{path}.runOrder",
            "action.runOrder.range",
            f"runOrder must be {lo}..{hi}, not {run_order}",
        )
    _check_configuration(check, f"{path}.configuration", action.get("configuration"))
    if spec is not None:
        _check_provider_configuration(check, view, spec)
    check.string_list(f"{path}.commands", action.get("commands"), c.COMMANDS)
    check.string_list(f"{path}.outputVariables", action.get("outputVariables"), c.OUTPUT_VARIABLES)
    _check_artifacts(check, view, spec)
    check.text(f"{path}.roleArn", action.get("roleArn"), c.ROLE_ARN)
    _check_region(check, view)
    _check_namespace(check, view)
    _check_timeout(check, path, action.get("timeoutInMinutes"))
    _check_environment(check, f"{path}.environmentVariables", action.get("environmentVariables"))
    return view


def _check_action_type(
    check: Checker, path: str, type_id: Mapping[str, Any]
) -> catalogue.ProviderSpec | None:
    category, owner, provider = (type_id.get(k) for k in ("category", "owner", "provider"))
    check.enum(f"{path}.category", category, catalogue.CATEGORIES)
    check.enum(f"{path}.owner", owner, catalogue.OWNERS)
    check.text(f"{path}.provider", provider, c.PROVIDER)
    check.text(f"{path}.version", type_id.get("version"), c.VERSION)
    if not (category in catalogue.CATEGORIES and owner in catalogue.OWNERS):
        return None
    if not isinstance(provider, str):
        return None
    spec = catalogue.lookup(category, owner, provider)
    if spec is None:
        check.add(
            f"{path}.provider",
            "action.provider-unknown",
            _unknown_provider(category, owner, provider),
        )
    return spec


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


def _check_artifacts(check: Checker, view: ActionView, spec: catalogue.ProviderSpec | None) -> None:
    """Each declared artifact's fields, then how many the action type takes."""
    for field_name, into in (("inputArtifacts", view.inputs), ("outputArtifacts", view.outputs)):
        declared = view.raw.get(field_name)
        for index, artifact in enumerate(items(declared)):
            here = f"{view.path}.{field_name}[{index}]"
            name = obj(artifact).get("name")
            check.text(f"{here}.name", name, c.ARTIFACT_NAME)
            if isinstance(name, str):
                into.append((here, name))
            check.string_list(f"{here}.files", obj(artifact).get("files"), c.FILES)
        if spec is not None and (declared is None or isinstance(declared, list)):
            _check_artifact_count(check, view, spec, field_name, len(items(declared)))


def _check_artifact_count(
    check: Checker, view: ActionView, spec: catalogue.ProviderSpec, field_name: str, count: int
) -> None:
    is_input = field_name == "inputArtifacts"
    lo, hi = spec.inputs if is_input else spec.outputs
    if lo <= count <= hi:
        return
    which = "input" if is_input else "output"
    wanted = f"{lo}" if lo == hi else f"{lo} to {hi}"
    check.add(
        f"{view.path}.{field_name}",
        "artifact.count",
        f"action '{view.name}' ({spec.category} {spec.provider}) takes {wanted} "
        f"{which} artifact{'s' if hi != 1 else ''}; it declares {count}",
    )


def _check_configuration(check: Checker, path: str, configuration: Any) -> None:
    for name, value in obj(configuration).items():
        here = f"{path}{key(str(name))}"
        if not 1 <= len(name) <= c.CONFIGURATION_KEY_MAX:
            check.add(
                here,
                "configuration.key-length",
                f"configuration key '{short(name)}' has {len(name)} characters; keys "
                f"have 1 to {c.CONFIGURATION_KEY_MAX}",
            )
        if isinstance(value, str) and not 1 <= len(value) <= c.CONFIGURATION_VALUE_MAX:
            check.add(
                here,
                "configuration.value-length",
                f"configuration value of '{short(name)}' has {len(value)} characters; "
                f"values have 1 to {c.CONFIGURATION_VALUE_MAX} (variable references "
                "count as written)",
            )


def _check_provider_configuration(
    check: Checker, view: ActionView, spec: catalogue.ProviderSpec
) -> None:
    """What the action type declares it needs (domain/catalogue.py), checked before it runs."""
    configuration = obj(view.raw.get("configuration"))
    for requirement in spec.required:
        if not requirement.met(configuration, view.raw):
            first = requirement.alternatives[0][0]
            check.add(
                f"{view.path}.configuration{key(first)}",
                "configuration.required",
                f"action '{view.name}' ({spec.category} {spec.provider}) needs "
                f"{requirement.describe()}",
            )
    for name in spec.environment_keys:
        value = configuration.get(name)
        if isinstance(value, str):
            _check_environment_json(check, f"{view.path}.configuration{key(name)}", name, value)


def _check_environment_json(check: Checker, path: str, name: str, text: str) -> None:
    rule = "configuration.environment-variables"
    shape = f"{name} must be a JSON array of {{name, value, type}} objects"
    try:
        entries = jsontext.loads(text)
    except jsontext.JsonTextError as error:
        check.add(path, rule, f"{shape}; {error.problems[0].message}")
        return
    if not isinstance(entries, list):
        check.add(path, rule, f"{shape}, not {kind(entries)}")
        return
    types = catalogue.ENVIRONMENT_VARIABLE_TYPES
    for index, entry in enumerate(entries):
        item = obj(entry)
        fault = None
        if not isinstance(entry, dict):
            fault = f"is {kind(entry)}, not an object"
        elif not (isinstance(item.get("name"), str) and item["name"].strip()):
            fault = "needs a 'name' string"
        elif not isinstance(item.get("value"), str):
            fault = "needs a 'value' string"
        elif item.get("type", "PLAINTEXT") not in types:
            fault = f"has type {short(str(item.get('type')))}; types are {', '.join(types)}"
        elif unknown := sorted(set(item) - {"name", "value", "type"}):
            fault = f"has unknown field '{short(str(unknown[0]))}'"
        if fault:
            check.add(path, rule, f"{shape}; entry {index} {fault}")


def _check_region(check: Checker, view: ActionView) -> None:
    """`aws codepipeline get-pipeline` writes the region on every action, the pipeline's own
    included; Conveyor runs in one region (the settings'), so only another one is refused."""
    region = view.raw.get("region")
    if not isinstance(region, str):
        return
    own = check.limits.region
    if not c.ACTION_REGION.low <= len(region) <= c.ACTION_REGION.high:
        check.text(f"{view.path}.region", region, c.ACTION_REGION)
    elif region != own:
        check.add(
            f"{view.path}.region",
            "region.other",
            f"an action runs in the pipeline's own region {own}, not {short(region)}: "
            "cross-region actions are not supported",
        )


def _check_namespace(check: Checker, view: ActionView) -> None:
    """The namespace's own form; records it on the view for the flow rules."""
    namespace = view.raw.get("namespace")
    if not isinstance(namespace, str):
        return
    path = f"{view.path}.namespace"
    check.text(path, namespace, c.NAMESPACE)
    if namespace in c.RESERVED_NAMESPACES:
        check.add(
            path,
            "namespace.reserved",
            f"namespace '{namespace}' is reserved; "
            f"{' and '.join(c.RESERVED_NAMESPACES)} cannot be action namespaces",
        )
    view.namespace = namespace


def _check_timeout(check: Checker, path: str, value: Any) -> None:
    # CodePipeline documents timeoutInMinutes for manual approvals only; Conveyor accepts it on
    # every action type because per-action timeouts are part of its design (docs/semantics.md).
    timeout = integer(value)
    lo, hi = c.TIMEOUT_RANGE
    if timeout is not None and not lo <= timeout <= hi:
        check.add(
            f"{path}.timeoutInMinutes",
            "timeoutInMinutes.range",
            f"timeoutInMinutes must be {lo}..{hi} (5 minutes to 60 days), not {timeout}",
        )


def _check_environment(check: Checker, path: str, variables: Any) -> None:
    if not isinstance(variables, list):
        return
    most = c.ENVIRONMENT_VARIABLES_MAX
    if not 1 <= len(variables) <= most:
        check.add(
            path,
            "environmentVariables.count",
            f"environmentVariables holds 1 to {most} entries; it has {len(variables)}",
        )
    for index, variable in enumerate(variables):
        item, here = obj(variable), f"{path}[{index}]"
        check.text(f"{here}.name", item.get("name"), c.ENVIRONMENT_NAME)
        check.text(f"{here}.value", item.get("value"), c.ENVIRONMENT_VALUE)
        check.enum(f"{here}.type", item.get("type"), c.ENVIRONMENT_TYPES)
