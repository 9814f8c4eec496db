"""ListActionTypes: the action types Conveyor runs, in CodePipeline's ActionType shape."""

from __future__ import annotations

from typing import Any

from domain.catalogue import ProviderSpec, specs
from domain.errors import ValidationException

OWNERS = ("AWS", "ThirdParty", "Custom")

# The configuration each kind reads beyond what it requires (domain/catalogue.py): optional.
_OPTIONAL: dict[str, tuple[tuple[str, str], ...]] = {
    "git-source": (
        ("OutputArtifactFormat", "CODE_ZIP (the tree) or CODEBUILD_CLONE_REF (a full clone)"),
        ("PollForSourceChanges", "Accepted and ignored: Conveyor starts on request"),
    ),
    "s3-source": (("PollForSourceChanges", "Accepted and ignored: Conveyor starts on request"),),
    "codebuild": (
        ("ProjectName", "A name for the build; the buildspec comes from the input artifact"),
        ("PrimarySource", "The input artifact holding buildspec.yml (default: the first)"),
        ("EnvironmentVariables", "JSON list of {name, value, type}"),
        ("BuildSpec", "A buildspec path in the primary source, or inline YAML"),
    ),
    "s3-deploy": (
        ("Extract", "true: unpack the input into the bucket; false: upload it as ObjectKey"),
        ("ObjectKey", "The object key when Extract is false"),
    ),
    "manual-approval": (
        ("CustomData", "Text shown to the approver"),
        ("ExternalEntityLink", "A link shown to the approver"),
        ("NotificationArn", "Accepted and ignored: no notifications are sent"),
    ),
}
_SECRET = {"OAuthToken"}


def _required_properties(spec: ProviderSpec) -> list[dict[str, Any]]:
    properties = []
    for requirement in spec.required:
        single = len(requirement.alternatives) == 1 and not requirement.fields
        for keys in requirement.alternatives:
            for key in keys:
                what = f"Required: {requirement.what}" if single else requirement.describe()
                properties.append(_property(key, what[:160], required=single))
    return properties


def _property(name: str, description: str, *, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "required": required,
        "key": required,
        "secret": name in _SECRET,
        "queryable": False,
        "description": description,
        "type": "String",
    }


def action_type_document(spec: ProviderSpec) -> dict[str, Any]:
    """One built-in action type as ListActionTypes returns it."""
    properties = _required_properties(spec)
    properties += [
        _property(name, text, required=False) for name, text in _OPTIONAL.get(spec.kind, ())
    ]
    return {
        "id": {
            "category": spec.category,
            "owner": spec.owner,
            "provider": spec.provider,
            "version": "1",
        },
        "actionConfigurationProperties": properties,
        "inputArtifactDetails": {"minimumCount": spec.inputs[0], "maximumCount": spec.inputs[1]},
        "outputArtifactDetails": {
            "minimumCount": spec.outputs[0],
            "maximumCount": spec.outputs[1],
        },
    }


class ActionTypeQueries:
    """The catalogue as CodePipeline's API lists it; no store is read."""

    def list_action_types(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Every built-in action type (custom types are whatever a definition declares, so
        none is listed), optionally only those of one owner (actionOwnerFilter)."""
        if owner is not None and owner not in OWNERS:
            raise ValidationException(f"actionOwnerFilter '{owner}': one of " + ", ".join(OWNERS))
        return [action_type_document(s) for s in specs() if owner is None or s.owner == owner]
