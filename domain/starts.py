"""What a StartPipelineExecution may ask for beyond variables: an idempotency token, revisions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from domain.catalogue import lookup
from domain.errors import ValidationException
from domain.vocabulary import ActionCategory

if TYPE_CHECKING:
    from domain.definition import PipelineDeclaration

_TOKEN = re.compile(r"[a-zA-Z0-9-]{1,128}")

# CodePipeline's SourceRevisionType, and the ones each local source kind can honour: a git
# source checks out a commit; a local bucket keeps one version of an object, so it can take
# another key but not an older version; no source here reads container images.
REVISION_TYPES = ("COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY")
SUPPORTED: dict[str, tuple[str, ...]] = {
    "git-source": ("COMMIT_ID",),
    "s3-source": ("S3_OBJECT_KEY",),
}
MAX_OVERRIDES = 50
MAX_VALUE = 1500
# A full commit id: SHA-1 (40 hex digits) or SHA-256 (64). Never an abbreviation or a ref
# name, which git could read another way.
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def check_client_request_token(token: str | None) -> str | None:
    """clientRequestToken: 1..128 letters, digits and hyphens (None when not given)."""
    if token is None:
        return None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValidationException(
            "clientRequestToken: 1..128 characters of letters, digits and hyphens"
        )
    return token


def _field(override: Mapping[str, Any], name: str, where: str) -> str:
    value = override.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationException(f"{where}.{name}: required, a non-empty string")
    return value


def _check_value(revision_type: str, value: str, where: str) -> None:
    if len(value) > MAX_VALUE:
        raise ValidationException(f"{where}.revisionValue: at most {MAX_VALUE} characters")
    if revision_type == "COMMIT_ID" and not COMMIT_ID.fullmatch(value):
        raise ValidationException(
            f"{where}.revisionValue '{value}': a COMMIT_ID is a full commit id "
            "(40 or 64 lowercase hex digits)"
        )
    if revision_type == "S3_OBJECT_KEY" and (value.startswith("/") or ".." in value.split("/")):
        raise ValidationException(
            f"{where}.revisionValue '{value}': an S3_OBJECT_KEY is a relative path in its bucket"
        )


def _check_one(
    override: Mapping[str, Any], index: int, declaration: PipelineDeclaration
) -> dict[str, str]:
    where = f"sourceRevisions[{index}]"
    if not isinstance(override, Mapping):
        raise ValidationException(f"{where}: an object {{actionName, revisionType, revisionValue}}")
    name = _field(override, "actionName", where)
    revision_type = _field(override, "revisionType", where)
    value = _field(override, "revisionValue", where)
    if revision_type not in REVISION_TYPES:
        raise ValidationException(
            f"{where}.revisionType '{revision_type}': one of " + ", ".join(REVISION_TYPES)
        )
    sources = {a.name: a for a in declaration.stages[0].actions}
    action = sources.get(name)
    if action is None or action.category != ActionCategory.SOURCE:
        raise ValidationException(
            f"{where}.actionName '{name}': not a source action of pipeline "
            f"'{declaration.name}'; its source actions are " + ", ".join(sorted(sources))
        )
    spec = lookup(action.category, action.owner, action.provider)
    kind = spec.kind if spec else "custom"
    if revision_type not in SUPPORTED.get(kind, ()):
        allowed = ", ".join(SUPPORTED.get(kind, ())) or "none"
        raise ValidationException(
            f"{where}.revisionType '{revision_type}': the {action.provider} source "
            f"'{name}' cannot run one (it takes: {allowed})"
        )
    _check_value(revision_type, value, where)
    return {"actionName": name, "revisionType": revision_type, "revisionValue": value}


def check_source_revisions(
    overrides: Sequence[Mapping[str, Any]], declaration: PipelineDeclaration
) -> list[dict[str, str]]:
    """sourceRevisions: at most 50, each naming a source action once, with a type it runs."""
    if len(overrides) > MAX_OVERRIDES:
        raise ValidationException(f"sourceRevisions: at most {MAX_OVERRIDES} items")
    checked: list[dict[str, str]] = []
    for index, override in enumerate(overrides):
        one = _check_one(override, index, declaration)
        if any(c["actionName"] == one["actionName"] for c in checked):
            raise ValidationException(
                f"sourceRevisions[{index}].actionName '{one['actionName']}': given twice"
            )
        checked.append(one)
    return checked
