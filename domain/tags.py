"""Tag rules (CodePipeline's Tag shape and limits) and the pipeline ARN a tag request names."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import (
    InvalidArnException,
    InvalidTagsException,
    TooManyTagsException,
    ValidationException,
)

# CodePipeline: at most 50 tags per resource; keys 1..128 characters, values 0..256.
MAX_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
RESERVED_PREFIX = "aws:"

# arn:PARTITION:codepipeline:REGION:ACCOUNT:NAME. Region and account are not checked against
# the workspace's: a store holds one account's pipelines, and the name alone finds one.
_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:codepipeline:([^:]*):([^:]*):([A-Za-z0-9.@\-_]{1,100})")


def pipeline_name_of(resource_arn: str) -> str:
    """The pipeline name an ARN names; refuses anything that is not a pipeline's ARN."""
    found = _ARN.fullmatch(resource_arn) if isinstance(resource_arn, str) else None
    if found is None:
        raise InvalidArnException(
            f"resourceArn '{resource_arn}': not a pipeline ARN "
            "(arn:aws:codepipeline:REGION:ACCOUNT:PIPELINE-NAME)"
        )
    return found.group(3)


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY:
        raise ValidationException(f"{where}: a tag key is 1..{MAX_KEY} characters")
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidTagsException(
            f"{where} '{key}': keys starting with '{RESERVED_PREFIX}' are reserved for AWS"
        )
    return key


def check_tags(tags: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """A request's tags as key → value, in order; refuses a bad key or value or a repeated key."""
    checked: dict[str, str] = {}
    for index, tag in enumerate(tags):
        key = _check_key(tag.get("key"), f"tags[{index}].key")
        value = tag.get("value")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise ValidationException(
                f"tags[{index}].value: a tag value is 0..{MAX_VALUE} characters"
            )
        if key in checked:
            raise InvalidTagsException(f"tags[{index}].key '{key}': given twice in one request")
        checked[key] = value
    return checked


def check_tag_keys(keys: Sequence[Any]) -> list[str]:
    """UntagResource's keys: each a valid, unreserved key, none repeated."""
    checked: list[str] = []
    for index, key in enumerate(keys):
        checked_key = _check_key(key, f"tagKeys[{index}]")
        if checked_key in checked:
            raise InvalidTagsException(f"tagKeys[{index}] '{key}': given twice in one request")
        checked.append(checked_key)
    return checked


def merged_tags(current: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    """The tags after adding (a key already present takes the new value); refuses past 50."""
    merged = {**current, **added}
    if len(merged) > MAX_TAGS:
        raise TooManyTagsException(
            f"tags: the pipeline would have {len(merged)} tags; the limit is {MAX_TAGS}"
        )
    return merged


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """CodePipeline's `[{key, value}]` shape."""
    return [{"key": key, "value": value} for key, value in tags.items()]
